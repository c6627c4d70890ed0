"""What each page shows, as plain data: the HTML page renders it, its JSON twin under /api/ is it.

Every function reads inside the caller's snapshot (`Store.begin_read`), so a page shows
one state of the ledger however many workers write meanwhile. None of them writes.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as _dt
import json
import re
from decimal import Decimal, InvalidOperation

from ..ledger.process import STATUSES
from ..ledger.status import status
from ..ledger.store import Store
from .days import DayCache, by_date, date_state

RECEIPTS_PER_PAGE = 100
ENTRIES_PER_PAGE = 25
RUNS_PER_PAGE = 50
ERROR_RECEIPTS_SHOWN = 50
LISTS = (*STATUSES, "backdated")


class NotFound(Exception):
    """The page asked for does not exist (or is not the user's to see: the same answer)."""


# -- small helpers --------------------------------------------------------------------------------


def parse_date(text: str) -> str:
    try:
        if len(text) != 10:
            raise ValueError
        return _dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise NotFound(f"'{text}' is not a day (YYYY-MM-DD)") from None


def _age(stamp: str | None, now: _dt.datetime) -> int | None:
    if not stamp:
        return None
    try:
        when = _dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(0, int((now - when).total_seconds()))


def _run_dict(row, now: _dt.datetime) -> dict:
    rid, started, finished, command, selection, counts = row[:6]
    out = {"id": rid, "started": started, "finished": finished, "command": command,
           "selection": _loads(selection), "counts": _loads(counts), "age_seconds": _age(finished or started, now)}
    if len(row) > 6:
        out.update(zip(("input", "rules", "rules_sha256", "version", "ran_by"), row[6:]))
        out["input"] = _loads(out["input"])
    return out


def _loads(text):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _like(q: str) -> str:
    return "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _page(value, pages: int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return 1
    return min(max(n, 1), max(pages, 1))


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:E[+-]?\d+)?(?![\w])")


def reason_group(reason: str | None, receipt: str = "") -> str:
    """What receipts in error have in common: the reason without its amounts, positions and own id."""
    text = reason or "(no reason recorded)"
    if receipt and len(receipt) > 2:
        text = text.replace(receipt, "‹receipt›")
    return _NUMBER.sub("…", text)


# -- the overview ---------------------------------------------------------------------------------


def client_ids(store: Store) -> dict[str, tuple[int, str | None]]:
    """name → (id, counter debtor) of every client in the ledger."""
    if store.version() == 0:
        return {}
    return {name: (cid, counter) for cid, name, counter in
            store.query("SELECT id, name, counter_debtor FROM clients ORDER BY name")}


def last_runs(store: Store, now: _dt.datetime) -> dict[int, dict]:
    rows = store.query(
        "SELECT r.client, r.id, r.started, r.finished, r.command, r.selection, r.counts FROM runs r "
        "JOIN (SELECT client, MAX(id) AS id FROM runs GROUP BY client) m ON m.client = r.client AND m.id = r.id")
    return {row[0]: _run_dict(row[1:], now) for row in rows}


def rejected_deliveries(store: Store, ids: dict) -> dict[str, int]:
    """Per client: the documents the accounting package refused, waiting for a retry (SPEC §14)."""
    names = {cid: name for name, (cid, _) in ids.items()}
    rows = store.query("SELECT client, count(*) FROM deliveries WHERE state = 'rejected' GROUP BY client")
    counts = {names[cid]: n for cid, n in rows if cid in names}
    return {name: counts.get(name, 0) for name in ids}


