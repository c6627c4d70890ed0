"""Lightspeed Restaurant K-Series: the financial API's sales → normalized receipts.

Reads what `GET /f/finance/{businessLocationId}/dailyFinancials`, `…/financials/{from}/{to}`
or `GET /f/v2/business-location/{id}/sales-daily` return
(`{"businessName", "nextStartOfDayAsIso8601", "businessLocationId", "sales": [ … ]}`),
a list of those, or JSON Lines of them.

- The close time is `timeOfCloseAndPaid`, `timeofCloseAndPaid` or `timeClosed`, as the
  endpoints' docs spell it.
- The business day ends at the restaurant's start of day, not at midnight:
  `nextStartOfDayAsIso8601` ("2026-11-21T05:30:00+01:00") says when, so a sale
  closed at 01:30 belongs to the day before. The time zone is that timestamp's
  offset, or option `timezone`.
- `type` SALE and REFUND are completed (a refund's amounts are negative); VOID, or
  `cancelled`, is voided.
- A sales line charges `totalNetAmountWithTax` (tax-inclusive businesses), of
  which `serviceCharge` is the service charge: that becomes a line of its own,
  category `service-charge`, with the line's VAT — or outside VAT when the line's
  `taxAmount` is the VAT of the goods alone (the POS did not tax the charge, and a
  receipt's printed VAT must agree with its rates). The line's `taxAmount` is
  unrounded; the VAT as charged is those summed per VAT name, rounded once. The
  VAT name is mapped from `taxCode` or `taxRatePercentage`; the category from
  `accountingGroup.name`; the cost from `unitCostPrice`.
- A payment is `netAmountWithTax` plus its `tip`; the tip is a line of category
  `tip`, outside VAT. A payment's type is mapped from its `description` or `code`
  (`source lightspeed-k payment "IKGIFT" -> giftcard`); `ACCOUNTS_RECEIVABLE`
  payments are on account. A gift card sold is a negative payment onto the gift
  card (no sales line, per Lightspeed's accounting guide): it becomes a line of
  category `giftcard`, outside VAT.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal

from . import each_record, load_json
from .mapping import (
    GIFTCARD, SERVICE_CHARGE, TIP, ZERO, SourceError, cents, dec, dec_or, iso, line, line_gross, local, parse_time,
    printed_vat, text,
)

SOURCE = "lightspeed-k"
CLOSE_TIMES = ("timeOfCloseAndPaid", "timeofCloseAndPaid", "timeClosed")
SIX = Decimal("0.000001")


def convert(data: bytes, origin: str, mapper, options: dict):
    days = (pair for doc in load_json(data, origin) for pair in _sales(doc, options, origin))
    return each_record(days, SOURCE, "Lightspeed K-Series receipt", "receiptId", _receipt_id,
                       lambda pair: sale_receipt(pair[1], pair[0], mapper, options))


def _receipt_id(pair) -> str:
    _, sale = pair
    return str(sale.get("receiptId") or sale.get("accountFiscId") or "")


class BusinessDay:
    """Turns a close time into the business day, given when the next business day starts."""

    def __init__(self, next_start: str | None, options: dict, origin: str, location=None):
        from . import time_zone

        self.location = location  # businessLocationId: the store
        self.zone = None
        self.cutoff = _dt.timedelta(0)
        start = parse_time(next_start, "nextStartOfDayAsIso8601") if next_start else None
        if "timezone" in options or start is None or start.tzinfo is None:
            self.zone = time_zone(options, origin)
        else:
            self.zone = start.tzinfo
        if start is not None:
            start = local(start, self.zone)
            self.cutoff = _dt.timedelta(hours=start.hour, minutes=start.minute, seconds=start.second)
        elif "day_starts" in options:
            h, _, m = options["day_starts"].partition(":")
            self.cutoff = _dt.timedelta(hours=int(h), minutes=int(m or 0))

    def of(self, moment: _dt.datetime) -> tuple[_dt.date, _dt.datetime]:
        here = local(moment, self.zone)
        return (here - self.cutoff).date(), here


def _sales(doc, options: dict, origin: str):
    if isinstance(doc, list):
        for item in doc:
            yield from _sales(item, options, origin)
        return
    if isinstance(doc, dict) and "sales" in doc:
        day = BusinessDay(doc.get("nextStartOfDayAsIso8601"), options, origin, doc.get("businessLocationId"))
        for sale in doc["sales"] or ():
            yield day, sale
        return
    yield BusinessDay(None, options, origin), doc


def _status(sale: dict) -> str:
    kind = str(sale.get("type") or "SALE").upper()
    if sale.get("cancelled") is True or kind in ("VOID", "VOIDED", "CANCELLED"):
        return "voided"
    if kind in ("SALE", "REFUND"):
        return "completed"
    raise SourceError(f"type {sale.get('type')!r} is not a sale, refund or void")


def _quantity_and_price(q: Decimal, list_price: Decimal) -> tuple[Decimal, Decimal, str]:
    """The receipt's quantity and unit price for a line that charges `list_price` in all.

    The API gives line totals; a unit price that does not divide out exactly is
    not invented: the line is then 1 × the total, its quantity in the description."""
    if q:
        unit = list_price / q
        if unit == unit.quantize(SIX):
            return q, unit.normalize(), ""
    return Decimal(1), list_price, f"{q.normalize()} × " if q else ""


def sale_receipt(sale: dict, day: BusinessDay, mapper, options: dict) -> dict:
    problems: list[str] = []
    status = _status(sale)
    # The docs spell the close time three ways (dailyFinancials, financials, sales-daily)
    closed = next((sale[k] for k in CLOSE_TIMES if sale.get(k)), None) or sale.get("timeOfOpening") \
        or sale.get("timeofOpening")
    date, closed_local = day.of(parse_time(closed, "timeOfCloseAndPaid"))
    opened = sale.get("timeofOpening") or sale.get("timeOfOpening") or closed

    incl = True
    lines: list[dict] = []
    line_tax: dict[str, Decimal] = {}
    for i, sl in enumerate(sale.get("salesLines") or ()):
        where = f"sales line {sl.get('id') or i + 1}"
        for tl in sl.get("taxLines") or ():
            if isinstance(tl, dict) and tl.get("taxIncluded") is False:
                incl = False
        q = dec(sl.get("quantity", "1"), f"{where} quantity")
        with_tax = dec(sl.get("totalNetAmountWithTax"), f"{where} totalNetAmountWithTax")
        without_tax = dec_or(sl, "totalNetAmountWithoutTax", None, f"{where} totalNetAmountWithoutTax")
        service = dec_or(sl, "serviceCharge", what=f"{where} serviceCharge")
        rate = dec_or(sl, "taxRatePercentage", None, f"{where} taxRatePercentage")
        vat = mapper.vat(str(sl.get("taxCode") or "") or None, rate.normalize() if rate is not None else None, problems)
        tax = dec_or(sl, "taxAmount", what=f"{where} taxAmount")
        line_tax[vat] = line_tax.get(vat, ZERO) + tax
        charged = with_tax if incl or without_tax is None else without_tax
        goods = charged - service
        list_price = dec_or(sl, "menuListPrice", goods, f"{where} menuListPrice")
        discount = list_price - goods
        quantity, unit_price, prefix = _quantity_and_price(q, list_price)
        group = sl.get("accountingGroup") if isinstance(sl.get("accountingGroup"), dict) else {}
        cost = dec_or(sl, "unitCostPrice", None)
        name = str(sl.get("nameOverride") or sl.get("name") or "")
        lines.append(line(quantity, unit_price, vat, category=mapper.category(str(group.get("name") or "")),
                          sku=str(sl.get("sku") or ""), description=prefix + name, discount=cents(discount),
                          cost=(cost * q / quantity) if cost else None))
        if service:
            service_vat = vat
            if incl and rate is not None:
                part = rate / (100 + rate)
                if abs(tax - goods * part) < abs(tax - charged * part):  # the goods' VAT alone
                    service_vat = mapper.outside_vat("a service charge the POS does not tax", problems)
            lines.append(line(Decimal(1), service, service_vat, category=mapper.category(SERVICE_CHARGE),
                              description=f"Service charge {name}".strip()))
    vat_printed = {name: cents(amount) for name, amount in line_tax.items()}

    payments: list[dict] = []
    for j, p in enumerate(sale.get("payments") or ()):
        where = f"payment {p.get('fiscId') or j + 1}"
        amount = dec(p.get("netAmountWithTax"), f"{where} netAmountWithTax")
        tip = dec_or(p, "tip", what=f"{where} tip")
        code, description = str(p.get("code") or ""), str(p.get("description") or "")
        words = f"{code} {description}".lower()
        if amount < 0 and ("gift" in words or "cadeau" in words) and status == "completed" and \
                str(sale.get("type") or "SALE").upper() == "SALE":
            lines.append(line(Decimal(1), -amount, mapper.outside_vat("a gift card sold", problems),
                              category=mapper.category(GIFTCARD), sku=str(p.get("externalReference") or ""),
                              description=f"{description or code} sold"))
            continue
        if tip:
            lines.append(line(Decimal(1), tip, mapper.outside_vat("a tip", problems), category=mapper.category(TIP),
                              description="Tip"))
        type_name = description or code or str(p.get("type") or "")
        payments.append({"method": mapper.method(type_name, problems, (code, str(p.get("type") or ""))),
                         "amount": text(amount + tip)})

    total = sum((line_gross(ln) for ln in lines), ZERO) + (ZERO if incl else sum(vat_printed.values(), ZERO))
    paid = sum((Decimal(p["amount"]) for p in payments), ZERO)
    if status == "completed" and total != paid:
        # an export asked for without its lines or payments says so first
        missing = [key for key in ("salesLines", "payments") if key not in sale]
        for key in missing:
            how = "fetch the financials with `include=payments`" if key == "payments" else \
                "fetch the sales with their lines"
            problems.append(f"the sale has no {key}: the export left them out; {how}")
        problems.append(f"its payments {paid} do not match its sales lines {total} (not corrected)")
    if problems and status == "completed":
        raise SourceError(problems)

    receipt = {
        "id": str(sale.get("receiptId") or sale.get("accountFiscId")),
        "number": str(sale.get("externalFiscalNumber") or sale.get("receiptId") or sale.get("accountFiscId")),
        "source": SOURCE,
        "store": str(options.get("store") or day.location or sale.get("businessLocationId") or "1"),
    }
    if sale.get("deviceName") or sale.get("deviceId"):
        receipt["register"] = str(sale.get("deviceName") or sale.get("deviceId"))
    receipt.update({"date": date.isoformat(), "created": iso(local(parse_time(opened, "timeofOpening"), day.zone)),
                    "status": status, "currency": options.get("currency", _currency(sale)),
                    "prices_include_vat": incl})
    consumer = next((p.get("consumer") for p in sale.get("payments") or () if isinstance(p.get("consumer"), dict)
                     and p.get("consumer")), None)
    if consumer:
        cid = str(consumer.get("id") or consumer.get("customerId") or "")
        name = " ".join(x for x in (consumer.get("firstName"), consumer.get("lastName")) if x) \
            or consumer.get("companyName") or ""
        if cid:
            receipt["customer"] = {"id": cid, "debtor": str(consumer.get("accountNumber") or cid)}
            if name:
                receipt["customer"]["name"] = name
    receipt["lines"] = lines
    if vat_printed:
        receipt["vat"] = printed_vat(vat_printed)
    receipt["payments"] = payments
    if closed_local.date() != date:
        receipt["attributes"] = {"closed": iso(closed_local)}
    return receipt


def _currency(sale: dict) -> str:
    for sl in sale.get("salesLines") or ():
        if isinstance(sl, dict) and sl.get("currency"):
            return str(sl["currency"])
    for p in sale.get("payments") or ():
        if isinstance(p, dict) and p.get("currency"):
            return str(p["currency"])
    return "EUR"
