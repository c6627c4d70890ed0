"""Completeness per business day and store: what `tillpost status` shows.

For each (date, store): how many receipts are in each status (and which, with
the reason for errors); the gaps in each register's receipt-number sequence;
and the reconciliation of the receipts' payments against what was booked.

Gaps. Receipt numbers are not always sequential, so a gap is a fact to look
at, not an error. Per store and register (and per non-digit prefix of the
number, such as `K1-`), the numbers ever seen are sorted; every run of numbers
never seen between two seen ones is a gap, reported on the day of the receipt
that follows it (the day it became visible).

Reconciliation, per payment method: `receipts` is what the receipts of the day
say was paid (those booked, plus those in error: the POS says they were paid);
`booked` is what the ledger booked of them, and in which journal (`skip` when
the rule file books that method nowhere, e.g. invoices paid later);
`difference` is what is paid but not booked. Per journal, `debit` is the
journal's booked total for the day and store (all its entries, corrections
included, netted per account): what the accounting package should show.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

import orjson

from ..engine.terminal import printable
from . import exported
from .process import BOOKED, STATUSES
from .store import Store

_NUMBER = re.compile(r"(.*?)([0-9]+)")
MAX_GAPS_SHOWN = 20  # per day and store in the table; the JSON has them all


def _amount(text) -> Decimal | None:
    try:
        value = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _shown(value: Decimal, exp: Decimal) -> str:
    """An amount in the currency's decimals; as it is when it is too large for that (a
    receipt in error may pay 1E+400, which Decimal cannot give 28 digits and cents)."""
    try:
        return str(value.quantize(exp))
    except InvalidOperation:
        return str(value)


def gaps(numbers: list[tuple[str, str, str, str]]) -> dict[tuple[str, str], list[dict]]:
    """(store, register, number, date) of every receipt → gaps per (date, store)."""
    sequences: dict[tuple, dict[int, tuple[str, str]]] = {}
    for store, register, number, date in numbers:
        m = _NUMBER.fullmatch(number or "")
        if m:
            sequences.setdefault((store, register, m.group(1)), {})[int(m.group(2))] = (m.group(2), date)
    out: dict[tuple[str, str], list[dict]] = {}
    for (store, register, prefix), seen in sorted(sequences.items()):
        ordered = sorted(seen)
        for a, b in zip(ordered, ordered[1:]):
            if b - a > 1:
                width = len(seen[a][0])
                first, last = str(a + 1).zfill(width), str(b - 1).zfill(width)
                out.setdefault((seen[b][1], store), []).append({
                    "register": register, "from": prefix + first, "to": prefix + last, "missing": b - a - 1})
    return out


def status(store: Store, date: str | None = None, shop: str | None = None) -> dict:
    """The completeness report of one client's ledger (of a day, of a store)."""
    store.check_current()
    store.require_client(existing=True)
    if store.in_read():  # the caller's snapshot (the dashboard reads a whole page in one)
        return _status(store, date, shop)
    store.begin_read()  # one consistent view, while workers may be writing
    try:
        return _status(store, date, shop)
    finally:
        store.end_read()


