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
booking standing (`booked_as` empty), so only those receipts' payments are read. Till
closings (§11) are reconciled per register as `status` does, for the stores that send them.

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
    unreconciled: int = 0  # registers whose till closing does not reconcile, or that were not closed (§11)

    @property
    def receipts(self) -> int:
        return sum(self.counts.values())

    @property
    def complete(self) -> bool:
        return not (self.counts["open"] or self.counts["error"] or self.gaps or self.differences or self.counter_open
                    or self.unreconciled)

    @property
    def state(self) -> str:
        if self.counts["error"]:
            return "errors"
        return "complete" if self.complete else "incomplete"

    def reasons(self) -> list[str]:
        c = self.counts
        out = [f"{n} {what}" for n, what in ((c["error"], "in error"), (c["open"], "open"),
                                             (self.gaps, "number gap(s)"),
                                             (self.differences, "payment difference(s)"),
                                             (self.unreconciled, "register(s) not reconciled")) if n]
        if self.counter_open:
            out.append(f"counter debtor open by {self.counter_open}")
        return out

    def as_dict(self) -> dict:
        return {"date": self.date, "store": self.store, "receipts": self.receipts, "counts": dict(self.counts),
                "gaps": self.gaps, "missing": self.missing, "payment_differences": self.differences,
                "counter_debtor_open": str(self.counter_open), "registers_not_reconciled": self.unreconciled,
                "complete": self.complete, "state": self.state}


def _amount(text) -> Decimal | None:
    try:
        value = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def compute(store: Store, client_id: int, counter_debtor: str | None) -> dict[tuple[str, str], DayState]:
    """Every day and store of one client's books (inside the caller's read)."""
    return compute_many(store, {client_id: counter_debtor})[client_id]


def compute_many(store: Store, clients: dict[int, str | None]) -> dict[int, dict[tuple[str, str], DayState]]:
    """The same for many clients (id → counter debtor) in four queries per 500 of them: the
    overview of hundreds of clients costs four round trips to a database server, not two thousand."""
    out: dict[int, dict[tuple[str, str], DayState]] = {cid: {} for cid in clients}
    ids = sorted(clients)
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        among = f"client IN ({','.join('?' * len(part))})"
        for cid, date, shop, status, n in store.query(
                f"SELECT client, date, store, status, COUNT(*) FROM receipts WHERE {among} AND kind = 'receipt' "
                "GROUP BY client, date, store, status", part):
            out[cid].setdefault((date, shop), DayState(date, shop)).counts[status] = n
        unbooked: dict[tuple, Decimal] = {}
        for cid, date, shop, booked_as, payments in store.query(
                f"SELECT client, date, store, booked_as, payments FROM receipts WHERE {among} AND kind = 'receipt' "
                "AND status IN ('booked', 'late', 'changed', 'error') AND (booked_as IS NULL OR payments LIKE ?)",
                (*part, "%null%")):
            for method, amount, journal in json.loads(payments):
                value = _amount(amount)
                if value is not None and not (booked_as and journal):
                    k = (cid, date, shop, method)
                    unbooked[k] = unbooked.get(k, Decimal(0)) + value
        for (cid, date, shop, _), value in unbooked.items():
            if value and (date, shop) in out[cid]:
                out[cid][(date, shop)].differences += 1
        numbers: dict[int, list] = {cid: [] for cid in part}
        for row in store.query(f"SELECT client, store, register, number, date FROM receipts WHERE {among} "
                               "AND kind = 'receipt'", part):
            numbers[row[0]].append(row[1:])
        for cid, rows in numbers.items():
            days = out[cid]
            for (date, shop), found in gaps(rows).items():
                if (date, shop) in days:
                    days[(date, shop)].gaps = len(found)
                    days[(date, shop)].missing = sum(g["missing"] for g in found)
        _registers(store, among, part, out)
        counters = sorted({clients[cid] for cid in part if clients[cid] is not None})
        if counters:
            for cid, date, shop, debtor, amount in store.query(
                    f"SELECT client, date, store, debtor, amount FROM day_totals WHERE {among} "
                    f"AND debtor IN ({','.join('?' * len(counters))})", (*part, *counters)):
                if debtor == clients[cid] and (date, shop) in out[cid]:
                    out[cid][(date, shop)].counter_open += Decimal(amount)
    return out


