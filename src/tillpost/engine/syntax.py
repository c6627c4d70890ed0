"""Rule file text → statements: the parser of the rule language.

The grammar is `grammar/rules.lark` (Lark LALR, strict). This module turns the
parse tree into plain statement records whose every word carries its position,
so the compiler can point at the exact token a problem is about.

A syntax error does not stop the parse: the broken statement is reported and
blanked out, and parsing resumes at the next line that starts a statement, so
all syntax errors of a file come in one run.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import NamedTuple
from functools import lru_cache
from importlib import resources

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .diagnostics import Diagnostics, Position

STATEMENT_KEYWORDS = (
    "client", "currency", "counter", "group", "describe", "journal", "account", "vat",
    "method", "attribute", "include", "target", "source", "when",
)

# What a terminal is called in a message: "expected a name", never "expected NAME".
TERMINAL_WORDS = {
    "NAME": "a name",
    "STRING": 'a quoted string ("…")',
    "NUMBER": "a number",
    "RATE": "a VAT rate such as 21%",
    "ARROW": "'->'",
    "EQ": "'='",
    "COMMA": "','",
    "LPAREN": "'('",
    "RPAREN": "')'",
    "$END": "the end of the file",
}
MAX_SYNTAX_ERRORS = 50


class Word(NamedTuple):
    """One token of a statement: its text (quotes removed from strings) and where it stands."""

    text: str
    file: str
    line: int
    col: int
    width: int
    quoted: bool = False

    @property
    def pos(self) -> Position:
        return Position(self.file, self.line, self.col, self.width)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Statement:
    """One statement: its keyword and its words by role (see `_ROLES`)."""

    keyword: Word
    words: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.keyword.text

    @property
    def pos(self) -> Position:
        return self.keyword.pos

    def __getitem__(self, role: str):
        return self.words[role]

    def get(self, role: str, default=None):
        return self.words.get(role, default)


@dataclass(frozen=True)
class Condition:
    attr: Word
    values: tuple[Word, ...]
    is_in: bool  # written as `attr in (…)` rather than `attr=value`


class _Builder:
    """Builds statements while Lark parses (an inline transformer: no parse tree first).

    Each method gets the children of one grammar rule: tokens, and what the methods
    of its sub-rules returned.
    """

    file = "<rules>"

    def word(self, tok: Token) -> Word:
        if tok.type == "STRING":
            return _tuple_new(Word, (_unquote(tok.value), self.file, tok.line, tok.column, len(tok.value), True))
        return _tuple_new(Word, (tok.value, self.file, tok.line, tok.column, len(tok.value), False))

    def start(self, children):
        return children

    def post(self, children):
        w = self.word
        return {"action": w(children[0]), "journal": w(children[1]), "debit": w(children[2]),
                "credit": w(children[4])}

    def skip(self, children):
        return {"action": self.word(children[0])}

    def condition_eq(self, children):
        return Condition(self.word(children[0]), (self.word(children[2]),), False)

    def condition_in(self, children):
        w = self.word
        return Condition(w(children[0]), tuple(w(t) for t in children[3:-1:2]), True)

    def rule(self, children):
        w = self.word
        words = {"kind": w(children[1])}
        conditions = []
        for child in children[2:]:
            if type(child) is dict:
                words.update(child)
            else:
                conditions.append(child)
        words["conditions"] = tuple(conditions)
        return Statement(w(children[0]), words)

    def _generic(self, kind: str, children) -> Statement:
        return _statement(kind, children, self)


_tuple_new = tuple.__new__
for _name in ("client", "currency", "counter", "group", "describe", "journal", "account", "vat",
              "method", "attribute", "include", "target", "source"):
    setattr(_Builder, _name, lambda self, children, _n=_name: self._generic(_n, children))
_BUILDER = _Builder()
_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def parser() -> Lark:
    grammar = resources.files("tillpost.grammar").joinpath("rules.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", strict=True, maybe_placeholders=False, transformer=_BUILDER)


def _unquote(raw: str) -> str:
    inner = raw[1:-1]
    return re.sub(r"\\(.)", r"\1", inner) if "\\" in inner else inner


# Which child token of each statement plays which role, by position after the keyword.
_ROLES = {
    "client": ("name",),
    "currency": ("code",),
    "counter": (None, "debtor"),
    "describe": ("mode", "template"),
    "attribute": ("name",),
    "include": ("path",),
    "target": ("target", "setting", "value"),
    "source": ("source", "what", "value", None, "name"),
}


def _statement(kind: str, toks: list, builder: _Builder) -> Statement:
    """A declaration statement from its tokens (rules have their own builder method)."""
    word = builder.word
    kw = word(toks[0])
    rest = toks[1:]
    words: dict = {}
    if kind in _ROLES:
        for role, tok in zip(_ROLES[kind], rest):
            if role:
                words[role] = word(tok)
    elif kind == "group":
        words["what"] = word(rest[0])
        words["fields"] = tuple(word(t) for t in rest[2:] if t.type == "NAME")
    elif kind == "journal":
        words["name"], words["type"] = word(rest[0]), word(rest[1])
        if len(rest) > 2:
            words["description"] = word(rest[2])
    elif kind == "account":
        words["name"], words["number"] = word(rest[0]), word(rest[1])
        for tok in rest[2:]:
            words["description" if tok.type == "STRING" else "debtors"] = word(tok)
    elif kind == "vat":
        words["name"], words["rate"] = word(rest[0]), word(rest[1])
        if len(rest) > 3:
            words["code"] = word(rest[3])
    elif kind == "method":
        words["name"], words["mode"] = word(rest[0]), word(rest[1])
        tail = rest[2:]
        if tail and tail[0].type == "DEBTOR":
            words["debtor"] = word(tail[1])
            tail = tail[2:]
        if tail:  # WITH NAME (COMMA NAME)*
            words["with"] = word(tail[0])
            words["mixed"] = tuple(word(t) for t in tail[1:] if t.type == "NAME")
    return Statement(kw, words)


def _expected(terminals) -> str:
    names = set(terminals)
    keywords = sorted(n.lower() for n in names if n.lower() in STATEMENT_KEYWORDS)
    described = []
    if len(keywords) > 3:
        described.append("a statement (" + ", ".join(keywords) + ")")
        names -= {k.upper() for k in keywords}
        names.discard("$END")
    for n in sorted(names):
        described.append(TERMINAL_WORDS.get(n, f"'{n.lower()}'"))
    if not described:
        return ""
    if len(described) == 1:
        return described[0]
    return ", ".join(described[:-1]) + " or " + described[-1]


def _syntax_message(e: UnexpectedInput, text: str) -> tuple[str, int]:
    """The message for a syntax error and the width of the offending token."""
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            return f"unexpected end of file; expected {_expected(e.expected)}", 1
        shown = tok.value if len(tok.value) <= 40 else tok.value[:37] + "…"
        return f"unexpected '{shown}'; expected {_expected(e.expected)}", max(1, len(tok.value))
    if isinstance(e, UnexpectedCharacters):
        rest = text[e.pos_in_stream:]
        m = re.match(r'"[^"\n]*$|"[^"\n]*\n', rest)
        if m and rest.startswith('"'):
            return "unterminated string: a quoted string must end on the same line", 1
        word = re.match(r"\S+", rest)
        shown = word.group(0) if word else rest[:1]
        shown = shown if len(shown) <= 40 else shown[:37] + "…"
        expected = _expected(e.allowed or ())
        return f"unexpected '{shown}'" + (f"; expected {expected}" if expected else ""), max(1, len(shown))
    if isinstance(e, UnexpectedEOF):
        return f"unexpected end of file; expected {_expected(e.expected)}", 1
    return str(e), 1


_STATEMENT_START = re.compile(r"[ \t]*(" + "|".join(STATEMENT_KEYWORDS) + r")\b")


def _blank(text: str, start_line: int, end_line: int) -> str:
    """Replace lines start_line..end_line-1 (1-based) by empty lines, keeping line numbers."""
    lines = text.split("\n")
    for i in range(start_line - 1, min(end_line - 1, len(lines))):
        lines[i] = ""
    return "\n".join(lines)


def parse(text: str, file: str, diagnostics: Diagnostics) -> list[Statement]:
    """Parse one rule file; syntax errors go to `diagnostics`, the good statements come back."""
    diagnostics.add_source(file, text)
    lines = text.split("\n")
    starts = [i + 1 for i, line in enumerate(lines) if _STATEMENT_START.match(line)]
    work = text
    for _ in range(MAX_SYNTAX_ERRORS):
        try:
            with _LOCK:  # the builder knows which file it builds for
                _BUILDER.file = file
                statements = parser().parse(work)
        except UnexpectedInput as e:
            message, width = _syntax_message(e, work)
            line, col = e.line if e.line > 0 else len(lines), e.column if e.column > 0 else 1
            diagnostics.error(Position(file, line, col, width), message)
            # The broken statement began at the last statement start before the error
            # (strictly before it when the offending token is itself a fresh statement).
            at_line_start = not lines[line - 1][: col - 1].strip() if line - 1 < len(lines) else True
            before = [s for s in starts if s < line or (s == line and not at_line_start)]
            first = before[-1] if before else 1
            after = [s for s in starts if s > line or (s == line and at_line_start and first != line)]
            resume = after[0] if after else len(lines) + 1
            work = _blank(work, first, resume)
            continue
        return statements
    diagnostics.error(Position(file, 1, 1), f"too many syntax errors; stopped after {MAX_SYNTAX_ERRORS}")
    return []
