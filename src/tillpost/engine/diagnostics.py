"""Diagnostics: what the compiler says about a rule file.

Every diagnostic points at one token: ``file:line:col: error: message``, then
the source line and a caret under the token, the way hledger and beancount
report a bad journal. Diagnostics are collected, never raised, so a consultant
sees every problem of a file in one run.

What is shown stays in proportion to the file: a message repeated in one file
is shown MAX_REPEATS times and then counted (one line says how many more there
were), and of a very long source line only the part around the caret is quoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

ERROR = "error"
WARNING = "warning"
MAX_REPEATS = 10  # times one message is shown per file; the rest are counted
SHOWN_LINE = 160  # characters of a long source line quoted around the caret
# Control characters shown as their pictures (NUL as ␀, ESC as ␛): one column each, so the caret
# stays under its word, and nothing in a rule file can steer the terminal it is shown on.
_VISIBLE = {**{i: 0x2400 + i for i in range(32)}, 127: 0x2421}


class Position(NamedTuple):
    """Where a token stands: a file, a 1-based line and column, and its width.

    A NamedTuple, not a dataclass: a rule file of 10,000 rules has 100,000 of them.
    """

    file: str
    line: int
    col: int
    width: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    pos: Position
    message: str
    source_line: str = ""

    def format(self) -> str:
        head = f"{self.pos}: {self.severity}: {self.message}".translate(_VISIBLE)
        if not self.source_line:
            return head
        line = self.source_line.rstrip("\n").expandtabs(1).translate(_VISIBLE)
        col = self.pos.col
        if len(line) > SHOWN_LINE:  # quote the part around the caret
            start = max(0, min(col - 1 - SHOWN_LINE // 2, len(line) - SHOWN_LINE))
            shown = line[start:start + SHOWN_LINE]
            col -= start
            if start:
                shown, col = "…" + shown, col + 1
            line = shown + ("…" if start + SHOWN_LINE < len(self.source_line) else "")
        caret = " " * (col - 1) + "^" * max(1, min(self.pos.width, len(line) - col + 1))
        return f"{head}\n    {line}\n    {caret}"

    def as_dict(self) -> dict:
        return {
            "file": self.pos.file,
            "line": self.pos.line,
            "column": self.pos.col,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass
class Diagnostics:
    """A collector: the sources it has read (to quote their lines) and what it found.

    `items` holds what is shown; `left_out` counts, per (file, severity, message), the
    repeats past MAX_REPEATS, which are not kept (a summary line per message says how many).
    """

    items: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, list[str]] = field(default_factory=dict)
    seen: dict[tuple, int] = field(default_factory=dict, repr=False)
    left_out: dict[tuple, list] = field(default_factory=dict, repr=False)  # key → [count, first position]

    def add_source(self, file: str, text: str) -> None:
        # Lines as the parser counts them: only \n ends a line (not \f or \u2028).
        self.sources[file] = text.split("\n")

    def _line(self, pos: Position) -> str:
        lines = self.sources.get(pos.file, [])
        return lines[pos.line - 1] if 0 < pos.line <= len(lines) else ""

    def _add(self, severity: str, pos: Position, message: str) -> None:
        key = (pos.file, severity, message)
        n = self.seen.get(key, 0) + 1
        self.seen[key] = n
        if n <= MAX_REPEATS:
            self.items.append(Diagnostic(severity, pos, message, self._line(pos)))
        elif key in self.left_out:
            self.left_out[key][0] += 1
        else:
            self.left_out[key] = [1, pos]

    def error(self, pos: Position, message: str) -> None:
        self._add(ERROR, pos, message)

    def warning(self, pos: Position, message: str) -> None:
        self._add(WARNING, pos, message)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == WARNING]

    def count(self, severity: str) -> int:
        """How many of a severity there are, those left out included."""
        shown = sum(1 for d in self.items if d.severity == severity)
        return shown + sum(n for (_, sev, _), (n, _) in self.left_out.items() if sev == severity)

    def _summaries(self) -> list[Diagnostic]:
        return [Diagnostic(severity, pos, f"{n} more like this in {file} not shown: {message}", self._line(pos))
                for (file, severity, message), (n, pos) in self.left_out.items()]

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items + self._summaries(), key=lambda d: (d.pos, d.severity))

    def format(self) -> str:
        return "\n".join(d.format() for d in self.sorted())


class RulesError(Exception):
    """Raised by the API when a rule file does not compile; carries all diagnostics."""

    def __init__(self, diagnostics: Diagnostics):
        self.diagnostics = diagnostics
        errors = diagnostics.errors
        super().__init__(f"{len(errors)} error(s) in the rules\n" + diagnostics.format())
