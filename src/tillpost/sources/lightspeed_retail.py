"""Lightspeed Retail (R-Series): the API V3 `Sale` JSON → normalized receipts.

Reads what `GET /API/V3/Account/{accountID}/Sale.json?load_relations=["SaleLines",
"SaleLines.Item","SaleLines.Item.Category","SalePayments","SalePayments.PaymentType",
"Customer"]` returns (`{"@attributes": …, "Sale": [ … ]}`), a list of such sales,
or JSON Lines of them. The quirks of that API:

- one object where a list is expected (`"SaleLine": {…}` for a one-line sale), and
  `""` for an empty relation;
- every number and boolean is a string (`"unitPrice": "3.25"`, `"completed": "true"`);
- taxes are fractions per line (`tax1Rate "0.21"`), the line's `calcTax1`/`calcTax2`
  unrounded, the sale's `calcTax1`/`calcTax2` rounded per sale;
- a refund line has a negative `unitQuantity` (its price stays positive);
- a gift card sold is no sale line and not in `total`: it is a payment of a negative
  amount onto the gift card's credit account (`creditAccountID`), next to the
  payment that paid for it. It becomes a line of category `giftcard` (outside VAT,
  a liability); paying with a gift card later is an ordinary payment of that type;
- `tipAmount` on a payment is the tip paid on top of `amount`: the payment is both,
  and the tip a line of category `tip` (outside VAT); the tips add up to the sale's `calcTips`;
- `cashRoundingDelta` is the cash rounding of the sale (`cashRoundedTotal` = total + delta is what
  cash paid); the receipt's `cash_rounding` is total − paid: −delta, or 0 for a sale paid otherwise;
- tax-inclusive prices (`isTaxInclusive`) are told by the sale, else by its lines' `TaxCategory`,
  else by the sale's own `TaxCategory` (load_relations "TaxCategory");
- a completed sale without `SaleLines` or `SalePayments` was fetched without its relations: it is
  an error that says to fetch it with them, not only that its amounts do not add up.

Times are UTC; the business day is the completion day in the shop's time zone
(option `timezone`, default Europe/Amsterdam). `created` is `createTime`, so a sale
completed with an earlier `completeTime` shows as back-dated.
"""

from __future__ import annotations

from decimal import Decimal

from . import each_record, load_json, time_zone
from .mapping import (
    GIFTCARD, TIP, ZERO, SourceError, as_list, cents, dec, dec_or, iso, line, line_gross, local, parse_time,
    printed_vat, text, truthy,
)

SOURCE = "lightspeed-retail"
HUNDRED = Decimal(100)


def _sales(doc) -> list:
    """The Sale objects of one decoded document, whatever its wrapping."""
    if isinstance(doc, list):
        out = []
        for item in doc:
            out.extend(_sales(item))
        return out
    if isinstance(doc, dict):
        if "Sale" in doc:
            return as_list(doc["Sale"])
        if "Sales" in doc:
            return _sales(doc["Sales"])
        return [doc]
    return [doc]


def convert(data: bytes, origin: str, mapper, options: dict):
    from itertools import chain

    from .lightspeed_retail_counts import register_counts, sale_documents

    zone = time_zone(options, origin)
    docs = load_json(data, origin)
    sales = (s for doc in sale_documents(docs) for s in _sales(doc))
    return chain(each_record(sales, SOURCE, "Lightspeed Retail sale", "saleID",
                             lambda sale: str(sale.get("saleID") or ""),
                             lambda sale: sale_receipt(sale, mapper, zone, options)),
                 register_counts(docs, mapper, zone, options))  # till closings: lightspeed_retail_counts


def _status(sale: dict) -> str:
    if truthy(sale.get("voided")):
        return "voided"
    if truthy(sale.get("completed")):
        return "completed"
    # An archived sale that never completed was thrown away at the register.
    return "voided" if truthy(sale.get("archived")) else "open"


def _relation(sale: dict, plural: str, singular: str) -> list:
    """`"SaleLines": {"SaleLine": [...] | {...}}`, "" when empty; a bare list is taken as it is."""
    value = sale.get(plural)
    if isinstance(value, dict):
        return as_list(value.get(singular))
    return as_list(value)


