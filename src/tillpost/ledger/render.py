"""A run's output: the canonical JSON of what it books, or the readable tables of `tillpost book`."""

from __future__ import annotations

from decimal import Decimal

import orjson

from ..engine.book import BookResult
from ..engine.entries import Entry, EntryLine
from ..engine.journal import to_table
from ..engine.postings import ReceiptError
from ..engine.ruleset import RuleSet
from .process import RunResult


def entry_from_dict(e: dict, description: str | None = None) -> Entry:
    lines = tuple(EntryLine(l["account"], Decimal(l["debit"]), Decimal(l["credit"]), l["debtor"], l["vat"])
                  for l in e["lines"])
    return Entry(e["journal"], e["date"], e["mode"], e["key"], description or e["description"],
                 tuple(e["receipts"]), lines)


def render(result: RunResult, ruleset: RuleSet, fmt: str) -> str:
    if fmt == "json":
        return orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"
    receipts = result.receipts()
    book = BookResult(
        entries=[entry_from_dict(e, f"#{e['id']} {e['description']}") for e in result.entries],
        errors=[ReceiptError(x["receipt"], x["message"]) for x in receipts["error"]],
        open=receipts["open"], voided=receipts["voided"])
    text = to_table(book, ruleset)
    for status in ("late", "changed"):
        if receipts[status]:
            text += f"{status}: " + ", ".join(receipts[status]) + "\n"
    return text
