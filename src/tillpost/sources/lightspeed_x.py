"""Lightspeed Retail X-Series (ex-Vend): the sales 2.0 JSON, and the older 0.9 register_sales,
→ normalized receipts.

Reads what `GET /api/2.0/sales` (`{"data": [ … ]}`) or `GET /api/2.0/sales/{id}` (`{"data": { … }}`)
returns, the 0.9 `GET /api/register_sales` (`{"register_sales": [ … ]}`, lines in
`register_sale_products`, payments in `register_sale_payments`), a list of sales, or JSON Lines.

- Line prices are tax-exclusive with up to five decimals, also for tax-inclusive shops:
  `price` 12.39669 and `tax` 2.60331 per unit make 15.00. A line's tax is its `tax_total` (its
  `tax` per unit is deprecated); the gross is rebuilt exactly as price + tax per unit (Decimal,
  never float), or as the line's totals when the tax does not divide by the quantity. For a
  tax-inclusive shop (the default; option `prices_include_vat=false` for one that is not) that is
  the receipt's unit price. `price` is after the line's discount.
- The VAT as charged is the line taxes summed per VAT name, rounded once.
- A tax is known by `tax_id`; its rate is read from the line (tax ÷ price) and mapped to the
  declared VAT with that rate, unless the rule file maps the id:
  `source lightspeed-x tax "<tax_id>" -> high`. A line priced 0 has no rate to read: it takes the
  VAT name its tax id has on the sale's other lines (or the mapping line).
- `adjustments` (`type`, or `adjustment_type` since 2025) are part of `total_price`: each becomes a
  line of its own — NON_CASH_FEE and SURCHARGE category `surcharge`, DISCOUNT `discount`, TIP `tip`,
  ECOM_CUSTOM_CHARGE `service-charge`, another type its own name (`ecom-…` lower-cased), all
  mappable with `source lightspeed-x category "NON_CASH_FEE" -> …`. Its `value` is tax-exclusive;
  its VAT is that of its `tax_components` (the VAT name of the lines with the same tax rates, else
  by rate), and an adjustment without tax is outside VAT. eCom custom charges are not in
  `total_price` (changelog 2025-05): they are read from `ecom_custom_charges` when the sale has it,
  else from their adjustments, and added to the stated total. A line's `surcharges` are the sale's
  surcharge spread over its lines, for reports: not booked twice.
- `status` (the 2.0 API's "Sale statuses"): CLOSED, ONACCOUNT_CLOSED, LAYBY_CLOSED,
  DISPATCHED_CLOSED, PICKED_UP_CLOSED and SERVICE_CLOSED are completed; ONACCOUNT is completed with
  its unpaid balance as a payment of type "On Account" (an invoice against the customer);
  AWAITING_DISPATCH and AWAITING_PICKUP (an e-commerce order waiting to be shipped or picked up) are
  completed once paid in full, else open (paid on delivery); SAVED (parked), LAYBY and SERVICE are
  open; VOIDED is voided. A CLOSED sale that comes back VOIDED keeps its id, so the ledger books the
  change. Without `status`, the newer `state` (closed, parked, pending, voided) is used.
- A line with a `gift_card_number` sells a gift card: category `giftcard`, outside VAT. Paying
  with one is a payment of its type ("Gift Card").
- A return (`return_for` set) has negative quantities and payments.
- Times are UTC (a time without an offset, as 0.9 writes them, too); the business day is the
  sale's day in the shop's time zone (option `timezone`).
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal

from . import each_record, load_json, time_zone
from .mapping import (
    DISCOUNT, GIFTCARD, SERVICE_CHARGE, SURCHARGE, TIP, ZERO, SourceError, cents, dec, dec_or, iso, line, line_gross,
    local, parse_time, printed_vat, text, truthy,
)

SOURCE = "lightspeed-x"
HUNDRED = Decimal(100)
TENTH = Decimal("0.1")
SIX = Decimal("0.000001")
# The sale statuses of the 2.0 API ("Sale statuses"); ON_ACCOUNT(_CLOSED) is how 0.9 spells two.
COMPLETED = ("CLOSED", "ONACCOUNT_CLOSED", "ON_ACCOUNT_CLOSED", "LAYBY_CLOSED", "DISPATCHED_CLOSED",
             "PICKED_UP_CLOSED", "SERVICE_CLOSED")
ON_ACCOUNT_STATUSES = ("ONACCOUNT", "ON_ACCOUNT")
AWAITING = ("AWAITING_DISPATCH", "AWAITING_PICKUP")
OPEN = ("SAVED", "LAYBY", "SERVICE", "OPEN", "PARKED", "PENDING")
STATES = {"closed": "completed", "parked": "open", "pending": "open", "voided": "voided"}
ON_ACCOUNT = "On Account"
ECOM = "ECOM_CUSTOM_CHARGE"
ADJUSTMENT_CATEGORIES = {"NON_CASH_FEE": SURCHARGE, "SURCHARGE": SURCHARGE, "DISCOUNT": DISCOUNT, "TIP": TIP,
                         ECOM: SERVICE_CHARGE}


def _sales(doc) -> list:
    if isinstance(doc, list):
        return [s for item in doc for s in _sales(item)]
    if isinstance(doc, dict):
        for key in ("data", "sales", "register_sales"):
            if key in doc:
                return _sales(doc[key])
        return [doc]
    return [doc]


def convert(data: bytes, origin: str, mapper, options: dict):
    from itertools import chain

    from .lightspeed_x_closures import register_closures, sale_documents

    zone = time_zone(options, origin)
    docs = load_json(data, origin)
    sales = (s for doc in sale_documents(docs) for s in _sales(doc))
    return chain(each_record(sales, SOURCE, "Lightspeed X-Series sale", "id", lambda sale: str(sale.get("id") or ""),
                             lambda sale: sale_receipt(sale, mapper, zone, options),
                             label=lambda sale, rid: f"Lightspeed X-Series sale {sale.get('invoice_number') or rid}"),
                 register_closures(docs, mapper, zone, options))  # till closings: lightspeed_x_closures


def _status(sale: dict) -> str:
    """completed, open, voided, or "awaiting" (completed once paid in full)."""
    status = str(sale.get("status") or "").upper()
    if status == "VOIDED":
        return "voided"
    if status in COMPLETED or status in ON_ACCOUNT_STATUSES:
        return "completed"
    if status in AWAITING:
        return "awaiting"
    if status in OPEN:
        return "open"
    state = str(sale.get("state") or "").lower()
    if state in STATES:
        if state == "closed" and "layby" in (sale.get("attributes") or []):
            return "open"
        return STATES[state]
    raise SourceError(f"status {sale.get('status')!r} / state {sale.get('state')!r} is not a sale status")


def _utc(value, what: str) -> _dt.datetime:
    moment = parse_time(value, what)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=_dt.timezone.utc)


def _rate(item: dict, price: Decimal, tax: Decimal) -> Decimal | None:
    for component in item.get("tax_components") or ():
        if isinstance(component, dict) and component.get("rate") not in (None, ""):
            r = dec(component["rate"], "tax rate")
            return (r * HUNDRED if r < 1 else r).normalize()
    if item.get("tax_rate") not in (None, ""):  # 0.9: a fraction (0.15) or a percentage
        r = dec(item["tax_rate"], "tax_rate")
        return (r * HUNDRED if abs(r) < 1 else r).normalize()
    if not price:
        return None
    return (tax / price * HUNDRED).quantize(TENTH).normalize()


def _rate_ids(components) -> tuple[str, ...]:
    return tuple(sorted(str(c.get("rate_id")) for c in components or () if isinstance(c, dict) and c.get("rate_id")))


def _first(obj: dict, keys: tuple[str, ...], what: str, default=None) -> Decimal | None:
    for key in keys:
        if obj.get(key) not in (None, ""):
            return dec(obj[key], what)
    return default


class _Sale:
    """The lines, VAT and problems of one sale as they are read."""

    def __init__(self, mapper, incl: bool):
        self.mapper = mapper
        self.incl = incl
        self.problems: list[str] = []
        self.lines: list[dict] = []
        self.tax: dict[str, Decimal] = {}  # VAT name → the taxes as charged, unrounded
        self.vat_of_rates: dict[tuple, str] = {}  # the tax rate ids of a line → its VAT name

    def charge(self, vat: str, tax: Decimal) -> None:
        self.tax[vat] = self.tax.get(vat, ZERO) + tax

    def items(self, items) -> None:
        """The sale's line items (2.0 `line_items`, 0.9 `register_sale_products`)."""
        read = []
        vat_of_tax_id: dict[str, str] = {}
        for i, item in enumerate(items):
            if str(item.get("status") or "CONFIRMED").upper() == "VOIDED":
                continue
            where = f"line item {item.get('sequence', i)}"
            q = dec(item.get("quantity"), f"{where} quantity")
            price = _first(item, ("price", "unit_price"), f"{where} price")
            price_total = _first(item, ("price_total", "total_price"), f"{where} price_total")
            if price is None:
                price = price_total / q if price_total is not None and q else ZERO
            if price_total is None:
                price_total = q * price
            unit_tax = _first(item, ("tax", "unit_tax"), f"{where} tax", ZERO)
            # tax_total is the line's tax as charged; `tax` per unit is deprecated
            tax = _first(item, ("tax_total", "total_tax"), f"{where} tax_total", q * unit_tax)
            tax_id = str(item.get("tax_id") or "") or None
            vat = None
            if price and not item.get("gift_card_number"):
                vat = self.mapper.vat(tax_id, _rate(item, price, tax / q if q else unit_tax), self.problems)
                if tax_id:
                    vat_of_tax_id.setdefault(tax_id, vat)
            read.append((item, where, q, price, price_total, tax, tax_id, vat))
        for item, where, q, price, price_total, tax, tax_id, vat in read:
            if item.get("gift_card_number"):
                vat = self.mapper.outside_vat("a gift card sold", self.problems)
                self.lines.append(line(q, price + (tax / q if q else ZERO), vat,
                                       category=self.mapper.category(GIFTCARD),
                                       sku=str(item["gift_card_number"]), description="Gift card sold"))
                continue
            if vat is None:  # priced 0: no rate to read; the VAT name its tax id has on the other lines
                vat = (vat_of_tax_id.get(tax_id) if tax_id else None) or self.mapper.vat(tax_id, None, self.problems)
            self.charge(vat, tax)
            ids = _rate_ids(item.get("tax_components"))
            if ids:
                self.vat_of_rates.setdefault(ids, vat)
            product = item.get("product") if isinstance(item.get("product"), dict) else {}
            cost = dec_or(item, "cost", None) if "cost" in item else dec_or(item, "unit_cost", None)
            description = str(product.get("name") or item.get("name") or item.get("note") or "")
            quantity, unit = q, price
            if self.incl:
                unit_tax = tax / q if q else ZERO
                if unit_tax == unit_tax.quantize(SIX):
                    unit = (price + unit_tax).normalize()
                else:  # the tax does not divide by the quantity: the line as its totals, never rounded
                    quantity, unit = Decimal(1), price_total + tax
                    description = f"{q.normalize()} × {description}".strip()
                    cost = cost * q if cost else cost
            self.lines.append(line(
                quantity, unit, vat,
                category=self.mapper.category(str(product.get("type") or product.get("category") or "")),
                sku=str(product.get("sku") or item.get("sku") or item.get("product_id") or ""),
                description=description, cost=cost if cost else None,
            ))

    def extra(self, kind: str, name: str, value: Decimal, components, tax: Decimal | None = None) -> None:
        """An adjustment or eCom charge: a line of its own category, `value` tax-exclusive."""
        if tax is None:
            tax = sum((dec_or(c, "total_tax", what=f"{kind} tax") for c in components or () if isinstance(c, dict)),
                      ZERO)
        category = self.mapper.category(kind, ADJUSTMENT_CATEGORIES.get(kind, kind.lower().replace("_", "-")))
        if tax:
            ids = _rate_ids(components)
            vat = self.vat_of_rates.get(ids) if ids else None
            if vat is None:
                rate = (tax / value * HUNDRED).quantize(TENTH).normalize() if value else None
                vat = self.mapper.vat("+".join(ids) or None, rate, self.problems)
        else:
            vat = self.mapper.outside_vat(f"a {kind} adjustment without tax", self.problems)
        self.charge(vat, tax)
        self.lines.append(line(Decimal(1), value + tax if self.incl else value, vat, category=category,
                               description=name or kind))