def _tax_inclusive(sale: dict, lines: list, options: dict) -> bool:
    if "prices_include_vat" in options:
        return truthy(options["prices_include_vat"])
    if sale.get("isTaxInclusive") not in (None, ""):
        return truthy(sale["isTaxInclusive"])
    for sl in lines:
        category = sl.get("TaxCategory")
        if isinstance(category, dict) and category.get("isTaxInclusive") not in (None, ""):
            return truthy(category["isTaxInclusive"])
    # the lines do not say: the sale's own tax category does (load_relations "TaxCategory")
    category = sale.get("TaxCategory")
    if isinstance(category, dict) and category.get("isTaxInclusive") not in (None, ""):
        return truthy(category["isTaxInclusive"])
    return False


def _customer(sale: dict) -> dict | None:
    cid = str(sale.get("customerID") or "0")
    if cid == "0":
        return None
    c = sale.get("Customer") if isinstance(sale.get("Customer"), dict) else {}
    name = " ".join(p for p in (c.get("firstName"), c.get("lastName")) if p) or c.get("company") or ""
    out = {"id": cid, "debtor": cid}  # the POS customer number is the debtor number
    if name:
        out["name"] = name
    return out


def _item(sl: dict) -> dict:
    item = sl.get("Item")
    return item if isinstance(item, dict) else {}


def _category(item: dict) -> str:
    cat = item.get("Category")
    if isinstance(cat, dict):
        return cat.get("name") or cat.get("fullPathName") or ""
    return ""


def _is_gift_card(payment: dict) -> bool:
    if str(payment.get("creditAccountID") or "0") == "0":
        return False
    account = payment.get("CreditAccount")
    if isinstance(account, dict) and account.get("giftCard") not in (None, ""):
        return truthy(account["giftCard"])
    pt = payment.get("PaymentType") if isinstance(payment.get("PaymentType"), dict) else {}
    words = " ".join(str(pt.get(k) or "") for k in ("name", "code", "type")).lower()
    return "gift" in words or "cadeau" in words


