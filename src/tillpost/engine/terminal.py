"""What tillpost shows a person on a terminal: text from receipts and rule files, made harmless.

Receipt ids, descriptions and names come from tills and exports; the JSON output
escapes whatever they hold, but a table or a message on stderr goes to a terminal
as it is, where an escape sequence (`\u001b]0;…\u0007`) retitles the window or
moves the cursor. Everything printed for a person passes through `printable`.
"""

from __future__ import annotations

import re

# Control characters (C0 but the tab, DEL, C1), and the bidirectional overrides that can make
# text read other than it is: a receipt id must never move the cursor, retitle a terminal or
# start a line of its own.
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """Text as it may be shown to a person on a terminal: control characters escaped (\\x1b)."""
    if text.isascii() and (text.isprintable() or _UNPRINTABLE.search(text) is None):
        return text
    return _UNPRINTABLE.sub(_escape_one, text)


def _escape_one(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable_lines(text: str) -> str:
    """Text of several lines for a person: each line shown, never obeyed; ends with a newline."""
    return "".join(printable(line) + "\n" for line in text.splitlines())
