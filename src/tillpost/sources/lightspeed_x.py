"""Lightspeed Retail X-Series (ex-Vend): the sales 2.0 JSON → normalized receipts.

Reads what `GET /api/2.0/sales` (`{"data": [ … ]}`) or `GET /api/2.0/sales/{id}`
(`{"data": { … }}`) returns, a list of sales, or JSON Lines of them.

- Line prices are tax-exclusive with up to five decimals, also for tax-inclusive
  shops: `price` 12.39669 and `tax` 2.60331 per unit make 15.00. The gross is
  rebuilt exactly as price + tax per unit (Decimal, never float); for a
  tax-inclusive shop (the default; option `prices_include_vat=false` for one that
  is not) that is the receipt's unit price. `price` is after the line's discount.
- The VAT as charged is the line taxes summed per VAT name, rounded once.
- A tax is known by `tax_id`; its rate is read from the line (tax ÷ price) and
  mapped to the declared VAT with that rate, unless the rule file maps the id:
  `source lightspeed-x tax "<tax_id>" -> high`.
- `status`: CLOSED, ONACCOUNT_CLOSED and LAYBY_CLOSED are completed; ONACCOUNT is
  completed with its unpaid balance as a payment of type "On Account" (an invoice
  against the customer); LAYBY, SAVED and OPEN are open; VOIDED is voided. A
  CLOSED sale that comes back VOIDED keeps its id, so the ledger books the change.
  Without `status`, the newer `state` (closed, parked, pending, voided) is used.
- A line with a `gift_card_number` sells a gift card: category `giftcard`,
  outside VAT. Paying with one is a payment of its type ("Gift Card").
- A return (`return_for` set) has negative quantities and payments.
"""

from __future__ import annotations

from decimal import Decimal

from . import each_record, load_json, time_zone
from .mapping import (
    GIFTCARD, ZERO, SourceError, cents, dec, dec_or, iso, line, line_gross, local, parse_time, printed_vat, text,
    truthy,
)

SOURCE = "lightspeed-x"
HUNDRED = Decimal(100)
TENTH = Decimal("0.1")
COMPLETED = ("CLOSED", "ONACCOUNT_CLOSED", "LAYBY_CLOSED", "ONACCOUNT")
OPEN = ("LAYBY", "SAVED", "OPEN", "PARKED", "PENDING")
STATES = {"closed": "completed", "parked": "open", "pending": "open", "voided": "voided"}
ON_ACCOUNT = "On Account"


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
    status = str(sale.get("status") or "").upper()
    if status == "VOIDED":
        return "voided"
    if status in COMPLETED:
        return "completed"
    if status in OPEN:
        return "open"
    state = str(sale.get("state") or "").lower()
    if state in STATES:
        if state == "closed" and "layby" in (sale.get("attributes") or []):
            return "open"
        return STATES[state]
    raise SourceError(f"status {sale.get('status')!r} / state {sale.get('state')!r} is not a sale status")


def _rate(item: dict, price: Decimal, tax: Decimal) -> Decimal | None:
    for component in item.get("tax_components") or ():
        if isinstance(component, dict) and component.get("rate") not in (None, ""):
            r = dec(component["rate"], "tax rate")
            return (r * HUNDRED if r < 1 else r).normalize()
    if not price:
        return None
    return (tax / price * HUNDRED).quantize(TENTH).normalize()


def sale_receipt(sale: dict, mapper, zone, options: dict) -> dict:
    problems: list[str] = []
    status = _status(sale)
    incl = truthy(options.get("prices_include_vat", "true"))
    sold = local(parse_time(sale.get("sale_date") or sale.get("created_at"), "sale_date"), zone)
    created = local(parse_time(sale.get("created_at") or sale.get("sale_date"), "created_at"), zone)

    lines: list[dict] = []
    line_tax: dict[str, Decimal] = {}
    for i, item in enumerate(sale.get("line_items") or ()):
        if str(item.get("status") or "CONFIRMED").upper() == "VOIDED":
            continue
        where = f"line item {item.get('sequence', i)}"
        q = dec(item.get("quantity"), f"{where} quantity")
        price = dec(item.get("price", item.get("unit_price")), f"{where} price")
        tax = dec_or(item, "tax", what=f"{where} tax") if "tax" in item else dec_or(item, "unit_tax", what=f"{where} tax")
        cost = dec_or(item, "cost", None) if "cost" in item else dec_or(item, "unit_cost", None)
        if item.get("gift_card_number"):
            vat = mapper.outside_vat("a gift card sold", problems)
            lines.append(line(q, price + tax, vat, category=mapper.category(GIFTCARD),
                              sku=str(item["gift_card_number"]), description="Gift card sold"))
            continue
        vat = mapper.vat(str(item.get("tax_id") or "") or None, _rate(item, price, tax), problems)
        line_tax[vat] = line_tax.get(vat, ZERO) + q * tax
        product = item.get("product") if isinstance(item.get("product"), dict) else {}
        lines.append(line(
            q, (price + tax).normalize() if incl else price, vat,
            category=mapper.category(str(product.get("type") or product.get("category") or "")),
            sku=str(product.get("sku") or item.get("product_id") or ""),
            description=str(product.get("name") or item.get("note") or ""),
            cost=cost if cost else None,
        ))
    vat_printed = {name: cents(amount) for name, amount in line_tax.items()}

    payments: list[dict] = []
    for j, p in enumerate(sale.get("payments") or ()):
        if p.get("deleted_at"):
            continue
        amount = dec(p.get("amount"), f"payment {j + 1} amount")
        type_name = str(p.get("name") or p.get("payment_type_name") or f"payment type {p.get('retailer_payment_type_id')}")
        payments.append({"method": mapper.method(type_name, problems, (str(p.get("retailer_payment_type_id") or ""),)),
                         "amount": text(amount)})

    total = sum((line_gross(ln) for ln in lines), ZERO) + (ZERO if incl else sum(vat_printed.values(), ZERO))
    if sale.get("total_price") not in (None, "") and status == "completed":
        stated = cents(dec(sale["total_price"], "total_price") + dec_or(sale, "total_tax"))
        if stated != total:
            problems.append(f"its line items add up to {total} but total_price + total_tax is {stated} (not corrected)")
    paid = sum((Decimal(p["amount"]) for p in payments), ZERO)
    if str(sale.get("status") or "").upper() == "ONACCOUNT" and total != paid:
        payments.append({"method": mapper.method(ON_ACCOUNT, problems), "amount": text(total - paid)})
        paid = total
    rounding = ZERO
    for adj in sale.get("adjustments") or ():
        if isinstance(adj, dict) and "ROUND" in str(adj.get("type") or "").upper():
            rounding -= dec(adj.get("amount"), "rounding adjustment")
    if status == "completed" and total - paid != rounding:
        problems.append(f"its payments {paid} do not match its total {total} (not corrected)")

    if problems and status == "completed":
        raise SourceError(problems)
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
        name = customer.get("name") or " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p)
        if name:
            receipt["customer"]["name"] = name
    if sale.get("return_for"):
        receipt["attributes"] = {"return_for": str(sale["return_for"])}
    receipt["lines"] = lines
    if vat_printed:
        receipt["vat"] = printed_vat(vat_printed)
    receipt["payments"] = payments
    if rounding and status == "completed":
        receipt["cash_rounding"] = text(rounding)
    return receipt