def _status(store: Store, date: str | None, shop: str | None) -> dict:
    decimals = store.decimals()
    exp = Decimal(1).scaleb(-decimals)
    counter = store.client_setting("counter_debtor")
    days: dict[tuple[str, str], dict] = {}
    paid: dict[tuple, dict[str, Decimal]] = {}  # (date, store, register) → method → what its receipts paid
    # Every day's receipts are the numbers gaps are looked for in; a day's, only that day's.
    numbers: list | None = [] if date is None else None
    for (source, rid, shop_, register, number, day, created, st, reason, booked, payments, pk) in \
            store.receipts_for_status(date, shop):
        if numbers is not None:
            numbers.append((shop_, register, number, day))
        d = days.get((day, shop_))
        if d is None:
            d = days[(day, shop_)] = _day(day, shop_)
        d["_registers"].add(register)
        d["counts"][st] += 1
        d["receipts"] += 1
        if st == "error":
            d["error"].append({"receipt": rid, "reason": reason})
        else:
            d[st].append(rid)
        if created and day and created[:10] > day:
            d["backdated"].append(rid)
        if st in BOOKED or st == "error":
            for method, amount, journal in orjson.loads(payments):
                value = _amount(amount)
                if value is None:
                    continue
                p = d["_payments"].setdefault(method, {"receipts": Decimal(0), "booked": Decimal(0), "journals": set()})
                p["receipts"] += value
                by_method = paid.setdefault((day, shop_, register), {})
                by_method[method] = by_method.get(method, Decimal(0)) + value
                if booked and journal:
                    p["booked"] += value
                    p["journals"].add(journal)

    closings = _closings(store, date, shop, days, paid, decimals)

    # The journals' booked totals per day and store, netted per account (kept by every final run).
    nets: dict[tuple, dict[str, Decimal]] = {}
    debtor_open: dict[tuple, Decimal] = {}
    for day, shop_, journal, account, debtor, vat, amount in store.day_totals(date, shop):
        value = Decimal(amount)
        lines = nets.setdefault(((day, shop_), journal), {})
        k = (account, debtor, vat)
        lines[k] = lines.get(k, Decimal(0)) + value
        if counter is not None and debtor == counter:
            debtor_open[(day, shop_)] = debtor_open.get((day, shop_), Decimal(0)) + value
    for (where, journal), lines in sorted(nets.items()):
        if where not in days:
            continue
        debit = sum((v for v in lines.values() if v > 0), Decimal(0))
        days[where]["journals"].append({"journal": journal, "debit": _shown(debit, exp)})

    all_gaps = gaps(numbers if numbers is not None else store.receipt_numbers(shop))
    # What went out to the package, per day (SPEC §14): booked, exported, delivered, rejected.
    books = exported.per_day(store, date, shop)
    out = []
    for (day, shop_), d in sorted(days.items()):
        # None: the client never exported; else the day's entries and what became of them.
        d["delivery"] = books.get((day, shop_), {"entries": [], "targets": {}}) if books else None
        d["gaps"] = all_gaps.get((day, shop_), [])
        d["payments"] = [
            {"method": m, "receipts": _shown(p["receipts"], exp), "booked": _shown(p["booked"], exp),
             "journals": sorted(p["journals"]), "difference": _shown(p["receipts"] - p["booked"], exp)}
            for m, p in sorted(d.pop("_payments").items())]
        d["counter_debtor"] = None if counter is None else {
            "debtor": counter, "open": _shown(debtor_open.get((day, shop_), Decimal(0)), exp)}
        d["registers"] = _registers(d.pop("_registers"), closings.get((day, shop_), {}), shop_ in closings["_used"])
        d["complete"] = not (d["counts"]["open"] or d["counts"]["error"] or d["gaps"]
                             or any(Decimal(p["difference"]) for p in d["payments"])
                             or (d["counter_debtor"] and Decimal(d["counter_debtor"]["open"]))
                             or any(not r["complete"] for r in d["registers"]))
        out.append(d)
    totals = {s: sum(d["counts"][s] for d in out) for s in STATUSES}
    return {"client": store.client, "date": date, "store": shop, "days": out, "totals": totals,
            "receipts": sum(totals.values()),
            # Nothing arrived is not complete: a day (or store) asked for that has no receipts is not.
            "complete": bool(out) and all(d["complete"] for d in out)}


def _day(day: str, shop: str) -> dict:
    return {"date": day, "store": shop, "receipts": 0, "counts": {s: 0 for s in STATUSES},
            **{s: [] for s in STATUSES}, "backdated": [], "gaps": [], "_payments": {}, "journals": [],
            "_registers": set()}


def _closings(store: Store, date, shop, days: dict, paid: dict, decimals: int) -> dict:
    """(date, store) → register → the register's closing and its reconciliation (SPEC §11).

    A closing for a day on which no receipt arrived still shows: that day appears with
    no receipts. `_used` names the stores that send closings at all: once a store does,
    a register of it that had receipts and no closing is not closed, and its day not
    complete (a webshop, which closes no register, is not held to it).
    """
    from ..engine.closings import ClosingInvalid, read_closing, reconcile

    out: dict = {"_used": store.stores_with_closings()}
    for cid, shop_, register, day, st, reason, content in store.closings_for_status(date, shop):
        days.setdefault((day, shop_), _day(day, shop_))
        entry = {"register": register, "closing": cid, "status": st, "reason": reason}
        closing = None
        if content:
            try:
                closing = read_closing(json.loads(content, parse_float=Decimal))
            except (ClosingInvalid, ValueError, TypeError, ArithmeticError):
                closing = None  # an unreadable closing in error: its reason says why
        if closing is not None and st != "error":
            r = reconcile(closing, paid.get((day, shop_, register), {}))
            shown = r.as_dict(decimals)
            entry.update(methods=shown["methods"], complete=shown["complete"],
                         missing=_shown(r.missing, Decimal(1).scaleb(-decimals)))
        else:
            entry.update(methods=[], complete=False, missing=None)
        out.setdefault((day, shop_), {})[register] = entry
    return out


def _registers(with_receipts: set, closed: dict, used: bool) -> list[dict]:
    """Per register of the day: its closing's reconciliation, or `not closed`."""
    rows = []
    for register in sorted(with_receipts | set(closed)):
        if register in closed:
            rows.append({"register": register, "closed": True, **closed[register]})
        else:
            rows.append({"register": register, "closed": False, "closing": None, "status": "not closed",
                         "reason": None, "methods": [], "missing": None,
                         # Only a client that sends closings is expected to close every register.
                         "complete": not used})
    return rows