def _registers(store: Store, among: str, part: list[int], out: dict) -> None:
    """Each register of the days of the stores that send till closings: reconciled with its
    closing, or not closed (as `status` decides per register; a store that never sends
    closings, a webshop, is not held to them)."""
    from ..engine.closings import ClosingInvalid, read_closing, reconcile

    closings: dict[tuple, dict[str, tuple]] = {}  # (client, date, store) → register → (status, content)
    for cid, shop, register, date, status, content in store.query(
            f"SELECT client, store, register, date, status, content FROM receipts WHERE {among} "
            "AND kind = 'closing' ORDER BY client, date, store, register, id", part):
        closings.setdefault((cid, date, shop), {})[register] = (status, content)
    if not closings:
        return
    used = {(cid, shop) for cid, _, shop in closings}
    registers: dict[tuple, set] = {}
    paid: dict[tuple, dict[str, Decimal]] = {}  # (client, date, store, register) → method → paid
    for cid, date, shop, register, status, payments in store.query(
            f"SELECT client, date, store, register, status, payments FROM receipts WHERE {among} "
            "AND kind = 'receipt'", part):
        if (cid, shop) not in used:
            continue
        registers.setdefault((cid, date, shop), set()).add(register)
        if status in BOOKED or status == "error":
            by_method = paid.setdefault((cid, date, shop, register), {})
            for method, amount, _ in json.loads(payments):
                value = _amount(amount)
                if value is not None:
                    by_method[method] = by_method.get(method, Decimal(0)) + value
    for (cid, date, shop) in set(registers) | set(closings):
        closed = closings.get((cid, date, shop), {})
        bad = 0
        for register in registers.get((cid, date, shop), set()) | set(closed):
            if register not in closed:
                bad += 1  # not closed, in a store that closes its registers
                continue
            status, content = closed[register]
            closing = None
            if content and status != "error":
                try:
                    closing = read_closing(json.loads(content, parse_float=Decimal))
                except (ClosingInvalid, ValueError, TypeError, ArithmeticError):
                    closing = None
            if closing is None or not reconcile(closing, paid.get((cid, date, shop, register), {})).complete:
                bad += 1
        # A closing of a day on which no receipt arrived still makes that day appear.
        out[cid].setdefault((date, shop), DayState(date, shop)).unreconciled = bad


class DayCache:
    """Each client's day states, kept until a run of that client commits."""

    def __init__(self, size: int = 2000):
        self.size = size
        self._items: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, store: Store, client_id: int, last_run: int, counter_debtor: str | None) -> dict:
        return self.get_many(store, {client_id: (last_run, counter_debtor)})[client_id]

    def get_many(self, store: Store, clients: dict[int, tuple[int, str | None]]) -> dict[int, dict]:
        """client id → (its last run, its counter debtor) → client id → its day states."""
        keys = {cid: (store.path, cid, run, counter) for cid, (run, counter) in clients.items()}
        found: dict[int, dict] = {}
        with self._lock:
            for cid, key in keys.items():
                days = self._items.get(key)
                if days is not None:
                    self._items.move_to_end(key)
                    found[cid] = days
        missing = {cid: clients[cid][1] for cid in clients if cid not in found}
        if missing:
            computed = compute_many(store, missing)
            found.update(computed)
            with self._lock:
                for cid, days in computed.items():
                    self._items[keys[cid]] = days
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return found


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


__all__ = ["DayCache", "DayState", "by_date", "compute", "compute_many", "date_state"]
