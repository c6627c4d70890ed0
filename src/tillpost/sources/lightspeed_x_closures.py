"""Lightspeed Retail X-Series: register closures → till closings (SPEC §11).

X-Series closes a register in two steps ("Register Closing", x-series-api.lightspeedhq.com):
`GET /api/2.0/registers/{id}/payments_summary` gives the payment totals of every payment
type since the register opened — "presented to the user as the 'expected' state of the
register" — and `PUT /api/2.0/registers/{id}/actions/close` closes it with the totals
"representing the actual state of the register": what was counted. No single endpoint
returns both, so a link that closes registers (or records their closing) keeps the three
API payloads of one closure together, one object per closure (a list, or JSON Lines):

    {"register": {…GET /registers/{id} after the close: id, outlet_id, register_close_time…},
     "payments_summary": {"data": {"register_open_time", "register_closure_id",
                                   "register_closure_sequence_number", "payments": [
                                   {"payment_type_id", "payment_type_name", "total"}]}},
     "close": {"payments": [{"payment_type_id", "total"}]}}

The closing's id is the summary's `register_closure_id` (else the register's id and the
closure sequence number); the store is the register's `outlet_id` and the register its
id, as on the sales. The business day is the day the register opened, in the shop's time
zone. The API states neither an opening float nor cash moved in or out, so the closing has
none: its cash counts are the cash payments alone. A payment type with 0 expected and 0
counted is left out (the summary lists every payment type of the account); one counted
but not in the summary, or summed but not counted, is an error that says which.
"""

from __future__ import annotations

from .closing_records import closing_record, each_closing
from .mapping import SourceError, dec, iso, local, parse_time

SOURCE = "lightspeed-x"


def is_closure_document(doc) -> bool:
    return isinstance(doc, dict) and "payments_summary" in doc


def _closures(docs) -> list:
    out = []
    for doc in docs:
        if isinstance(doc, list):
            out.extend(_closures(doc))
        elif is_closure_document(doc):
            out.append(doc)
        elif isinstance(doc, dict) and isinstance(doc.get("register_closures"), list):
            out.extend(_closures(doc["register_closures"]))
    return out


def sale_documents(docs: list) -> list:
    """The documents of an input that are not register closures (the sales)."""
    out = []
    for doc in docs:
        if isinstance(doc, list):
            rest = sale_documents(doc)
            if rest:
                out.append(rest)
        elif not is_closure_document(doc) and not (isinstance(doc, dict) and "register_closures" in doc):
            out.append(doc)
    return out


def _summary(closure: dict) -> dict:
    summary = closure.get("payments_summary")
    if isinstance(summary, dict) and isinstance(summary.get("data"), dict):
        return summary["data"]
    if isinstance(summary, dict):
        return summary
    raise SourceError("its payments_summary is not an object")


def _closure_id(closure: dict) -> str:
    summary = _summary(closure)
    if summary.get("register_closure_id"):
        return str(summary["register_closure_id"])
    register = closure.get("register") if isinstance(closure.get("register"), dict) else {}
    rid, number = register.get("id"), summary.get("register_closure_sequence_number")
    return f"{rid}-{number}" if rid and number not in (None, "") else ""


def register_closures(docs: list, mapper, zone, options: dict):
    """(closing id, closing dict | ClosingSourceError) for each register closure of the input."""
    closures = _closures(docs)
    if not closures:
        return
    yield from each_closing(closures, SOURCE, "Lightspeed X-Series register closure", _closure_id,
                            lambda c: closure_closing(c, mapper, zone, options))


def closure_closing(closure: dict, mapper, zone, options: dict) -> dict:
    problems: list[str] = []
    summary = _summary(closure)
    register = closure.get("register") if isinstance(closure.get("register"), dict) else {}
    if not register.get("id"):
        raise SourceError("it has no register (the GET /registers/{id} payload, with its id and outlet_id)")
    opened = parse_time(summary.get("register_open_time") or register.get("register_open_time"), "register_open_time")
    closed = register.get("register_close_time")
    close = closure.get("close") if isinstance(closure.get("close"), dict) else None
    if close is None or not isinstance(close.get("payments"), list):
        raise SourceError("it has no close payload (the payments the register was closed with)")
    counted = {}
    for p in close["payments"]:
        counted[str(p.get("payment_type_id"))] = dec(p.get("total"), f"counted total of {p.get('payment_type_id')}")
    counts = []
    seen = set()
    for p in summary.get("payments") or ():
        pid = str(p.get("payment_type_id"))
        seen.add(pid)
        name = str(p.get("payment_type_name") or f"payment type {pid}")
        expected = dec(p.get("total"), f"expected total of {name}")
        if pid not in counted:
            if expected:
                problems.append(f"{name} has an expected total of {expected} but the close does not count it")
            continue
        if not expected and not counted[pid]:
            continue
        counts.append((mapper.method(name, problems, (pid,)), expected, counted[pid]))
    for pid, total in counted.items():
        if pid not in seen and total:
            problems.append(f"payment type {pid} is counted ({total}) but not in the payments summary")
    if problems:
        raise SourceError(problems)
    return closing_record(
        id=_closure_id(closure), source=SOURCE, store=str(register.get("outlet_id") or options.get("store") or "?"),
        register=str(register["id"]), date=local(opened, zone).date().isoformat(),
        closed=iso(local(parse_time(closed, "register_close_time"), zone)) if closed else None,
        currency=options.get("currency", "EUR"), counts=counts,
    )