def sale_receipt(sale: dict, mapper, zone, options: dict) -> dict:
    problems: list[str] = []
    status = _status(sale)
    when = sale.get("completeTime") or sale.get("createTime") or sale.get("timeStamp")
    completed = local(parse_time(when, "completeTime"), zone)
    created = local(parse_time(sale.get("createTime") or when, "createTime"), zone)
    sale_lines = _relation(sale, "SaleLines", "SaleLine")
    incl = _tax_inclusive(sale, sale_lines, options)

    lines: list[dict] = []
    line_tax: dict[str, Decimal] = {}
    taxes_given = False
    for i, sl in enumerate(sale_lines):
        where = f"SaleLine {sl.get('saleLineID') or i + 1}"
        q = dec(sl.get("unitQuantity"), f"{where} unitQuantity")
        price = dec(sl.get("unitPrice"), f"{where} unitPrice")
        subtotal = q * price
        discount = dec_or(sl, "calcLineDiscount", what=f"{where} calcLineDiscount") + \
            dec_or(sl, "calcTransactionDiscount", what=f"{where} calcTransactionDiscount")
        # A discount makes a line smaller whatever its sign: on a refund line it is negative.
        discount = cents(abs(discount) if subtotal >= 0 else -abs(discount))
        if truthy(sl.get("tax", "true")):
            rate = (dec_or(sl, "tax1Rate") + dec_or(sl, "tax2Rate")) * HUNDRED
        else:
            rate = ZERO
        tax_class = sl.get("TaxClass") if isinstance(sl.get("TaxClass"), dict) else {}
        vat = mapper.vat(tax_class.get("name") or None, rate.normalize(), problems)
        if "calcTax1" in sl or "calcTax2" in sl:
            taxes_given = True
            line_tax[vat] = line_tax.get(vat, ZERO) + dec_or(sl, "calcTax1") + dec_or(sl, "calcTax2")
        item = _item(sl)
        cost_field = "fifoCost" if options.get("cost") == "fifo" else "avgCost"
        cost = dec_or(sl, cost_field, None)
        lines.append(line(
            q, price, vat,
            category=mapper.category(_category(item)),
            sku=str(item.get("customSku") or item.get("systemSku") or sl.get("itemID") or ""),
            description=str(item.get("description") or ""),
            discount=discount,
            cost=cost if cost else None,
        ))

    # The VAT as charged: per VAT name from the lines, rounded per sale as calcTax1/2 are.
    vat_printed: dict[str, Decimal] = {}
    if taxes_given:
        vat_printed = {name: cents(amount) for name, amount in line_tax.items()}
        charged = dec_or(sale, "calcTax1") + dec_or(sale, "calcTax2")
        if sale.get("calcTax1") not in (None, "") and vat_printed and sum(vat_printed.values()) != charged:
            # Rounded per sale, not per VAT name: the cent goes to the largest VAT amount.
            largest = max(vat_printed, key=lambda k: abs(vat_printed[k]))
            vat_printed[largest] += charged - sum(vat_printed.values())

    goods_total = sum((line_gross(ln) for ln in lines), ZERO)
    if not incl:
        goods_total += sum(vat_printed.values(), ZERO)
    stated = dec_or(sale, "calcTotal", None) if sale.get("calcTotal") not in (None, "") else dec_or(sale, "total", None)
    if stated is not None and status == "completed" and cents(stated) != goods_total:
        problems.append(f"its lines add up to {goods_total} but the sale's total is {cents(stated)}; "
                        "the export is inconsistent (not corrected)")

    payments: list[dict] = []
    tips = ZERO
    for j, p in enumerate(_relation(sale, "SalePayments", "SalePayment")):
        if truthy(p.get("archived")):
            continue
        where = f"SalePayment {p.get('salePaymentID') or j + 1}"
        amount = dec(p.get("amount"), f"{where} amount")
        tip = dec_or(p, "tipAmount", what=f"{where} tipAmount")
        pt = p.get("PaymentType") if isinstance(p.get("PaymentType"), dict) else {}
        type_name = str(pt.get("name") or pt.get("code") or f"paymentTypeID {p.get('paymentTypeID')}")
        if _is_gift_card(p) and amount < 0:
            lines.append(line(Decimal(1), -amount, mapper.outside_vat("a gift card sold", problems),
                              category=mapper.category(GIFTCARD), sku=f"creditAccount {p.get('creditAccountID')}",
                              description=f"{type_name} sold"))
            continue
        if tip:
            tips += tip
            lines.append(line(Decimal(1), tip, mapper.outside_vat("a tip", problems),
                              category=mapper.category(TIP), description="Tip"))
        payments.append({"method": mapper.method(type_name, problems), "amount": text(amount + tip)})

    total = sum((line_gross(ln) for ln in lines), ZERO) + (ZERO if incl else sum(vat_printed.values(), ZERO))
    paid = sum((Decimal(p["amount"]) for p in payments), ZERO)
    rounding = total - paid
    # cashRoundedTotal = total + cashRoundingDelta is what cash paid: total − paid is −delta; a
    # sale paid otherwise is not rounded
    delta = dec_or(sale, "cashRoundingDelta", ZERO)
    if status == "completed":
        if rounding and rounding != -delta:
            problems.append(f"its payments {paid} do not match its total {total}"
                            + (f" with cash rounding {delta}" if delta else "") + " (not corrected)")
        stated_tips = dec_or(sale, "calcTips", None)
        if stated_tips is not None and cents(stated_tips) != cents(tips):
            problems.append(f"its payments carry tips of {cents(tips)} but the sale's calcTips is "
                            f"{cents(stated_tips)} (not corrected)")
        missing = [plural for plural in ("SaleLines", "SalePayments") if plural not in sale]
        if stated and missing:  # fetched without its relations: say so, not only that nothing adds up
            problems.insert(0, f"the sale has no {' and no '.join(missing)}: fetch it with "
                            'load_relations=["SaleLines", "SalePayments", "SalePayments.PaymentType"]')

    if problems and status == "completed":
        raise SourceError(problems)
    receipt = {
        "id": str(sale["saleID"]),
        "number": str(sale.get("ticketNumber") or sale["saleID"]),
        "source": SOURCE,
        "store": str(sale.get("shopID") or options.get("store") or "1"),
    }
    if str(sale.get("registerID") or "0") != "0":
        receipt["register"] = str(sale["registerID"])
    receipt.update({
        "date": completed.date().isoformat(),
        "created": iso(created),
        "status": status,
        "currency": options.get("currency", "EUR"),
        "prices_include_vat": incl,
    })
    customer = _customer(sale)
    if customer:
        receipt["customer"] = customer
    receipt["lines"] = lines
    if vat_printed:
        receipt["vat"] = printed_vat(vat_printed)
    receipt["payments"] = payments
    if rounding and status == "completed":
        receipt["cash_rounding"] = text(rounding)
    return receipt