def overview(store: Store, names: list[str], cache: DayCache, configured: dict[str, str | None],
             now: _dt.datetime, delivery=rejected_deliveries) -> dict:
    """Every client the user sees: its last run, its days not complete, what is open and in error.

    `configured` maps the workspace's clients to why they cannot run (None: they can).
    `delivery` gives the rejected deliveries per client once export and delivery exist (§14)."""
    ids = client_ids(store)
    runs = last_runs(store, now)
    rejected = delivery(store, ids) if delivery else {}
    wanted = {ids[n][0]: (runs[ids[n][0]]["id"] if ids[n][0] in runs else 0, ids[n][1]) for n in names if n in ids}
    states = cache.get_many(store, wanted)
    out = []
    for name in names:
        cid, counter = ids.get(name, (None, None))
        row = {"client": name, "in_workspace": name in configured, "problem": configured.get(name),
               "last_run": None, "receipts": 0, "counts": {s: 0 for s in STATUSES}, "days": 0,
               "days_incomplete": 0, "days_with_errors": 0, "latest_incomplete": None, "oldest_incomplete": None,
               "latest_day": None, "latest_day_state": "nothing", "rejected_deliveries": rejected.get(name)}
        if cid is not None:
            row["last_run"] = runs.get(cid)
            days = states[cid]
            dates = by_date(days)
            bad = sorted(d for d, stores in dates.items() if date_state(stores) != "complete")
            row["days"] = len(dates)
            row["days_incomplete"] = len(bad)
            row["days_with_errors"] = sum(1 for d in bad if date_state(dates[d]) == "errors")
            row["latest_incomplete"] = bad[-1] if bad else None
            row["oldest_incomplete"] = bad[0] if bad else None
            if dates:
                latest = max(dates)
                row["latest_day"], row["latest_day_state"] = latest, date_state(dates[latest])
            for d in days.values():
                for s in STATUSES:
                    row["counts"][s] += d.counts[s]
            row["receipts"] = sum(row["counts"].values())
        out.append(row)
    return {"clients": out, "as_of": now.isoformat(timespec="seconds")}


# -- a client: its calendar, its turnover ---------------------------------------------------------


def _month(text: str | None, fallback: str) -> tuple[int, int]:
    for value in (text, fallback):
        if value and re.fullmatch(r"\d{4}-\d{2}", value):
            y, m = int(value[:4]), int(value[5:])
            if 1 <= m <= 12 and 1 <= y <= 9999:
                return y, m
    return _dt.date.today().year, _dt.date.today().month


def client_page(store: Store, name: str, cache: DayCache, month: str | None, now: _dt.datetime,
                in_workspace: bool, problem: str | None) -> dict:
    ids = client_ids(store)
    cid, counter = ids.get(name, (None, None))
    run = last_runs(store, now).get(cid) if cid is not None else None
    days = cache.get(store, cid, run["id"] if run else 0, counter) if cid is not None else {}
    dates = by_date(days)
    latest = max(dates) if dates else now.date().isoformat()
    year, mon = _month(month, latest[:7])
    first = _dt.date(year, mon, 1)
    weeks = []
    for week in _calendar.Calendar(firstweekday=0).monthdatescalendar(year, mon):
        row = []
        for day in week:
            iso = day.isoformat()
            stores = dates.get(iso, [])
            row.append({"date": iso, "day": day.day, "in_month": day.month == mon, "state": date_state(stores),
                        "receipts": sum(d.receipts for d in stores),
                        "stores": [{"store": d.store, "state": d.state, "receipts": d.receipts,
                                    "reasons": d.reasons()} for d in stores]})
        weeks.append(row)
    prev_month = (first - _dt.timedelta(days=1)).strftime("%Y-%m")
    next_month = (first + _dt.timedelta(days=32)).strftime("%Y-%m")
    incomplete = [{"date": d, "state": date_state(s), "stores": [
        {"store": x.store, "state": x.state, "reasons": x.reasons()} for x in s if not x.complete]}
        for d, s in sorted(dates.items(), reverse=True) if date_state(s) != "complete"]
    counts = {s: sum(d.counts[s] for d in days.values()) for s in STATUSES}
    month_days = [w["date"] for week in weeks for w in week if w["in_month"]]
    return {"client": name, "in_workspace": in_workspace, "problem": problem, "in_ledger": cid is not None,
            "last_run": run, "counts": counts, "receipts": sum(counts.values()),
            "month": first.strftime("%Y-%m"), "month_name": first.strftime("%B %Y"),
            "previous_month": prev_month, "next_month": next_month, "weeks": weeks,
            "incomplete_days": incomplete,
            "turnover": turnover(store, cid, month_days[0], month_days[-1]) if cid is not None else
            {"dates": month_days, "methods": [], "series": {}}}


def turnover(store: Store, client_id: int, since: str, until: str) -> dict:
    """What the booked receipts were paid, per day and payment method (the chart)."""
    dates = []
    day = _dt.date.fromisoformat(since)
    while day.isoformat() <= until:
        dates.append(day.isoformat())
        day += _dt.timedelta(days=1)
    sums: dict[str, dict[str, Decimal]] = {}
    for date, payments in store.query(
            "SELECT date, payments FROM receipts WHERE client = ? AND kind = 'receipt' AND date >= ? AND date <= ? "
            "AND status IN ('booked', 'late', 'changed')", (client_id, since, until)):
        for method, amount, _journal in json.loads(payments):
            try:
                value = Decimal(str(amount))
            except (InvalidOperation, ValueError):
                continue
            if value.is_finite():
                per_day = sums.setdefault(method, {})
                per_day[date] = per_day.get(date, Decimal(0)) + value
    methods = sorted(sums)
    return {"dates": dates, "methods": methods,
            "series": {m: [str(sums[m].get(d, Decimal(0))) for d in dates] for m in methods}}


