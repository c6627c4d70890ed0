"""The Python API: what the command line does, for other runners.

    from tillpost.api import load_rules, read_receipts, book, canonical

    rules = load_rules("rules/examples/bakery.rules")      # compile once
    for path in batches:
        result = book(rules, read_receipts(path, rules))    # book many batches
        payload = canonical(result, rules)                 # plain data (SPEC §7)
        xml = render_target(result, rules, "exact-globe").text  # an accounting package's import

`book` also takes a list of receipt dicts. Errors are data, not exceptions:
`result.errors` lists each receipt that could not be booked and why. Only
unusable rules (`RulesError`) or unusable input (`InputError`) raise.
"""

from __future__ import annotations

from .engine.book import BookResult, book
from .engine.compiler import compile_file, compile_text, load_rules
from .engine.diagnostics import Diagnostics, RulesError
from .engine.entries import Entry, EntryLine
from .engine.journal import canonical, to_json, to_table
from .engine.postings import ReceiptError, book_receipt, describe_fact, receipt_attributes, receipt_mode
from .engine.receipts import InputError, Records, parse_input, read_input, read_receipt
from .engine.ruleset import RuleSet

__all__ = [
    "BookResult", "Diagnostics", "Entry", "EntryLine", "InputError", "ReceiptError", "Records", "RuleSet",
    "RulesError", "book", "canonical", "compile_file", "compile_text", "explain_receipt", "load_rules",
    "explain_receipts", "parse_input", "read_input", "read_receipt", "read_receipts", "render_table", "render_target",
    "to_json",
]

render_table = to_table


def read_receipts(path: str, ruleset: RuleSet | None = None, source: str | None = None) -> Records:
    """Read RECEIPTS from a file or '-' (stdin), through a source adapter when one is named."""
    from .sources import read_receipts as read_from_source

    return read_from_source(path, ruleset, source)


def render_target(result: BookResult | dict, ruleset: RuleSet, target: str, settings: dict | None = None):
    """Render a BookResult (or the canonical dict) as a payload target's documents.

    Returns `tillpost.targets.Rendering`: `.documents` (name, text) and `.errors`, the
    entries the target cannot express. See `tillpost targets`.
    """
    from .targets import render

    return render(result, ruleset, target, settings)


def explain_receipt(ruleset: RuleSet, records: Records, receipt_id: str) -> tuple[str, bool]:
    """A readable account of how one receipt is booked: each fact, its rule, its legs."""
    text, missing = explain_receipts(ruleset, records, [receipt_id])
    return (text, True) if not missing else (f"receipt {receipt_id}: not in the input\n", False)


def explain_receipts(ruleset: RuleSet, records: Records, receipt_ids: list[str]) -> tuple[str, list[str]]:
    """Each receipt of `receipt_ids` explained, in that order, and the ids not in the input."""
    from .engine.book import _read
    from .engine.receipts import receipt_id as id_of

    wanted = dict.fromkeys(receipt_ids)
    found: dict[str, str] = {}
    for i in range(len(records)):
        if len(found) == len(wanted):
            break
        obj, receipt, problem = _read(records, i)
        rid = receipt.id if receipt else id_of(obj, i)
        if rid in wanted and rid not in found:
            found[rid] = _explain(ruleset, records, i, rid, receipt, problem)
    return "".join(found[rid] for rid in wanted if rid in found), [rid for rid in wanted if rid not in found]


def _explain(ruleset: RuleSet, records: Records, i: int, rid: str, receipt, problem: str | None) -> str:
    from .engine.facts import FactsError, receipt_facts
    from .engine.journal import money

    out: list[str] = []
    where = records.where(i)
    out.append(f"receipt {rid}" + (f" ({where})" if where else ""))
    if problem:
        out.append(f"  error: {problem}")
        return "\n".join(out) + "\n"
    out.append(f"  {receipt.date} store {receipt.store} register {receipt.register or '-'} "
               f"number {receipt.number} status {receipt.status}")
    if receipt.status != "completed":
        out.append(f"  {receipt.status}: not booked")
        return "\n".join(out) + "\n"
    mode, reasons = receipt_mode(receipt, ruleset)
    out.append(f"  mode {mode}")
    try:
        facts = receipt_facts(receipt, ruleset)
    except FactsError as e:
        out.append("  error: " + "; ".join(reasons + e.reasons))
        return "\n".join(out) + "\n"
    total = sum(f.amount for f in facts if f.kind in ("sale", "tax"))
    rvalues = receipt_attributes(receipt, ruleset, mode, total < 0)
    names = dict(zip(ruleset.fact_attributes("sale")[: len(rvalues)], rvalues))
    booking = book_receipt(receipt, ruleset)
    legs = iter(booking.legs) if not isinstance(booking, ReceiptError) else iter(())
    for fact in facts:
        out.append("  fact " + describe_fact(fact, names))
        rule = ruleset.matcher.kinds[fact.kind].lookup(rvalues, fact.values)
        if rule is None:
            out.append("    no rule matches")
            continue
        out.append(f"    rule {rule.where}: {rule.text}")
        if rule.post is None:
            out.append("    books nothing (skip)")
        elif not isinstance(booking, ReceiptError):
            for leg in (next(legs), next(legs)):
                side = "debit " if leg.amount > 0 else "credit"
                extra = "".join(f" {k} {v}" for k, v in (("debtor", leg.debtor), ("vat", leg.vat)) if v)
                out.append(f"    {leg.journal} {side} {leg.account} {money(abs(leg.amount), ruleset.decimals)}{extra}")
    if isinstance(booking, ReceiptError):
        out.append(f"  error: {booking.message}")
    return "\n".join(out) + "\n"
