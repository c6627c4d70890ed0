"""Lightspeed Retail (R-Series): register counts → till closings (SPEC §11).

Reads what the API V3 returns for a register's closing count and the cash moved in
and out of its drawer, in the same input as the sales (the `lightspeed-retail`
source reads both):

- `GET /API/V3/Account/{accountID}/RegisterCount.json?load_relations=["Register",
  "RegisterCountAmounts.PaymentType"]` (or the `RegisterCount` that
  `POST …/Register/{registerID}/close.json` answers): one `RegisterCount` per
  closing, with `openTime`, `createTime` (when the count was submitted: the
  closing) and a `RegisterCountAmount` per payment type: `calculated` (what the
  system says the register should have) and `actual` (the physical count).
- `GET /API/V3/Account/{accountID}/RegisterWithdraw.json?load_relations=["PaymentType"]`:
  every add and payout (`amount` positive for adds and opening counts, negative for
  payouts and drops). "The opening count for a register is a positive
  RegisterWithdraw", included in the calculated amounts.

For each count: the withdraw of the register at its `openTime` is the opening float
(of that withdraw's payment type: the float's method); the other withdraws of the
register after `openTime` up to `createTime` are its movements. R-Series has one
kind of payout for everything, so a movement is a pay-in or a payout by its sign,
unless the rule file names its kind by the note: `source lightspeed-retail movement
"Afstorting bank" -> deposit`. A payment type whose calculated and actual amounts
are both 0 is left out (R-Series lists every payment type). The business day is the
day the register was opened, in the shop's time zone; the store is the register's
`shopID` (with `Register` loaded) or option `store`.
"""

from __future__ import annotations

from .closing_records import closing_record, each_closing, movement_kind
from .mapping import SourceError, as_list, dec, dec_or, iso, local, parse_time

SOURCE = "lightspeed-retail"


def is_count_document(doc) -> bool:
    return isinstance(doc, dict) and ("RegisterCount" in doc or "RegisterWithdraw" in doc
                                      or "registerCountID" in doc or "registerWithdrawID" in doc)


def sale_documents(docs: list) -> list:
    """The documents of an input that are not register counts or withdraws (the sales)."""
    out = []
    for doc in docs:
        if isinstance(doc, list):
            rest = sale_documents(doc)
            if rest:
                out.append(rest)
        elif not is_count_document(doc):
            out.append(doc)
        elif "Sale" in doc:  # a merged export: its sales stay, its counts are read apart
            out.append({"Sale": doc["Sale"]})
    return out


def _collect(doc, counts: list, withdraws: list) -> None:
    if isinstance(doc, list):
        for item in doc:
            _collect(item, counts, withdraws)
    elif isinstance(doc, dict):
        if "registerCountID" in doc:
            counts.append(doc)
        elif "registerWithdrawID" in doc:
            withdraws.append(doc)
        else:
            counts.extend(as_list(doc.get("RegisterCount")))
            withdraws.extend(as_list(doc.get("RegisterWithdraw")))


def register_counts(docs: list, mapper, zone, options: dict):
    """(closing id, closing dict | ClosingSourceError) for each RegisterCount of the input."""
    counts: list = []
    withdraws: list = []
    for doc in docs:
        _collect(doc, counts, withdraws)
    if not counts:
        return
    yield from each_closing(counts, SOURCE, "Lightspeed Retail register count",
                            lambda c: str(c.get("registerCountID") or ""),
                            lambda c: count_closing(c, withdraws, mapper, zone, options))


def _type_name(row: dict) -> str:
    pt = row.get("PaymentType") if isinstance(row.get("PaymentType"), dict) else {}
    return str(pt.get("name") or pt.get("code") or f"paymentTypeID {row.get('paymentTypeID')}")


def count_closing(count: dict, withdraws: list, mapper, zone, options: dict) -> dict:
    problems: list[str] = []
    register = str(count.get("registerID") or "")
    if not register or register == "0":
        raise SourceError("it has no registerID")
    opened = parse_time(count.get("openTime"), "openTime")
    closed = parse_time(count.get("createTime"), "createTime")
    reg = count.get("Register") if isinstance(count.get("Register"), dict) else {}
    store = str(reg.get("shopID") or options.get("store") or "1")

    counted = []
    for row in as_list((count.get("RegisterCountAmounts") or {}).get("RegisterCountAmount")
                       if isinstance(count.get("RegisterCountAmounts"), dict) else count.get("RegisterCountAmounts")):
        where = f"RegisterCountAmount {row.get('registerCountAmountID') or '?'}"
        expected = dec(row.get("calculated"), f"{where} calculated")
        actual = dec(row.get("actual"), f"{where} actual")
        if not expected and not actual:
            continue
        counted.append((mapper.method(_type_name(row), problems), expected, actual))

    opening = None
    float_method = None
    movements = []
    for w in withdraws:
        if str(w.get("registerID") or "") != register:
            continue
        at = parse_time(w.get("createTime"), f"RegisterWithdraw {w.get('registerWithdrawID')} createTime")
        amount = dec_or(w, "amount", what=f"RegisterWithdraw {w.get('registerWithdrawID')} amount")
        if at == opened and amount > 0 and opening is None:
            opening, float_method = amount, mapper.method(_type_name(w), problems)
        elif opened < at <= closed and amount:
            note = str(w.get("notes") or "")
            method = mapper.method(_type_name(w), problems)
            movements.append((movement_kind(mapper, note, amount, problems), method, amount, note))
    if problems:
        raise SourceError(problems)
    return closing_record(
        id=str(count["registerCountID"]), source=SOURCE, store=store, register=register,
        date=local(opened, zone).date().isoformat(), closed=iso(local(closed, zone)),
        currency=options.get("currency", "EUR"), counts=counted, movements=movements,
        float_opening=opening, float_method=float_method,
    )
