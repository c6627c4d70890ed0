"""Rule file text → statements: the parser of the rule language.

The grammar is `grammar/rules.lark` (Lark LALR, strict). This module turns the
parse tree into plain statement records whose every word carries its position,
so the compiler can point at the exact token a problem is about.

A syntax error does not stop the parse: the broken statement is reported once
and skipped, and parsing resumes at the next line that starts with a statement
keyword, so all syntax errors of a file come in one run, one per slip. The text
before an error is never parsed again: the cost stays linear in the file.

Building the LALR tables costs a third of a second, more than a whole command
on a small file, so the built parser is kept in the user's cache folder
(`$XDG_CACHE_HOME/tillpost`, else `~/.cache/tillpost`) and loaded from there;
when the folder cannot be written, the parser is built every time, and that is
all.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import NamedTuple
from functools import lru_cache
from importlib import resources
from pathlib import Path

import lark
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
    line_offset = 0  # the line the parsed text starts at, less one: parsing resumes mid-file
    done: list  # the statements finished so far, in order: what an error leaves standing

    def word(self, tok: Token) -> Word:
        line = tok.line + self.line_offset
        if tok.type == "STRING":
            return _tuple_new(Word, (_unquote(tok.value), self.file, line, tok.column, len(tok.value), True))
        return _tuple_new(Word, (tok.value, self.file, line, tok.column, len(tok.value), False))

    def start(self, children):
        return self.done

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
        st = Statement(w(children[0]), words)
        self.done.append(st)
        return st

    def _generic(self, kind: str, children) -> Statement:
        st = _statement(kind, children, self)
        self.done.append(st)
        return st


_tuple_new = tuple.__new__
for _name in ("client", "currency", "counter", "group", "describe", "journal", "account", "vat",
              "method", "attribute", "include", "target", "source"):
    setattr(_Builder, _name, lambda self, children, _n=_name: self._generic(_n, children))
_BUILDER = _Builder()
_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def grammar() -> str:
    return resources.files("tillpost.grammar").joinpath("rules.lark").read_text(encoding="utf-8")


def cache_folder() -> Path | None:
    """Where built parsers are kept: `$XDG_CACHE_HOME/tillpost`, else `~/.cache/tillpost`."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):  # no home folder to be found
            return None
    return Path(base) / "tillpost"


def cached_lark(name: str, **options) -> Lark:
    """The rule grammar's LALR parser with `options`, loaded from the cache folder when it was
    built before, else built (strict: the regex-collision check is what costs) and saved.

    The file name holds a hash of the grammar, Lark's and Python's version and the options,
    so a stale parser is never loaded; it is written under a temporary name and renamed, so
    a parser half written by a concurrent run is never read. Any failure to read or write
    the cache only means building the parser."""
    options = dict(parser="lalr", strict=True, **options)
    folder = cache_folder()
    if folder is None:
        return Lark(grammar(), **options)
    hashed = {k: v for k, v in options.items() if k not in ("transformer", "lexer_callbacks")}
    key = hashlib.sha256(repr((grammar(), lark.__version__, sys.version_info[:2], sorted(hashed.items())))
                         .encode("utf-8")).hexdigest()[:20]
    path = folder / f"{name}-{key}.lark"
    if path.is_file():
        return Lark(grammar(), cache=str(path), **options)  # a damaged file is rebuilt by Lark
    temporary = folder / f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Lark(grammar(), **options)
    built = Lark(grammar(), cache=str(temporary), **options)  # Lark saves it; a failure to save is no error
    try:
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
    return built


@lru_cache(maxsize=1)
def parser() -> Lark:
    return cached_lark("rules-parser", maybe_placeholders=False, transformer=_BUILDER)


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


