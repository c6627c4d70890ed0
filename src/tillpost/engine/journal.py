"""Entries → the canonical journal (SPEC §7) and a readable table.

The canonical JSON is the contract every target renders from: fixed key
order, amounts as decimal strings with the currency's decimals
(`schemas/journal.schema.json`).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal

import orjson

from .book import BookResult
from .entries import ZERO, Entry
from .exact import EXACT
from .gcpause import gc_paused
from .ruleset import RuleSet
from .terminal import printable


_QUANTA = {decimals: Decimal(1).scaleb(-decimals) for decimals in range(9)}


def money(amount: Decimal, decimals: int) -> str:
    # EXACT: an amount with more decimals than the currency is refused, never rounded here.
    quantum = _QUANTA.get(decimals) or Decimal(1).scaleb(-decimals)
    return str(amount.quantize(quantum, None, EXACT))


def entry_lines(entry: Entry, decimals: int) -> list[tuple]:
    """The entry's lines as (account, debit, credit, debtor, vat), amounts as `money` writes them."""
    quantum = _QUANTA.get(decimals) or Decimal(1).scaleb(-decimals)
    zero = money(ZERO, decimals)
    # money() inline: this runs for every line of the day, and one side of each is the
    # engine's own ZERO (entries.py), whose text is known.
    return [(l.account, zero if l.debit is ZERO else str(l.debit.quantize(quantum, None, EXACT)),
             zero if l.credit is ZERO else str(l.credit.quantize(quantum, None, EXACT)), l.debtor, l.vat)
            for l in entry.lines]


def entry_dict(entry: Entry, decimals: int) -> dict:
    return entry_fields(entry.journal, entry.date, entry.mode, entry.key, entry.description, entry.receipts,
                        entry_lines(entry, decimals), entry.closings)


def entry_fields(journal: str, date: str, mode: str, key: str, description: str, receipts, lines, closings) -> dict:
    """The canonical entry of its fields, `lines` as `entry_lines` gives them (the ledger keeps
    an entry's fields, not the Entry, until it is numbered)."""
    out = {
        "journal": journal,
        "date": date,
        "mode": mode,
        "key": key,
        "description": description,
        "receipts": list(receipts),
        "lines": [{"account": account, "debit": debit, "credit": credit, "debtor": debtor, "vat": vat}
                  for account, debit, credit, debtor, vat in lines],
    }
    if closings:  # only when it holds any: the output of a day without closings is unchanged
        out["closings"] = list(closings)
    return out


def _tail(result: BookResult) -> dict:
    return {
        "errors": [{"receipt": e.receipt, "message": e.message} for e in result.errors]
        + [{"closing": e.closing, "message": e.message} for e in result.closing_errors],
        "open": list(result.open),
        "voided": list(result.voided),
    }


def canonical(result: BookResult, ruleset: RuleSet) -> dict:
    with gc_paused():
        return {"entries": [entry_dict(e, ruleset.decimals) for e in result.entries], **_tail(result)}


def to_json(result: BookResult, ruleset: RuleSet) -> str:
    return "".join(iter_json(result, ruleset))


# Entries per chunk of iter_json: large enough that orjson does the work, small enough
# that a chunk stays a few hundred kilobytes.
_CHUNK = 500


def iter_json(result: BookResult, ruleset: RuleSet) -> Iterator[str]:
    """The canonical JSON of `to_json`, in chunks of text that add up to it exactly.

    A day's journal can be tens of megabytes; written chunk by chunk, it is never held
    whole (nor the dicts it is made of). Each chunk of entries is orjson's own output
    for a list of them, moved one level in (`"entries"` sits in the top object): JSON
    text holds no raw newline inside a string, so every newline starts a line to indent.
    """
    with gc_paused():  # millions of small dicts and strings, none of them in a cycle (engine/gcpause.py)
        entries = result.entries
        decimals = ruleset.decimals
        if not entries:
            yield '{\n  "entries": [],'
        else:
            yield '{\n  "entries": ['
            for start in range(0, len(entries), _CHUNK):
                text = orjson.dumps([entry_dict(e, decimals) for e in entries[start:start + _CHUNK]],
                                    option=orjson.OPT_INDENT_2)
                # b'[\n  {…},\n  {…}\n]' → '\n    {…},\n    {…}'
                body = text[1:-2].replace(b"\n", b"\n  ").decode()
                yield body if start == 0 else "," + body
            yield "\n  ],"
        # The rest of the top object: orjson's text of it but its opening brace.
        yield orjson.dumps(_tail(result), option=orjson.OPT_INDENT_2)[1:].decode() + "\n"


def to_table(result: BookResult, ruleset: RuleSet, width: int = 100) -> str:
    """A per-entry view for a consultant: each entry a small table with account names.

    Text from receipts and the rule file is shown as text: no console markup, control
    characters escaped (engine/terminal.py)."""
    from rich.console import Console
    from rich.table import Table

    p = printable
    names = {a.number: a.description for a in ruleset.accounts.values()}
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, highlight=False, soft_wrap=False, markup=False,
                      emoji=False)
    for e in result.entries:
        journal = ruleset.journals.get(e.journal)
        title = p(f"{e.journal} {journal.description if journal else ''} · {e.date} · {e.description}")
        table = Table(title=title, title_justify="left", show_footer=True, expand=False)
        table.add_column("account", footer="")
        table.add_column("name", footer="total")
        table.add_column("debtor")
        table.add_column("vat")
        table.add_column("debit", justify="right", footer=money(e.total, ruleset.decimals))
        table.add_column("credit", justify="right", footer=money(e.total, ruleset.decimals))
        for l in e.lines:
            table.add_row(p(l.account), p(names.get(l.account, "")), p(l.debtor or ""), p(l.vat or ""),
                          money(l.debit, ruleset.decimals) if l.debit else "",
                          money(l.credit, ruleset.decimals) if l.credit else "")
        console.print(table)
        receipts = ", ".join(e.receipts[:8]) + (f" … ({len(e.receipts)} receipts)" if len(e.receipts) > 8 else "")
        held = [f"  receipts: {p(receipts)}"] if e.receipts or not e.closings else []
        if e.closings:
            held.append(f"  closings: {p(', '.join(e.closings))}")
        console.print("\n".join(held) + "\n")
    for err in result.errors:
        console.print(p(f"error {err.receipt}: {err.message}"))
    for err in result.closing_errors:
        console.print(p(f"error closing {err.closing}: {err.message}"))
    if result.open:
        console.print(p("open: " + ", ".join(result.open)))
    if result.voided:
        console.print(p("voided: " + ", ".join(result.voided)))
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"
