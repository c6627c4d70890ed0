"""The booking run: receipts (and till closings) in, entries and the error list out.

This is the loop the other runners (CLI, ledger, targets, tests) call. It is
the only place that sees the whole batch: it reports duplicate ids, sorts
receipts into booked / open / voided / errors, and hands each completed
receipt to the pure per-receipt stages (receipts → facts → postings) before
the entry builder groups what they booked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import localcontext

from .closings import ClosingBooking, ClosingError, book_closings
from .decoding import escaped
from .entries import Entry, EntryBuilder
from .exact import EXACT
from .facts import retry_memos
from .gcpause import gc_paused
from .postings import Booking, ReceiptError, book_receipt
from .receipts import (InputError, Receipt, ReceiptInvalid, Records, _FloatSeen, decode_receipt, read_receipt,
                       receipt_id, schema_message)
from .ruleset import RuleSet


@dataclass
class BookResult:
    """The outcome of booking one batch: plain data, in the order of SPEC §7."""

    entries: list[Entry]
    errors: list[ReceiptError]
    open: list[str]
    voided: list[str]
    bookings: list[Booking] = field(default_factory=list)  # per receipt, when asked for
    # Till closings (SPEC §11): the ids booked, those in error, and their bookings when asked for.
    closings: list[str] = field(default_factory=list)
    closing_errors: list[ClosingError] = field(default_factory=list)
    closing_bookings: list[ClosingBooking] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.closing_errors


def _as_records(receipts) -> Records:
    if isinstance(receipts, Records):
        return receipts
    return Records("<api>", list(receipts))


def _read(records: Records, i: int) -> tuple[object, Receipt | None, str | None]:
    """Decode and check item i: (decoded object, receipt or None, error message or None)."""
    obj = records.get(i)
    if records.errors and i in records.errors:
        return obj, None, records.errors[i]
    try:
        return obj, read_receipt(obj), None
    except _FloatSeen:
        if not records.raw and type(records.items[i]) is not bytes:
            from .receipt_problems import float_problem

            return obj, None, float_problem(obj)
        obj = records.get_exact(i)
        if records.errors and i in records.errors:
            return obj, None, records.errors[i]
        try:
            return obj, read_receipt(obj), None
        except (ReceiptInvalid, _FloatSeen) as e:
            return obj, None, schema_message(obj) or str(e)
    except ReceiptInvalid as e:
        return obj, None, schema_message(obj) or str(e)


def book(ruleset: RuleSet, receipts: Records | Iterable[dict], keep_bookings: bool = False,
         selected=None) -> BookResult:
    """Book a batch of receipts (decoded dicts, or `Records` from `read_input`).

    `selected(receipt) -> bool` narrows the batch (by store, register, id);
    `keep_bookings` keeps each receipt's Booking, for the ledger and explain.
    """
    # Every sum and product exact or refused (engine/exact.py), set once for the whole batch.
    with gc_paused(), localcontext(EXACT):
        try:
            return _book(ruleset, receipts, keep_bookings, selected)
        except ArithmeticError:
            # Facts refuse a receipt's inexact amounts; this is the batch's sums, past PREC digits.
            source = receipts.source if isinstance(receipts, Records) else "<api>"
            raise InputError(source, f"the totals of this input cannot be added up exactly (they need more than "
                                     f"{EXACT.prec} significant digits); book it in smaller parts") from None


def _book(ruleset: RuleSet, receipts, keep_bookings: bool, selected) -> BookResult:
    records = _as_records(receipts)
    retry_memos(ruleset)
    builder = EntryBuilder(ruleset)
    first: dict[str, int] = {}  # id → index of its first occurrence
    duplicates: dict[str, int] = {}  # id → how often it occurs
    status: dict[str, str] = {}  # id → open | voided | error; booked receipts are the others in `first`
    errors: dict[str, str] = {}
    wheres: dict[str, str | None] = {}  # id → where the receipt in error is in the input
    bookings: dict[str, Booking] = {}
    add = builder.add
    has_errors = bool(records.errors)
    items = records.items

    for i in range(len(items)):
        # The common case inline: a JSON Lines line or a decoded receipt that reads
        # cleanly. Anything else takes the careful path, `_read`.
        obj = items[i]
        problem = None
        try:
            if has_errors and i in records.errors:
                receipt = None
            elif type(obj) is bytes:
                receipt = decode_receipt(obj)
            else:
                receipt = read_receipt(obj)
        except (ReceiptInvalid, _FloatSeen):
            receipt = None
        if receipt is None:
            obj, receipt, problem = _read(records, i)
        rid = receipt.id if receipt is not None else receipt_id(obj, records.position(i))
        if rid in first:
            duplicates[rid] = duplicates.get(rid, 1) + 1
            continue
        first[rid] = i
        if problem is not None:
            status[rid], errors[rid], wheres[rid] = "error", problem, records.where(i)
            continue
        if selected is not None and not selected(receipt):
            status[rid] = "unselected"
            continue
        if receipt.status != "completed":
            status[rid] = receipt.status
            continue
        booking = book_receipt(receipt, ruleset)
        if type(booking) is ReceiptError:
            status[rid], errors[rid], wheres[rid] = "error", booking.message, records.where(i)
            continue
        add(booking)
        if keep_bookings:
            bookings[rid] = booking

    for rid, count in duplicates.items():
        # Which copy is right cannot be known: book none of them.
        if rid not in status:  # the first copy was booked: take it back out
            booking = bookings.pop(rid, None)
            if booking is None:
                _, receipt, _ = _read(records, first[rid])
                booking = book_receipt(receipt, ruleset)
            builder.remove(booking)
        status[rid] = "error"
        errors[rid] = f"id {rid} occurs {count} times in this input; none of them is booked"
        wheres[rid] = records.where(first[rid])

    closings = book_closings(ruleset, records.closings, add, selected, keep_bookings) if records.closings else None

    return BookResult(
        entries=builder.entries(release=True),
        # What a source adapter says of a record may quote its text as it came, lone surrogates and all.
        errors=[ReceiptError(escaped(rid), escaped(errors[rid]), wheres.get(rid)) for rid in sorted(errors)],
        open=sorted(rid for rid, s in status.items() if s == "open"),
        voided=sorted(rid for rid, s in status.items() if s == "voided"),
        bookings=[bookings[rid] for rid in sorted(bookings)] if keep_bookings else [],
        closings=closings.booked if closings else [],
        closing_errors=[ClosingError(escaped(e.closing), escaped(e.message)) for e in closings.errors] if closings
        else [],
        closing_bookings=closings.bookings if closings else [],
    )
