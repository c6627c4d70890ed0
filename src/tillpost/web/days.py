"""Which days of a client are complete: the calendar's colours and the overview's counts.

`tillpost status` answers it for the days asked for; the calendar and the overview ask
it of every day of every client at once, so this reads only what the answer needs —
the counts per status, the number sequences, the payments that were not booked and
the counter debtor's day totals — and decides exactly as `ledger/status.py` does:

    complete    nothing open or in error, no number missing, every payment booked and
                the counter debtor netting to zero
    errors      some receipt is in error (the calendar's red)
    incomplete  any other reason it is not complete
    nothing     no receipt arrived that day

A payment can only be unbooked on a receipt that carries a `null` journal or has no
booking standing (`booked_as` empty), so only those receipts' payments are read.

The answer for a client depends only on its books, which change only by a final run,
which adds a run: it is kept per (ledger, client, last run) and computed again when a
run has committed since.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ..ledger.process import BOOKED, STATUSES
from ..ledger.status import gaps
from ..ledger.store import Store


@dataclass
class DayState:
    date: str
    store: str
    counts: dict = field(default_factory=lambda: {s: 0 for s in STATUSES})
    gaps: int = 0  # number ranges never seen, reported on this day
    missing: int = 0  # numbers in them
    differences: int = 0  # payment methods whose receipts are not all booked
    counter_open: Decimal = Decimal(0)  # the counter debtor's balance of the day

    @property
    def receipts(self) -> int:
        return sum(self.counts.values())

    @property
    def complete(self) -> bool:
        return not (self.counts["open"] or self.counts["error"] or self.gaps or self.differences or self.counter_open)

    @property
    def state(self) -> str:
        if self.counts["error"]:
            return "errors"
        return "complete" if self.complete else "incomplete"

    def reasons(self) -> list[str]:
        c = self.counts
        out = [f"{n} {what}" for n, what in ((c["error"], "in error"), (c["open"], "open"),
                                             (self.gaps, "number gap(s)"),
                                             (self.differences, "payment difference(s)")) if n]
        if self.counter_open:
            out.append(f"counter debtor open by {self.counter_open}")
        return out

    def as_dict(self) -> dict:
        return {"date": self.date, "store": self.store, "receipts": self.receipts, "counts": dict(self.counts),
                "gaps": self.gaps, "missing": self.missing, "payment_differences": self.differences,
                "counter_debtor_open": str(self.counter_open), "complete": self.complete, "state": self.state}


def _amount(text) -> Decimal | None:
    try:
        value = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def compute(store: Store, client_id: int, counter_debtor: str | None) -> dict[tuple[str, str], DayState]:
    """Every day and store of one client's books (inside the caller's read)."""
    days: dict[tuple[str, str], DayState] = {}
    for date, shop, status, n in store.query(
            "SELECT date, store, status, COUNT(*) FROM receipts WHERE client = ? AND kind = 'receipt' "
            "GROUP BY date, store, status", (client_id,)):
        days.setdefault((date, shop), DayState(date, shop)).counts[status] = n
    unbooked: dict[tuple, Decimal] = {}
    for date, shop, status, booked_as, payments in store.query(
            "SELECT date, store, status, booked_as, payments FROM receipts WHERE client = ? AND kind = 'receipt' "
            "AND status IN ('booked', 'late', 'changed', 'error') AND (booked_as IS NULL OR payments LIKE ?)",
            (client_id, "%null%")):
        for method, amount, journal in json.loads(payments):
            value = _amount(amount)
            if value is not None and not (booked_as and journal):
                k = (date, shop, method)
                unbooked[k] = unbooked.get(k, Decimal(0)) + value
    for (date, shop, _), value in unbooked.items():
        if value and (date, shop) in days:
            days[(date, shop)].differences += 1
    numbers = store.query("SELECT store, register, number, date FROM receipts WHERE client = ? AND kind = 'receipt'",
                          (client_id,))
    for (date, shop), found in gaps(numbers).items():
        if (date, shop) in days:
            days[(date, shop)].gaps = len(found)
            days[(date, shop)].missing = sum(g["missing"] for g in found)
    if counter_debtor is not None:
        for date, shop, amount in store.query("SELECT date, store, amount FROM day_totals WHERE client = ? "
                                              "AND debtor = ?", (client_id, counter_debtor)):
            if (date, shop) in days:
                days[(date, shop)].counter_open += Decimal(amount)
    return days


class DayCache:
    """Each client's day states, kept until a run of that client commits."""

    def __init__(self, size: int = 2000):
        self.size = size
        self._items: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, store: Store, client_id: int, last_run: int, counter_debtor: str | None) -> dict:
        key = (store.path, client_id, last_run, counter_debtor)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        days = compute(store, client_id, counter_debtor)
        with self._lock:
            self._items[key] = days
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return days


def by_date(days: dict[tuple[str, str], DayState]) -> dict[str, list[DayState]]:
    out: dict[str, list[DayState]] = {}
    for (date, _), d in sorted(days.items()):
        out.setdefault(date, []).append(d)
    return out


def date_state(stores: list[DayState]) -> str:
    """A date's colour: the worst of its stores."""
    if not stores:
        return "nothing"
    states = {d.state for d in stores}
    return "errors" if "errors" in states else "incomplete" if "incomplete" in states else "complete"


__all__ = ["BOOKED", "DayCache", "DayState", "by_date", "compute", "date_state"]
