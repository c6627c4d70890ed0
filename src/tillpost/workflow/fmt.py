"""`tillpost fmt`: rule files in one canonical layout.

The layout: one statement a line; single spaces between words, except that
statements of one kind within a block (lines not separated by a blank line)
have their words aligned in columns, VAT rates right-aligned; trailing
comments of a block start in one column; one blank line between blocks; the
file ends with one newline. Comments are kept word for word (only trailing
whitespace goes); a comment that stood inside a statement spread over lines
moves to the line above it.

Formatting only moves whitespace. `format_text` proves it: the formatted text
must lex to the same tokens and comments as the original, else it refuses
(`FormatError`). A file that does not parse is never rewritten.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from ..engine.diagnostics import Diagnostics
from ..engine.syntax import cached_lark, parse

TRAILING_GAP = 2  # spaces between a statement and its trailing comment


class FormatError(Exception):
    """The text cannot be formatted: it does not parse (`diagnostics`), or formatting would change it."""

    def __init__(self, message: str, diagnostics: Diagnostics | None = None):
        super().__init__(message)
        self.diagnostics = diagnostics


@lru_cache(maxsize=1)
def _grammar() -> str:
    return resources.files("tillpost.grammar").joinpath("rules.lark").read_text(encoding="utf-8")


_sink = threading.local()  # the comments of the text being parsed, per thread


def _collect(comment: Token) -> Token:
    _sink.comments.append(comment)
    return comment


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return cached_lark("fmt-parser", propagate_positions=True, maybe_placeholders=False,
                       lexer_callbacks={"COMMENT": _collect})


def _parse_with_comments(text: str) -> tuple[Tree, list[Token]]:
    """The parse tree and the comments, which the grammar otherwise ignores."""
    _sink.comments = []
    tree = _parser().parse(text)
    return tree, _sink.comments


def _tokens(tree: Tree) -> list[Token]:
    return [t for t in tree.scan_values(lambda v: isinstance(v, Token))]


@dataclass
class _Statement:
    kind: str
    cells: list[str]  # the words, grouped into the columns they align in
    line: int
    end_line: int
    comment: str | None = None
    before: list[str] = field(default_factory=list)  # comments that stood inside it


def _cells(tree: Tree) -> list[str]:
    """A statement's columns. Most words are a column each; a rule's conditions are one."""
    kind = tree.data
    if kind == "rule":
        when, fact = tree.children[0], tree.children[1]
        conditions = [" ".join(_condition_words(c)) for c in tree.children if isinstance(c, Tree)
                      and c.data in ("condition_eq", "condition_in")]
        action = next(c for c in tree.children if isinstance(c, Tree) and c.data in ("post", "skip"))
        return [when.value, fact.value, " ".join(conditions)] + [t.value for t in action.children]
    toks = _tokens(tree)
    values = [t.value for t in toks]
    if kind == "group":
        return values[:3] + [", ".join(v for v in values[3:] if v != ",")]
    if kind in ("vat", "method") and len(values) > 3:
        # `with pin, cash`: a comma sticks to the word before it
        rest = "".join(("" if t.type == "COMMA" or i == 0 else " ") + t.value for i, t in enumerate(toks[3:]))
        return values[:3] + [rest]
    return values


def _condition_words(cond: Tree) -> list[str]:
    toks = [t.value for t in cond.children]
    if cond.data == "condition_eq":
        return ["".join(toks)]
    # attr in (a, b): a space after `in` and after each comma, none inside the parentheses
    attr, _in, *rest = toks
    inner = "".join(v + (" " if v == "," else "") for v in rest)
    return [f"{attr} in {inner}"]


def _statements(tree: Tree) -> list[_Statement]:
    out = []
    for st in tree.children:
        if isinstance(st, Tree):
            toks = _tokens(st)
            out.append(_Statement(st.data, _cells(st), toks[0].line, toks[-1].end_line))
    return out


# Items of the file in order: statements, standalone comments ("# …") and block breaks ("").
def _items(text: str, statements: list[_Statement], comments: list[Token]) -> list:
    lines = text.split("\n")
    events: list[tuple[int, int, object]] = [(s.line, 1, s) for s in statements]
    ends = {}
    for s in statements:
        ends[s.end_line] = s  # the last statement ending on a line takes its trailing comment
    for c in comments:
        body = c.value.rstrip()
        owner = ends.get(c.line)
        if owner is not None and owner.comment is None and owner.line <= c.line:
            owner.comment = body
            continue
        inside = next((s for s in statements if s.line <= c.line < s.end_line
                       or (s.line == c.line and s.end_line > c.line)), None)
        if inside is not None:
            inside.before.append(body)
        else:
            events.append((c.line, 0, body))
    events.sort(key=lambda e: (e[0], e[1]))
    items: list = []
    prev_end = None
    for line, _, item in events:
        if prev_end is not None and any(not lines[i - 1].strip() for i in range(prev_end + 1, line)):
            items.append("")
        items.append(item)
        prev_end = item.end_line if isinstance(item, _Statement) else line
    return items


def _render_block(block: list) -> list[str]:
    """Lines of one block: statements of one kind aligned, trailing comments in one column."""
    widths: dict[str, list[int]] = {}
    for item in block:
        if isinstance(item, _Statement):
            w = widths.setdefault(item.kind, [])
            # The last word of a line needs no padding, so it does not widen its column;
            # a VAT rate does, as rates are right-aligned.
            counted = item.cells if item.kind == "vat" else item.cells[:-1]
            for i, cell in enumerate(counted):
                if i >= len(w):
                    w.append(0)
                w[i] = max(w[i], len(cell))
    rendered: list[tuple[str, str | None]] = []
    for item in block:
        if isinstance(item, str):
            rendered.append((item, None))
            continue
        for c in item.before:
            rendered.append((c, None))
        w = widths[item.kind]
        parts = []
        for i, cell in enumerate(item.cells):
            last = i == len(item.cells) - 1
            if last:
                parts.append(cell)
            elif item.kind == "vat" and i == 2:
                parts.append(cell.rjust(w[i]))
            else:
                parts.append(cell.ljust(w[i]))
        rendered.append((" ".join(parts).rstrip(), item.comment))
    column = max((len(text) for text, comment in rendered if comment is not None), default=0) + TRAILING_GAP
    return [text if comment is None else text.ljust(column) + comment for text, comment in rendered]


def _layout(text: str) -> str:
    tree, comments = _parse_with_comments(text)
    items = _items(text, _statements(tree), comments)
    out: list[str] = []
    block: list = []
    for item in items + [""]:
        if item == "":
            if block:
                if out:
                    out.append("")
                out.extend(_render_block(block))
            block = []
        else:
            block.append(item)
    return "\n".join(out) + "\n" if out else ""


def _lexemes(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    tree, comments = _parse_with_comments(text)
    return [(t.type, t.value) for t in _tokens(tree)], [c.value.rstrip() for c in comments]


def format_text(text: str, file: str = "<rules>") -> str:
    """The canonical layout of a rule file's text; FormatError when it does not parse.
    A byte order mark is dropped: the canonical layout has none."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        formatted = _layout(text)
    except UnexpectedInput:
        diagnostics = Diagnostics()
        parse(text, file, diagnostics)
        raise FormatError(f"{file}: does not parse; not formatted", diagnostics) from None
    if _lexemes(formatted) != _lexemes(text):  # only whitespace may move
        raise FormatError(f"{file}: formatting would change its words or comments; left alone")
    return formatted
