"""What the source adapters share for till closings (SPEC §11): the normalized record, and
the loop that turns a POS's register counts into closings or errors that name them.

A closing an adapter cannot read is a `ClosingSourceError`: its stand-in in the
records is a closing (`{"type": "closing", "id": …}`), so booking reports it among
the closings' errors, under the POS's own id — never a crash, never a gap.
"""

from __future__ import annotations

from decimal import Decimal

from .mapping import SourceError, text

READ_FAILURES = (TypeError, ValueError, AttributeError, KeyError, ArithmeticError)
MOVEMENT_KINDS = ("payin", "payout", "deposit")


class ClosingSourceError(SourceError):
    """One POS register count cannot become a closing: every reason."""


def each_closing(records, source: str, what: str, id_of, read):
    """(closing id, closing dict | ClosingSourceError) for each POS record."""
    for n, record in enumerate(records, start=1):
        try:
            cid = id_of(record)
        except READ_FAILURES:
            cid = ""
        if not cid:
            yield f"{source}-closing#{n}", ClosingSourceError(f"{what} {n} of the input has no id")
            continue
        try:
            yield cid, read(record)
        except SourceError as e:
            yield cid, ClosingSourceError(f"{what} {cid}: " + "; ".join(e.reasons))
        except READ_FAILURES as e:
            yield cid, ClosingSourceError(f"{what} {cid}: cannot be read: {type(e).__name__}: {e}")


def movement_kind(mapper, note: str, amount: Decimal, problems: list[str]) -> str:
    """The kind of a movement: the rule file's `source NAME movement "NOTE" -> KIND` line for
    its note, else by its sign: money in is a pay-in, money out a payout."""
    mapped = mapper._explicit("movement", note) if note else None
    if mapped in MOVEMENT_KINDS:
        return mapped
    return "payin" if amount > 0 else "payout"


def closing_record(*, id: str, source: str, store: str, register: str | None, date: str, closed: str | None,
                   currency: str, counts: list[tuple[str, Decimal, Decimal]],
                   movements: list[tuple[str, str, Decimal, str]] = (),
                   float_opening: Decimal | None = None, float_closing: Decimal | None = None,
                   float_method: str | None = None) -> dict:
    """The normalized closing of `schemas/closing.schema.json`: counts are (method, expected,
    counted), movements (kind, method, amount, reason)."""
    out: dict = {"type": "closing", "id": id, "source": source, "store": store}
    if register:
        out["register"] = register
    out["date"] = date
    if closed:
        out["closed"] = closed
    out["currency"] = currency
    if float_opening is not None:
        out["float"] = {"opening": text(float_opening)}
        if float_closing is not None:
            out["float"]["closing"] = text(float_closing)
        if float_method:
            out["float"]["method"] = float_method
    out["counts"] = [{"method": m, "expected": text(e), "counted": text(c)} for m, e, c in counts]
    if movements:
        out["movements"] = [{"kind": k, "method": m, "amount": text(a), "reason": r} for k, m, a, r in movements]
    return out
