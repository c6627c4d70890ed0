"""Rule files on disk → statements: a client's rule file and what it includes.

Includes are read depth first, in place, and each file once: a chart included
through two paths (a diamond) is read the first time and skipped after, so the
work is linear in the files however they include each other. Whatever a path
holds — a NUL character, a symbolic link that loops, a folder, a file that is
not UTF-8, a chain of includes deeper than anyone writes — it becomes a
diagnostic at the include (or at the bad byte), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostics, Position
from .syntax import Statement, parse

MAX_INCLUDE_DEPTH = 64  # a client file includes a chart, which may include a shared part: 3 is a lot
_BOM = b"\xef\xbb\xbf"


@dataclass
class RuleFiles:
    """The statements of a rule file and its includes, in reading order."""

    statements: list[Statement] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # the files read, as shown in diagnostics
    unreadable: bool = False  # a file could not be read as text: compiling the rest would only add noise


def rules_root(path: Path) -> Path:
    """The client's rules folder, which includes may not leave.

    The nearest enclosing folder called `rules` (so `rules/acme/client.rules` may
    include `rules/common/rgs.rules`), else the rule file's own folder.
    """
    path = path.resolve()
    for parent in path.parents:
        if parent.name == "rules":
            return parent
    return path.parent


def decode_rules(data: bytes, shown: str, diagnostics: Diagnostics) -> str | None:
    """The text of a rule file, or None and a diagnostic at the first byte that is not UTF-8.

    A UTF-8 byte order mark (Windows editors write one) is no part of the text."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        line_start = data.rfind(b"\n", 0, e.start) + 1
        col = len(data[line_start:e.start].decode("utf-8", "replace")) + 1
        diagnostics.add_source(shown, data.decode("utf-8", "replace"))
        utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
        what = "it is UTF-16 text" if utf16 else f"byte 0x{data[e.start]:02x} here is no UTF-8"
        diagnostics.error(Position(shown, line, col),
                          f"the rule file is not UTF-8 text ({what}); save it as UTF-8")
        return None


def _include_problem(target: Path, root: Path, stack: tuple[Path, ...], written: str) -> str | None:
    """Why an include cannot be read (None when it can)."""
    if not target.is_relative_to(root):
        return f"include '{written}' is outside the client's rules folder {root}"
    if target in stack:
        chain = " -> ".join(p.name for p in (*stack, target)[stack.index(target):])
        return f"include cycle: {chain}"
    if len(stack) >= MAX_INCLUDE_DEPTH:
        return (f"include '{written}' nests includes more than {MAX_INCLUDE_DEPTH} files deep; "
                "include the shared files from the client's file instead")
    if target.is_dir():
        return f"include '{written}' is a folder, not a rule file"
    if not target.is_file():
        return f"include '{written}': no such file"
    return None


def _resolve(folder: Path, written: str) -> tuple[Path | None, str | None]:
    """The file an include names, or why it names none."""
    if "\0" in written:
        shown = written.replace("\0", "\\0")
        return None, f"include '{shown}': a path cannot contain a NUL character (\\0)"
    try:
        return (folder / written).resolve(), None
    except RuntimeError:  # Python says "Symlink loop"
        return None, f"include '{written}': a symbolic link on the way loops back on itself"
    except OSError as e:
        return None, f"include '{written}': {e.strerror or e}"


def read_statements(path: Path, diagnostics: Diagnostics, root: Path | None = None) -> RuleFiles:
    """Parse a rule file and, depth first in place, every file it includes (each once)."""
    root = (root or rules_root(path)).resolve()
    out = RuleFiles()
    seen: set[Path] = set()

    def visit(file: Path, shown: str, stack: tuple[Path, ...], at: Position | None) -> None:
        seen.add(file)
        try:
            data = file.read_bytes()
        except OSError as e:
            if at is None:
                raise
            diagnostics.error(at, f"include '{shown}' cannot be read: {e.strerror or e}")
            return
        text = decode_rules(data, shown, diagnostics)
        if text is None:
            out.unreadable = True
            return
        out.files.append(shown)
        for st in parse(text, shown, diagnostics):
            if st.kind != "include":
                out.statements.append(st)
                continue
            written, pos = st["path"].text, st["path"].pos
            target, problem = _resolve(file.parent, written)
            if problem is None:
                try:
                    problem = _include_problem(target, root, stack, written)
                except OSError as e:  # is_file() of a path the system refuses to look at
                    problem = f"include '{written}': {e.strerror or e}"
            if problem is not None:
                diagnostics.error(pos, problem)
            elif target not in seen:  # a file included again (a diamond) is read once
                visit(target, str(Path(shown).parent / written), (*stack, target), pos)

    start = path.resolve()
    visit(start, str(path), (start,), None)
    return out