def did_you_mean(word: str, choices) -> str | None:
    """The choice `word` is most likely a misspelling of, compared without regard to case."""
    by_lower: dict[str, str] = {}
    for c in choices:
        by_lower.setdefault(str(c).lower(), str(c))
    if word.lower() in by_lower:
        return by_lower[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return by_lower[close[0]] if close else None


# Every keyword of the language, statement keywords and the others (`post`, `debtors`, …).
KEYWORDS = STATEMENT_KEYWORDS + ("by", "debtors", "debtor", "code", "post", "skip", "in")
_STRING_START = re.compile(r'"[^"\n]*(\n|$)')
_WORD = re.compile(r"\S{1,41}")


def _shown(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "…"


def _syntax_message(e: UnexpectedInput, text: str) -> tuple[str, int]:
    """The message for a syntax error in `text` and the width of the offending token."""
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            return f"unexpected end of file; expected {_expected(e.expected)}", 1
        expected = e.expected
        bad, width = tok.value, max(1, len(tok.value))
    elif isinstance(e, UnexpectedCharacters):
        if _STRING_START.match(text, e.pos_in_stream):
            return "unterminated string: a quoted string must end on the same line", 1
        word = _WORD.match(text, e.pos_in_stream)
        bad = word.group(0) if word else text[e.pos_in_stream:e.pos_in_stream + 1]
        expected = e.allowed or ()
        width = max(1, len(_shown(bad)))
    elif isinstance(e, UnexpectedEOF):
        return f"unexpected end of file; expected {_expected(e.expected)}", 1
    else:
        return str(e), 1
    keywords = [n.lower() for n in expected if n.lower() in KEYWORDS]
    guess = did_you_mean(bad, keywords) if bad[:1].isalpha() else None
    if guess and guess != bad:
        return f"unexpected '{_shown(bad)}'; did you mean '{guess}'?", width
    described = _expected(expected)
    return f"unexpected '{_shown(bad)}'" + (f"; expected {described}" if described else ""), width


# A line that starts with a statement keyword: where parsing resumes after an error.
_STATEMENT_START = re.compile(r"^[ \t]*(" + "|".join(STATEMENT_KEYWORDS) + r")\b", re.M)
_BOM = "\ufeff"
MAX_CUT_OFF_TRIES = 10  # lines starting with a keyword inside one broken statement, tried as its end


class _Lines:
    """Where each line of a text starts, and the lines that start with a statement keyword."""

    def __init__(self, text: str):
        self.starts = [0]
        self.starts.extend(m.end() for m in re.finditer("\n", text))
        self.keywords = [(m.start(1), m.group(1)) for m in _STATEMENT_START.finditer(text)]
        self.keyword_offsets = [k for k, _ in self.keywords]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def offset(self, line: int, col: int = 1) -> int:
        return self.starts[line - 1] + col - 1

    def statements_between(self, begin: int, end: int) -> list[tuple[int, str]]:
        """(offset, keyword) of the statement keywords that start a line after offset `begin`,
        up to and including offset `end`."""
        lo = bisect.bisect_right(self.keyword_offsets, begin)
        hi = bisect.bisect_right(self.keyword_offsets, end)
        return self.keywords[lo:hi]

    def next_statement_line(self, line: int) -> int | None:
        """The first line after `line` that starts with a statement keyword."""
        i = bisect.bisect_left(self.keyword_offsets, self.starts[line] if line < len(self.starts) else 1 << 62)
        return self.line_of(self.keyword_offsets[i]) if i < len(self.keyword_offsets) else None


@dataclass
class _Slip:
    """A syntax error, placed in the whole text."""

    error: UnexpectedInput
    part: str  # the text that was being parsed
    line: int
    col: int
    offset: int
    complete: bool  # the statements before it are whole: the offending token starts a new one
    begin: int  # offset of the first token of the broken statement (the offending one when complete)
    previous: Word | None  # the token before the offending one, in the broken statement
    lines: _Lines


def _parse_part(text: str, start: int, lines: _Lines | None, file: str) -> tuple[list[Statement], _Slip | None]:
    """Parse text[start:] (start is a line start); the statements it finished and its first error."""
    part = text[start:] if start else text
    line_offset = lines.line_of(start) - 1 if start else 0
    with _LOCK:  # the builder knows which file it builds for
        _BUILDER.file, _BUILDER.line_offset, _BUILDER.done = file, line_offset, []
        try:
            parser().parse(part)
            return _BUILDER.done, None
        except UnexpectedInput as e:
            done = _BUILDER.done
            ip = getattr(e, "interactive_parser", None)
            complete = ip is not None and "$END" in ip.accepts()
            if complete:
                ip.copy().feed_eof()  # finishes the statement before the error: the builder adds it
            stack = [v for v in ip.parser_state.value_stack if isinstance(v, Token)] if ip is not None else []
            begin_tok = None if complete or not stack else stack[0]
            previous = _BUILDER.word(stack[-1]) if stack and not complete else None
            return done, _place(e, part, start, line_offset, complete, begin_tok, previous, lines or _Lines(text))


def _place(e, part, start, line_offset, complete, begin_tok, previous, lines: _Lines) -> _Slip:
    if e.line > 0:
        line, col = e.line + line_offset, max(1, e.column)
    else:  # the end of the text
        line, col = len(lines.starts), 1
    offset = lines.offset(line, col)
    begin = offset if begin_tok is None else lines.offset(begin_tok.line + line_offset, begin_tok.column)
    return _Slip(e, part, line, col, offset, complete, begin, previous, lines)


def _expected_after(text: str) -> str:
    """What a statement cut short as `text` needed next."""
    try:
        with _LOCK:
            _BUILDER.line_offset, _BUILDER.done = 0, []
            parser().parse(text)
    except UnexpectedInput as e:
        expected = getattr(e, "expected", None) or getattr(e, "allowed", None) or ()
        return _expected(expected)
    return ""


def parse(text: str, file: str, diagnostics: Diagnostics) -> list[Statement]:
    """Parse one rule file; syntax errors go to `diagnostics`, the good statements come back.

    A UTF-8 byte order mark at the start is no part of the text."""
    if text.startswith(_BOM):
        text = text[1:]
    diagnostics.add_source(file, text)
    statements, slip = _parse_part(text, 0, None, file)
    if slip is None:
        return statements
    lines = slip.lines
    for _ in range(MAX_SYNTAX_ERRORS):
        resume, cut_off = _recover(text, file, lines, slip, diagnostics)
        if cut_off is not None:
            done, slip = cut_off
        elif resume is None:
            return statements
        else:
            done, slip = _parse_part(text, lines.offset(resume), lines, file)
        statements.extend(done)
        if slip is None:
            return statements
    diagnostics.error(Position(file, 1, 1), f"too many syntax errors; stopped after {MAX_SYNTAX_ERRORS}")
    return []


def _recover(text: str, file: str, lines: _Lines, slip: _Slip, diagnostics: Diagnostics):
    """Report one slip. Returns (the line to resume parsing at, or None), or the parse that
    already resumed — (statements, next slip) — when the broken statement was cut off by the
    next statement."""
    e = slip.error
    at_end = isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END")
    if not slip.complete and not at_end:
        for kw_offset, keyword in lines.statements_between(slip.begin, slip.offset)[:MAX_CUT_OFF_TRIES]:
            kw_line = lines.line_of(kw_offset)
            if kw_offset == slip.offset:  # the offending token itself starts the next statement
                break
            # A line starting with a keyword inside the broken statement: either the statement
            # was cut short there (`when sale post` and the next rule), or the keyword is a name
            # in it (`vat=low` on a line of its own). If parsing from that line gets further than
            # the error did, it starts a statement.
            done, next_slip = _parse_part(text, lines.offset(kw_line), lines, file)
            if next_slip is None or next_slip.offset > slip.offset:
                expected = _expected_after(text[slip.begin:kw_offset])
                col = kw_offset - lines.starts[kw_line - 1] + 1
                diagnostics.error(Position(file, kw_line, col, len(keyword)),
                                  f"unexpected '{keyword}'" + (f"; expected {expected}" if expected else ""))
                return None, (done, next_slip)
    _report(slip, file, diagnostics)
    if at_end:
        return None, None
    first_kw = lines.statements_between(slip.begin, slip.offset)
    if first_kw and first_kw[-1][0] == slip.offset and not slip.complete:
        return lines.line_of(slip.offset), None  # resume at the statement that cut this one off
    return lines.next_statement_line(slip.line), None


def _report(slip: _Slip, file: str, diagnostics: Diagnostics) -> None:
    e = slip.error
    prev = slip.previous
    expected = set(getattr(e, "expected", None) or ())
    if prev is not None and expected and expected <= {"EQ", "IN"}:
        # `when sale pst VRK …`: the misspelt keyword was read as a condition's attribute.
        guess = did_you_mean(prev.text, ("post", "skip"))
        if guess and guess != prev.text:
            diagnostics.error(prev.pos, f"'{_shown(prev.text)}' is not a condition (attribute=value); "
                                        f"did you mean '{guess}'?")
            return
    message, width = _syntax_message(e, slip.part)
    diagnostics.error(Position(file, slip.line, slip.col, width), message)