# -- a day ----------------------------------------------------------------------------------------


def day_report(store: Store, date: str, shop: str | None) -> dict:
    """Exactly what `tillpost status --client NAME --date D [--store S] --format json` prints."""
    report = status(store, date, shop)
    if not report["days"]:
        raise NotFound(f"nothing arrived on {date}" + (f" for store {shop}" if shop else ""))
    return report


def receipt_list(store: Store, date: str, shop: str, which: str, q: str = "", page=1) -> dict:
    """One page of a day's receipts in a status (or back-dated), searched by id and number."""
    if which not in LISTS:
        raise NotFound(f"no list '{which}'")
    where = "client = ? AND kind = 'receipt' AND date = ? AND store = ?"
    params: list = [store.client_id, date, shop]
    if which == "backdated":
        where += " AND created IS NOT NULL AND substr(created, 1, 10) > date"
    else:
        where += " AND status = ?"
        params.append(which)
    if q:
        where += " AND (LOWER(id) LIKE ? ESCAPE '\\' OR LOWER(number) LIKE ? ESCAPE '\\')"
        params += [_like(q), _like(q)]
    total = store.query(f"SELECT COUNT(*) FROM receipts WHERE {where}", params)[0][0]
    pages = max(1, -(-total // RECEIPTS_PER_PAGE))
    n = _page(page, pages)
    rows = store.query(f"SELECT id, number, register, status, reason, created, payments FROM receipts WHERE {where} "
                       f"ORDER BY id LIMIT {RECEIPTS_PER_PAGE} OFFSET {(n - 1) * RECEIPTS_PER_PAGE}", params)
    return {"date": date, "store": shop, "list": which, "q": q, "page": n, "pages": pages, "total": total,
            "receipts": [{"receipt": rid, "number": number, "register": register, "status": st, "reason": reason,
                          "created": created, "payments": [{"method": m, "amount": a, "journal": j}
                                                           for m, a, j in _loads(payments) or []]}
                         for rid, number, register, st, reason, created, payments in rows]}


def day_entries(store: Store, date: str, shop: str | None, page=1) -> dict:
    """One page of the entries dated that day (holding receipts of the store), with their lines and
    the corrections that point at them or that they are."""
    where = "e.client = ? AND e.date = ?"
    params: list = [store.client_id, date]
    if shop is not None:
        # From each entry to its receipts, then each by the receipts' unique index (client, kind, id).
        where += (" AND EXISTS (SELECT 1 FROM entry_receipts er WHERE er.client = e.client AND er.entry = e.id "
                  "AND EXISTS (SELECT 1 FROM receipts r WHERE r.client = er.client AND "
                  "r.kind IN ('receipt', 'closing') AND r.id = er.receipt AND r.store = ?))")
        params.append(shop)
    total = store.query(f"SELECT COUNT(*) FROM entries e WHERE {where}", params)[0][0]
    pages = max(1, -(-total // ENTRIES_PER_PAGE))
    n = _page(page, pages)
    ids = [i for (i,) in store.query(f"SELECT e.id FROM entries e WHERE {where} ORDER BY e.id "
                                     f"LIMIT {ENTRIES_PER_PAGE} OFFSET {(n - 1) * ENTRIES_PER_PAGE}", params)]
    return {"date": date, "store": shop, "page": n, "pages": pages, "total": total, "entries": entries(store, ids)}


def entries(store: Store, ids: list[int]) -> list[dict]:
    found = store.entries(ids) if ids else []
    if not found:
        return []
    by = {}
    lo, hi = min(ids), max(ids)
    for entry, original in store.query("SELECT entry, original FROM corrections WHERE client = ? AND original >= ? "
                                       "AND original <= ? ORDER BY entry", (store.client_id, lo, hi)):
        by.setdefault(original, []).append(entry)
    for e in found:
        e["corrected_by"] = by.get(e["id"], [])
        e["debit"] = str(sum((Decimal(l["debit"]) for l in e["lines"]), Decimal(0)))
        e["credit"] = str(sum((Decimal(l["credit"]) for l in e["lines"]), Decimal(0)))
    return found


def entry_page(store: Store, number: str) -> dict:
    try:
        eid = int(number)
    except ValueError:
        raise NotFound(f"no entry {number}") from None
    found = entries(store, [eid]) if 0 < eid < 2**62 else []
    if not found:
        raise NotFound(f"no entry {number}")
    e = found[0]
    heads = store.entry_headers([*e["corrects"], *e["corrected_by"]])
    e["corrects"] = [heads.get(i, {"id": i}) for i in e["corrects"]]
    e["corrected_by"] = [heads.get(i, {"id": i}) for i in e["corrected_by"]]
    statuses = {}
    if e["receipts"]:
        for part in range(0, len(e["receipts"]), 500):
            chunk = e["receipts"][part:part + 500]
            for rid, kind, st in store.query(
                    f"SELECT id, kind, status FROM receipts WHERE client = ? AND id IN ({','.join('?' * len(chunk))})",
                    (store.client_id, *chunk)):
                statuses[(rid, kind)] = st
    e["receipts"] = [{"receipt": r, "kind": "closing" if (r, "closing") in statuses and (r, "receipt") not in statuses
                      else "receipt", "status": statuses.get((r, "receipt"), statuses.get((r, "closing")))}
                     for r in e["receipts"]]
    run = store.query("SELECT id, started, finished, command, selection, counts FROM runs WHERE client = ? AND id = ?",
                      (store.client_id, e["run"]))
    e["run_info"] = _run_dict(run[0], _dt.datetime.now(_dt.timezone.utc)) if run else None
    return e


# -- a receipt ------------------------------------------------------------------------------------


RECEIPT_COLUMNS = ("pk", "kind", "source", "id", "store", "register", "number", "date", "created", "hash", "status",
                   "reason", "booked_as", "booked_hash", "payments", "content", "detail", "first_run", "last_run")


def receipt_page(store: Store, rid: str, kind: str = "receipt") -> dict:
    rows = store.query(f"SELECT {', '.join(RECEIPT_COLUMNS)} FROM receipts WHERE client = ? AND kind = ? AND id = ?",
                       (store.client_id, kind, rid))
    if not rows:
        raise NotFound(f"no {kind} {rid}")
    r = dict(zip(RECEIPT_COLUMNS, rows[0]))
    pk = r.pop("pk")
    r["payments"] = [{"method": m, "amount": a, "journal": j} for m, a, j in _loads(r["payments"]) or []]
    r["content_stored"] = r["content"]  # the exact text the ledger keeps (numbers as the POS wrote them)
    r["content"] = exact_json(r["content"])
    r["detail"] = exact_json(r["detail"])
    r["backdated"] = bool(r["created"] and r["date"] and r["created"][:10] > r["date"])
    now = _dt.datetime.now(_dt.timezone.utc)
    runs = {row[0]: _run_dict(row, now) for row in store.query(
        "SELECT id, started, finished, command, selection, counts FROM runs WHERE client = ? AND id IN "
        "(SELECT run FROM postings WHERE client = ? AND receipt = ?) OR (client = ? AND id IN (?, ?))",
        (store.client_id, store.client_id, pk, store.client_id, r["first_run"], r["last_run"]))}
    history = []
    for run, legs in store.query("SELECT run, legs FROM postings WHERE client = ? AND receipt = ? ORDER BY run",
                                 (store.client_id, pk)):
        history.append({"run": runs.get(run, {"id": run}), "postings": [
            {"entry": g["e"], "kind": g["t"], "journal": g["j"], "mode": g["m"], "key": g["k"],
             "legs": [{"account": a, "debtor": d, "vat": v, "amount": x} for a, d, v, x in g["l"]]}
            for g in json.loads(legs)]})
    seen = {h["run"]["id"] for h in history}
    for which in ("first_run", "last_run"):
        if r[which] not in seen:
            history.append({"run": runs.get(r[which], {"id": r[which]}), "postings": [], "note": which})
            seen.add(r[which])
    history.sort(key=lambda h: h["run"]["id"])
    entry_ids = [i for (i,) in store.query("SELECT entry FROM entry_receipts WHERE client = ? AND receipt = ? "
                                           "ORDER BY entry", (store.client_id, rid))]
    return {"client": store.client, "receipt": r, "history": history, "entries": entries(store, entry_ids)}


class _Number(str):
    """A JSON number's text, kept as written: a receipt's amounts never pass through a float."""


def exact_json(text: str | None):
    """Parsed JSON whose numbers are their text (the receipt schema reads "3.25" and 3.25 alike)."""
    if text is None:
        return None
    try:
        return json.loads(text, parse_float=str, parse_int=_int_or_text, parse_constant=str)
    except ValueError:
        return text


def _int_or_text(text: str):
    return int(text) if len(text) < 19 else text


def pretty_json(text: str | None) -> str | None:
    """The stored content laid out for reading, every number exactly as stored."""
    if text is None:
        return None
    try:
        value = json.loads(text, parse_float=_Number, parse_int=_Number, parse_constant=_Number)
    except ValueError:
        return text

    def out(v, depth: int) -> str:
        pad, inner = "  " * depth, "  " * (depth + 1)
        if isinstance(v, _Number):
            return str.__str__(v)
        if isinstance(v, dict):
            if not v:
                return "{}"
            items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {out(x, depth + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}"
        if isinstance(v, list):
            if not v:
                return "[]"
            return "[\n" + ",\n".join(f"{inner}{out(x, depth + 1)}" for x in v) + f"\n{pad}]"
        return json.dumps(v, ensure_ascii=False)

    return out(value, 0)


# -- errors and runs ------------------------------------------------------------------------------


def errors_page(store: Store, names: list[str]) -> dict:
    """The receipts in error of the clients given, grouped by what their reasons have in common."""
    ids = client_ids(store)
    wanted = {ids[n][0]: n for n in names if n in ids}
    groups: dict[str, dict] = {}
    if wanted:
        for cid, rid, reason, date, shop in store.query(
                "SELECT client, id, reason, date, store FROM receipts WHERE status = 'error' AND kind = 'receipt' "
                f"AND client IN ({','.join('?' * len(wanted))}) ORDER BY client, date, id", list(wanted)):
            key = reason_group(reason, rid)
            g = groups.setdefault(key, {"reason": key, "example": reason, "count": 0, "clients": {}})
            g["count"] += 1
            c = g["clients"].setdefault(wanted[cid], {"client": wanted[cid], "count": 0, "dates": [], "receipts": []})
            c["count"] += 1
            if date not in c["dates"]:
                c["dates"].append(date)
            if len(c["receipts"]) < ERROR_RECEIPTS_SHOWN:
                c["receipts"].append({"receipt": rid, "date": date, "store": shop, "reason": reason})
    out = sorted(groups.values(), key=lambda g: (-g["count"], g["reason"]))
    for g in out:
        g["clients"] = sorted(g["clients"].values(), key=lambda c: (-c["count"], c["client"]))
    return {"reasons": out, "errors": sum(g["count"] for g in out)}


def error_ids(store: Store, date: str | None = None, shop: str | None = None, group: str | None = None) -> list[str]:
    """The ids of one client's receipts in error (of a day and store; of a reason group)."""
    sql = "SELECT id, reason FROM receipts WHERE client = ? AND kind = 'receipt' AND status = 'error'"
    params: list = [store.client_id]
    if date:
        sql += " AND date = ?"
        params.append(date)
    if shop:
        sql += " AND store = ?"
        params.append(shop)
    return [rid for rid, reason in store.query(sql + " ORDER BY id", params)
            if group is None or reason_group(reason, rid) == group]


def runs_page(store: Store, page=1) -> dict:
    total = store.query("SELECT COUNT(*) FROM runs WHERE client = ?", (store.client_id,))[0][0]
    pages = max(1, -(-total // RUNS_PER_PAGE))
    n = _page(page, pages)
    now = _dt.datetime.now(_dt.timezone.utc)
    rows = store.query("SELECT id, started, finished, command, selection, counts, input, rules, rules_sha256, "
                       "version, ran_by FROM runs WHERE client = ? ORDER BY id DESC "
                       f"LIMIT {RUNS_PER_PAGE} OFFSET {(n - 1) * RUNS_PER_PAGE}", (store.client_id,))
    return {"client": store.client, "page": n, "pages": pages, "total": total,
            "runs": [_run_dict(r, now) for r in rows]}


__all__ = ["LISTS", "NotFound", "client_page", "day_entries", "day_report", "entry_page", "error_ids",
           "errors_page", "overview", "receipt_list", "receipt_page", "reason_group", "runs_page"]
