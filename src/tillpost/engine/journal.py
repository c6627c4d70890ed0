"""Entries → the canonical journal (SPEC §7) and a readable table.

The canonical JSON is the contract every target renders from: fixed key
order, amounts as decimal strings with the currency's decimals
(`schemas/journal.schema.json`).
"""

from __future__ import annotations

import io
from decimal import Decimal

import orjson

from .book import BookResult
from .entries import Entry
from .ruleset import RuleSet


def money(amount: Decimal, decimals: int) -> str:
    return str(amount.quantize(Decimal(1).scaleb(-decimals)))


def entry_dict(entry: Entry, decimals: int) -> dict:
    out = {
        "journal": entry.journal,
        "date": entry.date,
        "mode": entry.mode,
        "key": entry.key,
        "description": entry.description,
        "receipts": list(entry.receipts),
        "lines": [
            {"account": l.account, "debit": money(l.debit, decimals), "credit": money(l.credit, decimals),
             "debtor": l.debtor, "vat": l.vat}
            for l in entry.lines
        ],
    }
    if entry.closings:  # only when it holds any: the output of a day without closings is unchanged
        out["closings"] = list(entry.closings)
    return out


def canonical(result: BookResult, ruleset: RuleSet) -> dict:
    return {
        "entries": [entry_dict(e, ruleset.decimals) for e in result.entries],
        "errors": [{"receipt": e.receipt, "message": e.message} for e in result.errors]
        + [{"closing": e.closing, "message": e.message} for e in result.closing_errors],
        "open": list(result.open),
        "voided": list(result.voided),
    }


def to_json(result: BookResult, ruleset: RuleSet) -> str:
    return orjson.dumps(canonical(result, ruleset), option=orjson.OPT_INDENT_2).decode() + "\n"


def to_table(result: BookResult, ruleset: RuleSet, width: int = 100) -> str:
    """A per-entry view for a consultant: each entry a small table with account names."""
    from rich.console import Console
    from rich.table import Table

    names = {a.number: a.description for a in ruleset.accounts.values()}
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, highlight=False, soft_wrap=False)
    for e in result.entries:
        journal = ruleset.journals.get(e.journal)
        title = f"{e.journal} {journal.description if journal else ''} · {e.date} · {e.description}"
        table = Table(title=title, title_justify="left", show_footer=True, expand=False)
        table.add_column("account", footer="")
        table.add_column("name", footer="total")
        table.add_column("debtor")
        table.add_column("vat")
        table.add_column("debit", justify="right", footer=money(e.total, ruleset.decimals))
        table.add_column("credit", justify="right", footer=money(e.total, ruleset.decimals))
        for l in e.lines:
            table.add_row(l.account, names.get(l.account, ""), l.debtor or "", l.vat or "",
                          money(l.debit, ruleset.decimals) if l.debit else "",
                          money(l.credit, ruleset.decimals) if l.credit else "")
        console.print(table)
        receipts = ", ".join(e.receipts[:8]) + (f" … ({len(e.receipts)} receipts)" if len(e.receipts) > 8 else "")
        held = [f"  receipts: {receipts}"] if e.receipts or not e.closings else []
        if e.closings:
            held.append(f"  closings: {', '.join(e.closings)}")
        console.print("\n".join(held) + "\n")
    for err in result.errors:
        console.print(f"error {err.receipt}: {err.message}")
    for err in result.closing_errors:
        console.print(f"error closing {err.closing}: {err.message}")
    if result.open:
        console.print("open: " + ", ".join(result.open))
    if result.voided:
        console.print("voided: " + ", ".join(result.voided))
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"
