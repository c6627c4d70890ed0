"""Reading JSON text exactly and safely, whatever bytes arrive.

The fast decoders (msgspec, orjson) refuse what is not plain JSON; this is where
the rest is read, slowly and carefully, so that each oddity becomes a sentence
about one receipt or one place in the file instead of a crash:

- bytes that are not UTF-8 (a Windows-1252 export): the file's error, with the
  byte's line, column and offset; a UTF-8 byte order mark is skipped;
- `NaN` and `Infinity`, which JSON does not have: read as a `JsonConstant`, which is
  neither a number nor text, so whatever they stand in for is refused in words;
- integers too long for Python's int (4,301 digits and more): read as Decimal;
- nesting deeper than the decoders go: reported, never a RecursionError;
- a lone surrogate (`"\\ud800"`) in any text, which no output can encode: found
  here, so the receipt that holds it is refused before anything prints it.
"""

from __future__ import annotations

import codecs
import json
import re
from decimal import Decimal

from .terminal import printable

BOM = b"\xef\xbb\xbf"
_SURROGATE = re.compile("[\ud800-\udfff]")
_CHUNK = 1 << 20
# Python refuses to turn longer digit strings into an int (sys.get_int_max_str_digits).
_INT_DIGITS = 4000


def without_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(BOM) else data


def utf8_problem(data: bytes) -> tuple[int, int, int, str] | None:
    """(line, column, byte offset, words) of the first byte of `data` that is not UTF-8, or
    None when all of it is. Checked in chunks: a whole-file decode would cost a copy."""
    if data.isascii():
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(data), _CHUNK):
            decoder.decode(view[start:start + _CHUNK])
        decoder.decode(b"", True)
        return None
    except UnicodeDecodeError:
        pass
    try:
        data.decode("utf-8")
        return None  # pragma: no cover - the chunks said otherwise
    except UnicodeDecodeError as e:
        offset = e.start
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    column = offset - line_start + 1
    line_end = data.find(b"\n", offset)
    text = data[max(line_start, offset - 30):line_end if line_end != -1 and line_end - offset < 30 else offset + 30]
    guess = text.decode("cp1252", errors="replace").strip()
    words = (f"not UTF-8: byte 0x{data[offset]:02X} at byte offset {offset} is not valid UTF-8; save the file "
             f"as UTF-8 (read as Windows-1252 it says …{printable(guess)}…)")
    return line, column, offset, words


class JsonConstant:
    """`NaN`, `Infinity` or `-Infinity` as a JSON text wrote it: no amount, no text, nothing a
    receipt may hold; messages show it as written."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def _int(text: str):
    return int(text) if len(text) <= _INT_DIGITS else Decimal(text)


def decode_exact(text: bytes | str):
    """JSON text → Python objects, numbers with a fraction as Decimal, never a float.

    `NaN`, `Infinity` and `-Infinity` become a JsonConstant; over-long integers become
    Decimal. Raises json.JSONDecodeError, UnicodeDecodeError (bytes that are not
    UTF-8) or RecursionError (nesting deeper than Python's stack allows).
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = without_bom(bytes(text)).decode("utf-8")
    return json.loads(text, parse_float=Decimal, parse_int=_int, parse_constant=JsonConstant)


def lone_surrogates(obj) -> list[str]:
    """Where `obj` holds text with a lone surrogate: JSON paths such as `lines[0].description`."""
    found = []
    stack = [(obj, "")]
    while stack:
        value, path = stack.pop()
        if type(value) is str:
            if not value.isascii() and _SURROGATE.search(value):
                found.append(path or "the receipt")
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and not key.isascii() and _SURROGATE.search(key):
                    found.append(f"{path + '.' if path else ''}key {escaped(key)}")
                stack.append((item, f"{path}.{key}" if path else str(key)))
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                stack.append((item, f"{path}[{i}]"))
    return sorted(found)


def escaped(text: str) -> str:
    """Text with its lone surrogates written as \\udXXX: something every output can hold."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
