"""The Python API: what the command line does, for other runners.

    from tillpost.api import load_rules, read_receipts, book, canonical

    rules = load_rules("rules/examples/bakery.rules")      # compile once
    for path in batches:
        result = book(rules, read_receipts(path, rules))    # book many batches
        payload = canonical(result, rules)                 # plain data (SPEC §7)
        for chunk in iter_json(result, rules): out.write(chunk)  # its JSON text, streamed
        xml = render_target(result, rules, "exact-globe").text  # an accounting package's import

`book` also takes a list of receipt dicts. Errors are data, not exceptions:
`result.errors` lists each receipt that could not be booked and why. Only
unusable rules (`RulesError`) or unusable input (`InputError`) raise.
"""

from __future__ import annotations

from .engine.book import BookResult, book
from .engine.closings import (Closing, ClosingBooking, ClosingError, Reconciliation, book_closing, read_closing,
                              reconcile, register_payments)
from .engine.compiler import compile_file, compile_text, load_rules
from .engine.diagnostics import Diagnostics, RulesError
from .engine.entries import Entry, EntryLine
from .engine.journal import canonical, iter_json, to_json, to_table
from .engine.postings import ReceiptError, book_receipt, describe_fact, receipt_attributes, receipt_mode
from .engine.receipts import InputError, Records, parse_input, read_input, read_receipt
from .engine.ruleset import RuleSet

