"""Diagnostics: what the compiler says about a rule file.

Every diagnostic points at one token: ``file:line:col: error: message``, then
the source line and a caret under the token, the way hledger and beancount
report a bad journal. Diagnostics are collected, never raised, so a consultant
sees every problem of a file in one run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

ERROR = "error"
WARNING = "warning"


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
        head = f"{self.pos}: {self.severity}: {self.message}"
        if not self.source_line:
            return head
        line = self.source_line.rstrip("\n").expandtabs(1)
        caret = " " * (self.pos.col - 1) + "^" * max(1, min(self.pos.width, len(line) - self.pos.col + 1))
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
    """A collector: the sources it has read (to quote their lines) and what it found."""

    items: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, list[str]] = field(default_factory=dict)

    def add_source(self, file: str, text: str) -> None:
        self.sources[file] = text.splitlines()

    def _line(self, pos: Position) -> str:
        lines = self.sources.get(pos.file, [])
        return lines[pos.line - 1] if 0 < pos.line <= len(lines) else ""

    def error(self, pos: Position, message: str) -> None:
        self.items.append(Diagnostic(ERROR, pos, message, self._line(pos)))

    def warning(self, pos: Position, message: str) -> None:
        self.items.append(Diagnostic(WARNING, pos, message, self._line(pos)))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == WARNING]

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.pos, d.severity))

    def format(self) -> str:
        return "\n".join(d.format() for d in self.sorted())


class RulesError(Exception):
    """Raised by the API when a rule file does not compile; carries all diagnostics."""

    def __init__(self, diagnostics: Diagnostics):
        self.diagnostics = diagnostics
        errors = diagnostics.errors
        super().__init__(f"{len(errors)} error(s) in the rules\n" + diagnostics.format())
