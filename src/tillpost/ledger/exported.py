"""Per business day and store: what is booked, exported (per target), delivered and rejected.

`status` adds this to each day (`delivery`), for the targets the client has exported to:

    {"entries": [ids of the entries booked that day],
     "targets": {"moneybird": {"exported": [entry ids], "not_exported": [entry ids], "exports": [export ids],
                               "delivered": [{entry, reference, package_id, number}],
                               "rejected": [{entry, reference, message, attempts}],
                               "waiting": [{entry, reference, attempts, message}]}}}

An entry belongs to the day of its date and to the stores of its receipts (and till closings). `delivered`,
`rejected` and `waiting` are only there for targets whose exports are delivered into a package one
document at a time (moneybird, exact-online-rest; tillpost.delivery). A client that never exported
has `delivery: null`: nothing here costs a status that has nothing to say.
"""

from __future__ import annotations

from .store import Store


def _chunks(values: list, size: int = 500):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def per_day(store: Store, date: str | None, shop: str | None) -> dict[tuple[str, str], dict]:
    """(date, store) → the day's books as they went out (see the module); {} when nothing was exported."""
    cid = store._cid()
    if store.query("SELECT 1 FROM exports WHERE client = ? LIMIT 1", (cid,)) == []:
        return {}
    sql = ("SELECT DISTINCT e.id, e.date, r.store FROM entries e JOIN entry_receipts er ON er.client = e.client "
           "AND er.entry = e.id JOIN receipts r ON r.client = er.client AND r.kind = er.kind AND r.id = er.receipt "
           "WHERE e.client = ?")
    params: list = [cid]
    if date:
        sql += " AND e.date = ?"
        params.append(date)
    if shop:
        sql += " AND r.store = ?"
        params.append(shop)
    where: dict[int, set[tuple[str, str]]] = {}
    for eid, day, store_ in store.query(sql, params):
        where.setdefault(eid, set()).add((day, store_))
    targets = [t for (t,) in store.query("SELECT DISTINCT target FROM exports WHERE client = ? ORDER BY target",
                                         (cid,))]
    if not targets:
        return {}
    splitters = {t for (t,) in store.query(
        "SELECT DISTINCT x.target FROM exports x JOIN export_documents d ON d.client = x.client AND d.export = x.id "
        "WHERE x.client = ?", (cid,))}
    out: dict[tuple[str, str], dict] = {}
    for eid in sorted(where):
        for day in where[eid]:
            out.setdefault(day, {"entries": [], "targets": {t: _target(t, splitters) for t in targets}})["entries"].append(eid)
    if not targets or not where:
        return out
    ids = sorted(where)
    exported: dict[tuple[str, int], int] = {}  # (target, entry) → export
    documents: dict[tuple[int, int], int] = {}  # (export, document) → entry
    for part in _chunks(ids):
        marks = ",".join("?" * len(part))
        for target, entry, export, document in store.query(
                f"SELECT target, entry, export, document FROM export_entries WHERE client = ? AND entry IN ({marks})",
                (cid, *part)):
            exported[(target, entry)] = export
            documents[(export, document)] = entry
    deliveries: dict[int, dict] = {}  # entry → its document's delivery
    exports = sorted({x for x in exported.values()})
    for part in _chunks(exports):
        marks = ",".join("?" * len(part))
        for export, document, reference, state, package_id, number, message, attempts in store.query(
                "SELECT export, document, reference, state, package_id, number, message, attempts FROM deliveries "
                f"WHERE client = ? AND export IN ({marks}) ORDER BY export, document", (cid, *part)):
            entry = documents.get((export, document))
            if entry is not None:
                deliveries.setdefault(entry, {})[export] = {
                    "entry": entry, "reference": reference, "state": state, "package_id": package_id,
                    "number": number, "message": message, "attempts": attempts}
    for day, books in out.items():
        for target, t in books["targets"].items():
            for entry in books["entries"]:
                export = exported.get((target, entry))
                if export is None:
                    t["not_exported"].append(entry)
                    continue
                t["exported"].append(entry)
                if export not in t["exports"]:
                    t["exports"].append(export)
                d = deliveries.get(entry, {}).get(export)
                if d is None or target not in splitters:
                    continue
                if d["state"] == "accepted":
                    t["delivered"].append({k: d[k] for k in ("entry", "reference", "package_id", "number")})
                elif d["state"] == "rejected":
                    t["rejected"].append({k: d[k] for k in ("entry", "reference", "message", "attempts")})
                else:
                    t["waiting"].append({k: d[k] for k in ("entry", "reference", "attempts", "message")})
            t["exports"].sort()
    return out


def _target(target: str, splitters: set[str]) -> dict:
    t = {"exported": [], "not_exported": [], "exports": []}
    if target in splitters:
        t.update({"delivered": [], "rejected": [], "waiting": []})
    return t


def table_lines(books: dict | None) -> list[str]:
    """The lines `status` prints under a day for what went out (none when nothing is exported)."""
    lines = []
    if not books:
        return lines
    total = len(books["entries"])
    for target, t in books["targets"].items():
        exports = ", ".join(map(str, t["exports"]))
        text = (f"exported: {target} {len(t['exported'])} of {total} entries"
                + (f" (export{'s' if len(t['exports']) > 1 else ''} {exports})" if exports else ""))
        if "delivered" in t:
            text += (f"; delivered {len(t['delivered'])}, rejected {len(t['rejected'])}, "
                     f"waiting {len(t['waiting'])}")
        lines.append(text)
        for r in t.get("rejected", []):
            lines.append(f"error: refused by the package: entry {r['entry']} ({r['reference']}): {r['message']}")
        for w in t.get("waiting", []):
            if w["message"]:
                lines.append(f"waiting: entry {w['entry']} ({w['reference']}): {w['message']}")
    return lines
