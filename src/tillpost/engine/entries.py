"""Postings → journal entries: grouped, summed, netted, ordered (SPEC §6–7).

Turnover receipts go into one entry per journal per group key (date and store
by default); an individual receipt into one entry per journal of its own.
Within an entry, legs with the same account, debtor and VAT name are summed
and netted; zero lines and empty entries are dropped. Both legs of a posting
always land in the same entry, so every entry balances by construction, and
`Entry.__post_init__` proves it anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .postings import Booking
from .ruleset import RuleSet

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class EntryLine:
    account: str
    debit: Decimal
    credit: Decimal
    debtor: str | None
    vat: str | None


class UnbalancedEntry(AssertionError):
    """An entry whose debits and credits differ: a bug in tillpost, never bad input."""


@dataclass(frozen=True)
class Entry:
    journal: str
    date: str
    mode: str
    key: str
    description: str
    receipts: tuple[str, ...]
    lines: tuple[EntryLine, ...]

    def __post_init__(self):
        debit = sum((l.debit for l in self.lines), ZERO)
        credit = sum((l.credit for l in self.lines), ZERO)
        if debit != credit:
            raise UnbalancedEntry(f"entry {self.journal} {self.key} does not balance: debit {debit}, credit {credit}")

    @property
    def total(self) -> Decimal:
        return sum((l.debit for l in self.lines), ZERO)


def _sort_key(line_key: tuple) -> tuple:
    account, debtor, vat = line_key
    return (account, debtor or "", vat or "")


class _Open:
    """An entry being filled: its receipts and the net amount per (account, debtor, VAT)."""

    __slots__ = ("date", "receipts", "lines", "fields")

    def __init__(self, date: str, fields: dict):
        self.date = date
        self.receipts: dict[str, None] = {}
        self.lines: dict[tuple, Decimal] = {}
        self.fields = fields


@dataclass
class EntryBuilder:
    """Collects bookings into entries; `remove` takes a booking back out exactly."""

    ruleset: RuleSet
    open: dict = field(default_factory=dict)

    def add(self, booking: Booking, sign: int = 1) -> None:
        receipt = booking.receipt
        rid, date = receipt.id, receipt.date
        mode, key = booking.mode, booking.key
        touched: dict[str, _Open] = {}  # journal → its entry, for this booking
        for (journal, debit, credit, _), amount in booking.postings:
            entry = touched.get(journal)
            if entry is None:
                ekey = (journal, mode, key)
                entry = self.open.get(ekey)
                if entry is None:
                    entry = self.open[ekey] = _Open(date, self._fields(booking))
                touched[journal] = entry
                if date > entry.date:
                    entry.date = date
                if sign > 0:
                    entry.receipts[rid] = None
                else:
                    entry.receipts.pop(rid, None)
            if sign < 0:
                amount = -amount
            lines = entry.lines
            get = lines.get
            lines[debit] = get(debit, ZERO) + amount
            lines[credit] = get(credit, ZERO) - amount

    def remove(self, booking: Booking) -> None:
        self.add(booking, sign=-1)

    def _fields(self, booking: Booking) -> dict:
        """The placeholders of the entry's description."""
        if booking.mode == "turnover":
            return dict(zip(self.ruleset.group_by, booking.key))
        r = booking.receipt
        debtor = None
        if r.payments:
            method = self.ruleset.methods.get(r.payments[0].method)
            debtor = (method.debtor if method else None) or r.customer_debtor
        return {
            "number": r.number, "id": r.id, "date": r.date, "store": r.store, "register": r.register,
            "customer": r.customer_name or r.customer_id or "", "debtor": debtor or "",
        }

    def entries(self) -> list[Entry]:
        result = []
        cent = self.ruleset.cent
        for (journal, mode, key), entry in self.open.items():
            lines = []
            for lkey in sorted(entry.lines, key=_sort_key):
                net = entry.lines[lkey].quantize(cent)
                if net:
                    account, debtor, vat = lkey
                    lines.append(EntryLine(account, net if net > 0 else ZERO, -net if net < 0 else ZERO, debtor, vat))
            if not lines:
                continue
            description = " ".join(self.ruleset.describe[mode].format(**entry.fields).split())
            result.append(Entry(journal, entry.date, mode, "/".join(key), description,
                                tuple(sorted(entry.receipts)), tuple(lines)))
        result.sort(key=lambda e: (e.date, e.journal, e.key))
        return result