__all__ = [
    "BookResult", "Closing", "ClosingBooking", "ClosingError", "Diagnostics", "Entry", "EntryLine", "InputError",
    "ReceiptError", "Reconciliation", "Records", "RuleSet", "RulesError", "book", "book_closing", "canonical",
    "compile_file", "compile_text", "explain_receipt", "explain_receipts", "iter_json", "load_rules", "parse_input",
    "read_closing", "read_input", "read_receipt", "read_receipts", "reconcile", "register_payments",
    "render_table", "render_target", "to_json",
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
    """A readable account of how one receipt is booked: each fact, its rule, its legs. The id
    of a till closing explains the closing, and reconciles it with the receipts of its register."""
    text, missing = explain_receipts(ruleset, records, [receipt_id])
    return (text, True) if not missing else (f"receipt {receipt_id}: not in the input\n", False)


def explain_receipts(ruleset: RuleSet, records: Records, receipt_ids: list[str]) -> tuple[str, list[str]]:
    """Each receipt (or till closing) of `receipt_ids` explained, in that order, and the ids not in the input."""
    from .engine.book import _read
    from .engine.receipts import receipt_id as id_of

    wanted = dict.fromkeys(receipt_ids)
    found: dict[str, str] = {}
    for i in range(len(records)):
        if len(found) == len(wanted):
            break
        obj, receipt, problem = _read(records, i)
        rid = receipt.id if receipt else id_of(obj, records.position(i))
        if rid in wanted and rid not in found:
            found[rid] = _explain(ruleset, records, i, rid, receipt, problem)
    for rid in wanted:
        if rid not in found:
            for item in records.closings:
                text = _explain_closing(ruleset, records, item, rid)
                if text is not None:
                    found[rid] = text
                    break
    return "".join(found[rid] for rid in wanted if rid in found), [rid for rid in wanted if rid not in found]


def _explain(ruleset: RuleSet, records: Records, i: int, rid: str, receipt, problem: str | None) -> str:
    from .engine.facts import FactsError, receipt_facts

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
    out += _explain_facts(facts, names, rvalues, None if isinstance(booking, ReceiptError) else booking, ruleset)
    if isinstance(booking, ReceiptError):
        out.append(f"  error: {booking.message}")
    return "\n".join(out) + "\n"


def _explain_facts(facts, names: dict, rvalues: tuple, booking, ruleset: RuleSet) -> list[str]:
    """Per fact: the rule that matches it and the two legs it books (`booking` None: in error)."""
    from .engine.journal import money

    out = []
    legs = iter(booking.legs if booking is not None else ())
    for fact in facts:
        out.append("  fact " + describe_fact(fact, names))
        rule = ruleset.matcher.kinds[fact.kind].lookup(rvalues, fact.values)
        if rule is None:
            out.append("    no rule matches")
            continue
        out.append(f"    rule {rule.where}: {rule.text}")
        if rule.post is None:
            out.append("    books nothing (skip)")
        elif booking is not None:
            for leg in (next(legs), next(legs)):
                side = "debit " if leg.amount > 0 else "credit"
                extra = "".join(f" {k} {v}" for k, v in (("debtor", leg.debtor), ("vat", leg.vat)) if v)
                out.append(f"    {leg.journal} {side} {leg.account} {money(abs(leg.amount), ruleset.decimals)}{extra}")
    return out


def _explain_closing(ruleset: RuleSet, records: Records, item, closing_id: str) -> str | None:
    """How one till closing is booked, and how it reconciles with the receipts of its register
    in the same input; None when `item` is another closing."""
    from .engine.book import _read
    from .engine.closings import closing_attributes, closing_facts, closing_id as id_of
    from .engine.facts import Fact, FactsError

    obj, closing, problem = item.read()
    cid = closing.id if closing else id_of(obj, item.position)
    if cid != closing_id:
        return None
    out = [f"closing {cid}"]
    if problem:
        out.append(f"  error: {problem}")
        return "\n".join(out) + "\n"
    out.append(f"  {closing.date} store {closing.store} register {closing.register or '-'}"
               + (f" closed {closing.closed}" if closing.closed else ""))
    try:
        facts = [Fact._make(f) for f in closing_facts(closing, ruleset)]
    except FactsError as e:
        out.append("  error: " + "; ".join(e.reasons))
        return "\n".join(out) + "\n"
    rvalues = closing_attributes(closing, ruleset)
    names = dict(zip(ruleset.matcher.receipt_attrs, rvalues))
    booking = book_closing(closing, ruleset)
    out += _explain_facts(facts, names, rvalues, None if isinstance(booking, ClosingError) else booking, ruleset)
    if not facts:
        out.append("  no differences and no movements: books nothing")
    if isinstance(booking, ClosingError):
        out.append(f"  error: {booking.message}")
    receipts = []
    for i in range(len(records)):
        _, receipt, bad = _read(records, i)
        if bad is None and receipt.status == "completed" and (receipt.store, receipt.register, receipt.date) == (
                closing.store, closing.register, closing.date):
            receipts.append(receipt)
    paid = register_payments(receipts).get((closing.store, closing.register, closing.date), {})
    out.append(f"  against the {len(receipts)} completed receipt(s) of register {closing.register or '-'} on "
               f"{closing.date} in this input:")
    out.extend("  " + line for line in reconciliation_table(reconcile(closing, paid), ruleset.decimals))
    return "\n".join(out) + "\n"


def reconciliation_table(recon: Reconciliation, decimals: int) -> list[str]:
    """A closing's reconciliation as text lines: per method the POS's figures and the receipts'."""
    from .engine.journal import money

    def shown(value) -> str:
        return "-" if value is None else money(value, decimals)

    rows = [("method", "expected", "counted", "difference", "float", "movements", "POS receipts", "receipts",
             "reconciliation")]
    for m in recon.methods.values():
        rows.append((m.method, shown(m.expected), shown(m.counted), shown(m.difference if m.counted is not None
                                                                          else None),
                     shown(m.opening_float), shown(m.movements), shown(m.pos_receipts), shown(m.receipts),
                     shown(m.reconciliation) + ("" if m.complete else "  ← " + (
                         f"{money(-m.reconciliation, decimals)} of receipts missing" if m.reconciliation < 0
                         else f"{money(m.reconciliation, decimals)} of receipts the POS did not count"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) + "  " + r[-1]
             for r in rows]
    lines.append("complete: the receipts are what the POS counted" if recon.complete
                 else f"incomplete: {money(recon.missing, decimals)} of receipts missing" if recon.missing > 0
                 else f"incomplete: {money(-recon.missing, decimals)} more in receipts than the POS counted"
                 if recon.missing < 0 else "incomplete: receipts missing for one method, extra for another")
    return [line.rstrip() for line in lines]