def to_table(report: dict, width: int = 100) -> str:
    """The status report for a person: one block per day and store."""
    import io

    from rich.console import Console
    from rich.padding import Padding
    from rich.table import Table

    out = io.StringIO()
    # markup=False: receipt ids and reasons are text from tills, never rich markup ("[/]" is an id).
    console = Console(file=out, width=width, color_system=None, highlight=False, soft_wrap=True, markup=False)

    def say(text: str) -> None:  # escaped before rich sees it, which would drop some control characters
        console.print(printable(text))
    if not report["days"]:
        where = " ".join(x for x in (report.get("date"), report.get("store")) if x)
        say(("nothing arrived" if where else "no receipts in the ledger")
                      + (f" for {where}" if where else "") + " — not complete")
    for d in report["days"]:
        c = d["counts"]
        todo = [f"{n} {what}" for n, what in (
            (c["open"], "open"), (c["error"], "in error"), (len(d["gaps"]), "number gap(s)"),
            (sum(1 for p in d["payments"] if Decimal(p["difference"])), "payment difference(s)")) if n]
        unreconciled = [r for r in d.get("registers", []) if not r["complete"]]
        if unreconciled:
            todo.append(f"{len(unreconciled)} register(s) not reconciled")
        if d.get("counter_debtor") and Decimal(d["counter_debtor"]["open"]):
            todo.append(f"counter debtor {d['counter_debtor']['debtor']} open by {d['counter_debtor']['open']}")
        mark = "complete" if not todo else "incomplete: " + ", ".join(todo)
        say(f"{d['date'] or '(no date)'} {d['store'] or '(no store)'}: {d['receipts']} receipts: {c['booked']} booked, {c['late']} late, "
                      f"{c['changed']} changed, {c['open']} open, {c['voided']} voided, {c['error']} errors — {mark}")
        for e in d["error"]:
            say(f"  error {e['receipt']}: {e['reason']}")
        for s in ("open", "late", "changed", "voided", "backdated"):
            if d[s]:
                say(f"  {s}: " + ", ".join(d[s]))
        for g in d["gaps"][:MAX_GAPS_SHOWN]:
            span = g["from"] if g["from"] == g["to"] else f"{g['from']}–{g['to']}"
            say(f"  gap: register {g['register'] or '-'} never saw {span} ({g['missing']} missing)")
        if len(d["gaps"]) > MAX_GAPS_SHOWN:
            more = d["gaps"][MAX_GAPS_SHOWN:]
            say(f"  … {len(more)} more gaps ({sum(g['missing'] for g in more)} numbers); "
                          f"--format json lists them all")
        if d["payments"]:
            t = Table(show_header=True, expand=False, pad_edge=False, box=None, padding=(0, 2))
            for col, justify in (("method", "left"), ("receipts", "right"), ("booked", "right"),
                                 ("difference", "right"), ("journal", "left")):
                t.add_column(col, justify=justify)
            for p in d["payments"]:
                t.add_row(printable(p["method"]), p["receipts"], p["booked"], p["difference"], ", ".join(p["journals"]))
            console.print(Padding(t, (0, 0, 0, 2)))
        for r in d.get("registers", []):
            if not r["closed"]:
                if not r["complete"]:
                    say(f"  register {r['register'] or '-'}: not closed (no till closing)")
                continue
            state = r["status"] if r["status"] != "booked" else ("reconciled" if r["complete"] else
                                                                   f"{r['missing']} missing" if Decimal(r["missing"] or 0) > 0
                                                                   else f"{str(-Decimal(r['missing']))} more than the POS counted")
            if r["status"] == "error":
                state = f"error: {r['reason']}"
            say(f"  register {r['register'] or '-'} closing {r['closing']}: {state}")
            if r["methods"]:
                t = Table(show_header=True, expand=False, pad_edge=False, box=None, padding=(0, 2))
                columns = (("method", "method"), ("expected", "expected"), ("counted", "counted"),
                           ("difference", "difference"), ("receipts", "receipts"), ("pos_receipts", "POS receipts"),
                           ("reconciliation", "reconciliation"))
                for _, col in columns:
                    t.add_column(col, justify="left" if col == "method" else "right")
                for m in r["methods"]:
                    t.add_row(*(printable(m[k]) if m[k] is not None else "-" for k, _ in columns))
                console.print(Padding(t, (0, 0, 0, 4)))
                for m in r["methods"]:  # what the POS's expected holds besides the receipts
                    if Decimal(m["float"] or 0) or Decimal(m["movements"] or 0):
                        say(f"    {m['method']}: expected includes float {m['float']} and movements "
                                      f"{m['movements']}")
        if d["journals"]:
            say("  booked: " + ", ".join(f"{j['journal']} {j['debit']}" for j in d["journals"]))
        for line in exported.table_lines(d.get("delivery")):
            say("  " + line)
        say("")
    t = report["totals"]
    say(f"{report['receipts']} receipts: " + ", ".join(
        f"{t[s]} {'errors' if s == 'error' else s}" for s in STATUSES))
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"
