"""Postings → journal entries: grouped, summed, netted, ordered (SPEC §6–7).

Turnover receipts go into one entry per journal per group key (date and store
by default); an individual receipt into one entry per journal of its own. A
till closing's differences and movements join the turnover entries of their
group key; the entry lists the closings it holds beside its receipts.
Within an entry, legs with the same account, debtor and VAT name are summed
and netted; zero lines and empty entries are dropped. Both legs of a posting
always land in the same entry, so every entry balances by construction, and
`entries` proves it anyway (`Entry.__post_init__` for entries made elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from decimal import Decimal

from .closings import ClosingBooking
from .postings import Booking, invoice_debtor
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
    closings: tuple[str, ...] = ()  # the till closings whose differences and movements it holds

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


def _entry(journal: str, date: str, mode: str, key: str, description: str, receipts: tuple, lines: tuple,
           closings: tuple) -> Entry:
    """An Entry that `EntryBuilder.entries` has just proved balanced: made without `__init__`
    (eight frozen-attribute writes and the same proof again, for every entry of the day)."""
    entry = object.__new__(Entry)
    entry.__dict__.update(journal=journal, date=date, mode=mode, key=key, description=description,
                          receipts=receipts, lines=lines, closings=closings)
    return entry


class _Group:
    """The entries of one group being filled (a day and store, or one receipt).

    Postings are summed per stem, not per line: a stem is shared by every fact its
    rule books, so a receipt costs one dict update a posting. `entries` spreads the
    sums over each journal's lines at the end.
    """

    __slots__ = ("date", "sums", "receipts", "closings", "description")

    def __init__(self, date: str, description: str):
        self.date = date
        self.sums: dict = {}  # Stem → net amount
        self.receipts: dict[str, dict[str, None]] = {}  # journal → the receipts that post in it
        self.closings: dict[str, dict[str, None]] = {}  # journal → the till closings that post in it
        self.description = description


_BY_PLACE = attrgetter("date", "journal", "key")


@dataclass
class EntryBuilder:
    """Collects bookings into entries; `remove` takes a booking back out exactly."""

    ruleset: RuleSet
    groups: dict = field(default_factory=dict)

    def add(self, booking: Booking, sign: int = 1) -> None:
        receipt = booking.receipt
        rid, date = receipt.id, receipt.date
        gkey = (booking.mode, booking.key)
        group = self.groups.get(gkey)
        if group is None:
            group = self.groups[gkey] = _Group(date, self._description(booking))
        elif date > group.date:
            group.date = date
        sums = group.sums
        get = sums.get
        receipts = group.receipts if booking.__class__ is not ClosingBooking else group.closings
        last = None
        for stem, amount in booking.postings:
            sums[stem] = get(stem, ZERO) + amount if sign > 0 else get(stem, ZERO) - amount
            journal = stem.journal
            if journal is not last:
                last = journal
                ids = receipts.get(journal)
                if ids is None:
                    ids = receipts[journal] = {}
                if sign > 0:
                    ids[rid] = None
                else:
                    ids.pop(rid, None)

    def remove(self, booking: Booking) -> None:
        self.add(booking, sign=-1)

    def _fields(self, booking: Booking) -> dict:
        """The placeholders of the entry's description."""
        if booking.mode == "turnover":
            return dict(zip(self.ruleset.group_by, booking.key))
        r = booking.receipt
        debtor = invoice_debtor(r, self.ruleset)
        return {
            "number": r.number, "id": r.id, "date": r.date, "store": r.store, "register": r.register,
            "customer": r.customer_name or r.customer_id or "", "debtor": debtor or "",
        }

    def _description(self, booking: Booking) -> str:
        # Made when the group is: a string holds less than the fields it is made of.
        return " ".join(self.ruleset.describe[booking.mode].format(**self._fields(booking)).split())

    def entries(self, release: bool = False) -> list[Entry]:
        """The entries of every group, in order. `release` lets each group go once its entries
        are made (the builder is then empty): a day's groups and its entries are not both held."""
        result = []
        cent = self.ruleset.cent
        groups = self.groups
        for gkey in list(groups):
            group = groups.pop(gkey) if release else groups[gkey]
            mode, key = gkey
            per_journal: dict[str, dict] = {}
            for stem, amount in group.sums.items():
                lines = per_journal.get(stem.journal)
                if lines is None:
                    lines = per_journal[stem.journal] = {}
                debit, credit = stem.debit, stem.credit
                lines[debit] = lines.get(debit, ZERO) + amount
                lines[credit] = lines.get(credit, ZERO) - amount
            joined = "/".join(key)
            for journal, sums in per_journal.items():
                lines = []
                total = ZERO
                for lkey in sorted(sums, key=_sort_key) if len(sums) > 1 else sums:
                    net = sums[lkey].quantize(cent)
                    if net:
                        total += net
                        account, debtor, vat = lkey
                        lines.append(EntryLine(account, net if net > 0 else ZERO, -net if net < 0 else ZERO, debtor,
                                               vat))
                if total:
                    raise UnbalancedEntry(f"entry {journal} {joined} does not balance: debit and credit differ by "
                                          f"{total}")
                if lines:
                    receipts = group.receipts.get(journal)
                    closings = group.closings.get(journal)
                    result.append(_entry(journal, group.date, mode, joined, group.description,
                                         tuple(sorted(receipts)) if receipts else (), tuple(lines),
                                         tuple(sorted(closings)) if closings else ()))
        result.sort(key=_BY_PLACE)
        return result