def _ecom_charges(sale: dict) -> list | None:
    """The sale's eCom custom charges (an object with `charges` in 2.0, a list since), or None."""
    charges = sale.get("ecom_custom_charges")
    if isinstance(charges, dict):
        charges = charges.get("charges")
    return charges if isinstance(charges, list) else None


def _stated_total(sale: dict) -> Decimal | None:
    """What the sale says it comes to, tax included, before eCom custom charges."""
    if sale.get("total_price") not in (None, ""):
        return dec(sale["total_price"], "total_price") + dec_or(sale, "total_tax")
    totals = sale.get("totals") if isinstance(sale.get("totals"), dict) else {}
    if totals.get("total_price") not in (None, ""):
        return dec(totals["total_price"], "totals.total_price") + dec_or(totals, "total_tax")
    if totals.get("price_incl_tax") not in (None, ""):
        return dec(totals["price_incl_tax"], "totals.price_incl_tax")
    return None


def sale_receipt(sale: dict, mapper, zone, options: dict) -> dict:
    status = _status(sale)
    incl = truthy(options.get("prices_include_vat", "true"))
    sold = local(_utc(sale.get("sale_date") or sale.get("date") or sale.get("created_at"), "sale_date"), zone)
    created = local(_utc(sale.get("created_at") or sale.get("sale_date") or sale.get("date"), "created_at"), zone)
    read = _Sale(mapper, incl)
    problems = read.problems
    v09 = "register_sale_products" in sale or "register_sale_payments" in sale  # 0.9 register_sales
    items_key = "register_sale_products" if v09 else "line_items"
    payments_key = "register_sale_payments" if v09 else "payments"
    read.items([item for item in sale.get(items_key) or () if isinstance(item, dict)])

    rounding = ZERO
    charges = _ecom_charges(sale)
    ecom_total = ZERO
    for adj in sale.get("adjustments") or ():
        if not isinstance(adj, dict):
            continue
        kind = str(adj.get("adjustment_type") or adj.get("type") or "").upper()
        value = _first(adj, ("value", "total", "amount"), f"{kind or 'adjustment'} value", ZERO)
        if "ROUND" in kind:
            rounding -= value
            continue
        if kind == ECOM and charges is not None:
            continue  # booked from ecom_custom_charges
        before = sum(read.tax.values(), ZERO)
        read.extra(kind or "ADJUSTMENT", str(adj.get("name") or ""), value, adj.get("tax_components"))
        if kind == ECOM:
            ecom_total += value + sum(read.tax.values(), ZERO) - before
    for charge in charges or ():
        if not isinstance(charge, dict):
            continue
        value = dec_or(charge, "total", what="eCom custom charge total")
        tax = dec_or(charge, "total_tax", what="eCom custom charge total_tax")
        read.extra(ECOM, str(charge.get("name") or ""), value, charge.get("tax_components"), tax)
        ecom_total += value + tax
    vat_printed = {name: cents(amount) for name, amount in read.tax.items()}

    payments: list[dict] = []
    for j, p in enumerate(sale.get(payments_key) or ()):
        if not isinstance(p, dict) or p.get("deleted_at"):
            continue
        amount = dec(p.get("amount"), f"payment {j + 1} amount")
        ptype = p.get("type") if isinstance(p.get("type"), dict) else {}
        type_name = str(p.get("name") or p.get("label") or p.get("payment_type_name") or ptype.get("name")
                        or f"payment type {p.get('retailer_payment_type_id')}")
        payments.append({"method": mapper.method(type_name, problems, (str(p.get("retailer_payment_type_id") or ""),)),
                         "amount": text(amount)})

    total = sum((line_gross(ln) for ln in read.lines), ZERO) + (ZERO if incl else sum(vat_printed.values(), ZERO))
    stated = _stated_total(sale)
    paid = sum((Decimal(p["amount"]) for p in payments), ZERO)
    if status == "awaiting":  # shipped or picked up later: booked once it is paid
        status = "completed" if total - paid == rounding else "open"
    if status == "completed":
        if stated is not None:
            stated = cents(stated + ecom_total)
            if stated and items_key not in sale:
                problems.append(f"the sale has no {items_key}: the export left them out; fetch it with "
                                f"GET {'/api/register_sales/' if v09 else '/api/2.0/sales/'}{sale.get('id')}")
            elif stated != total:
                problems.append(f"its line items and adjustments add up to {total} but total_price + total_tax is "
                                f"{stated} (not corrected)")
        if stated and payments_key not in sale:
            problems.append(f"the sale has no {payments_key}: the export left them out; fetch it with "
                            f"GET {'/api/register_sales/' if v09 else '/api/2.0/sales/'}{sale.get('id')}")
    if str(sale.get("status") or "").upper() in ON_ACCOUNT_STATUSES and total != paid:
        payments.append({"method": mapper.method(ON_ACCOUNT, problems), "amount": text(total - paid)})
        paid = total
    if status == "completed" and total - paid != rounding:
        problems.append(f"its payments {paid} do not match its total {total} (not corrected)")

    if problems and status == "completed":
        raise SourceError(list(dict.fromkeys(problems)))
    receipt = {
        "id": str(sale["id"]),
        "number": str(sale.get("invoice_number") or sale.get("receipt_number") or sale["id"]),
        "source": SOURCE,
        "store": str(sale.get("outlet_id") or options.get("store") or "?"),
    }
    if sale.get("register_id"):
        receipt["register"] = str(sale["register_id"])
    receipt.update({"date": sold.date().isoformat(), "created": iso(created), "status": status,
                    "currency": options.get("currency", "EUR"), "prices_include_vat": incl})
    if sale.get("customer_id"):
        customer = sale.get("customer") if isinstance(sale.get("customer"), dict) else {}
        receipt["customer"] = {"id": str(sale["customer_id"]),
                               "debtor": str(customer.get("customer_code") or sale["customer_id"])}
        name = customer.get("name") or " ".join(p for p in (customer.get("first_name"), customer.get("last_name"))
                                                if p) or sale.get("customer_name")
        if name:
            receipt["customer"]["name"] = name
    if sale.get("return_for"):
        receipt["attributes"] = {"return_for": str(sale["return_for"])}
    receipt["lines"] = read.lines
    if vat_printed:
        receipt["vat"] = printed_vat(vat_printed)
    receipt["payments"] = payments
    if rounding and status == "completed":
        receipt["cash_rounding"] = text(rounding)
    return receipt
