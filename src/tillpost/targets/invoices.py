"""Invoice documents (UBL): the goods sold on a receipt, and totals that add up exactly.

An individually booked receipt's sales entry is an invoice. Its document lists what the
receipt sold — description, quantity, net unit price, VAT — not one line per revenue account;
the renderer gets the receipts through `book(..., keep_bookings=True)`.

How the amounts add up, by the EN 16931 rules (BR-CO-10, BR-S-08, BR-CO-13/15/16):

- Each invoice line's net amount (LineExtensionAmount) is the net amount tillpost booked for
  that receipt line: its `sale` fact (SPEC §5: for prices incl. VAT the line's gross less its
  share of the VAT of its VAT name, the rounding remainder on the largest line). So the lines of
  a VAT name sum exactly to the revenue booked at that VAT name in the sales entry; a receipt
  whose lines do not (a sale rule that books a line elsewhere) is reported, not rendered.
- The VAT breakdown has one TaxSubtotal per VAT category and rate: its TaxableAmount is that sum
  of line net amounts, its TaxAmount the VAT booked (the receipt's printed VAT; EN 16931 allows
  it to differ from taxable × rate by less than one unit, BR-S-09).
- The net unit price is |net| / |quantity| with the fewest decimals at which quantity × price is
  the net amount exactly (2 × 5.965 = 11.93), else rounds to it (3 × 17.387 = 52.161;
  PEPPOL-EN16931-R120 allows 0.02); a line's quantity has the sign of its net amount, the price
  is never negative (BR-27).
- A receipt paid in part by other methods (`method … with …`) is an invoice for the full amount
  with those payments as PrepaidAmount: PayableAmount is the invoice method's part.
- A fixed debtor's invoice names that debtor (its `buyer-name-DEBTOR`), never the receipt's
  private customer.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from ..engine.mixed import individual_method

ZERO = Decimal(0)
MAX_PRICE_DECIMALS = 10


def receipts_for_invoices(result) -> dict[str, dict]:
    """Per receipt id: the goods its sale facts booked, per journal, and what its invoice method owes.

    Read from the bookings a BookResult kept (`keep_bookings=True`); empty without them."""
    out = {}
    for booking in getattr(result, "bookings", None) or ():
        receipt, ruleset = booking.receipt, booking.ruleset
        per_journal: dict[str, list[dict]] = {}
        for fact, rule in booking.matched:
            if fact.kind != "sale" or rule is None or rule.post is None:
                continue
            line = receipt.lines[fact.ref]
            per_journal.setdefault(rule.post.journal.name, []).append({
                "description": line.description or line.sku or line.category or rule.post.credit.description,
                "sku": line.sku or "", "quantity": line.quantity, "net": fact.amount, "vat": line.vat,
                "account": rule.post.credit.number,
            })
        method = individual_method(receipt.payments, ruleset.methods)
        payable = None
        if method is not None:
            payable = sum((p.amount for p in receipt.payments if p.method == method.name), ZERO)
        fixed = bool(method is not None and method.debtor)
        # a fixed debtor's invoice is the platform's, not the private customer's on the receipt
        out[receipt.id] = {"lines": per_journal, "payable": payable, "fixed_debtor": fixed,
                           "customer": "" if fixed else (receipt.customer_name or "")}
    return out


def unit_price(net: Decimal, quantity: Decimal, cent: Decimal) -> Decimal:
    """|net| / |quantity| with the fewest decimals (at least the currency's) at which quantity ×
    price is the net amount exactly; when no such price exists (52.16 / 3), the fewest at which
    quantity × price rounds to it (3 × 17.387 = 52.161; Peppol allows 0.02, PEPPOL-EN16931-R120)."""
    exact = abs(net) / abs(quantity)
    places = range(-cent.as_tuple().exponent, MAX_PRICE_DECIMALS + 1)
    for tolerance in (ZERO, cent / 2):
        for p in places:
            price = exact.quantize(Decimal(1).scaleb(-p), ROUND_HALF_UP)
            if abs(abs(quantity) * price - abs(net)) <= tolerance:
                return price
    return exact.quantize(Decimal(1).scaleb(-MAX_PRICE_DECIMALS), ROUND_HALF_UP)


def _doc_line(description, sku, quantity: Decimal, net: Decimal, vat: dict, account: str, cent: Decimal) -> dict:
    """One document line, `net` already in the document's sign (positive: charged)."""
    if not net:
        quantity, price = abs(quantity) if quantity else Decimal(1), ZERO.quantize(cent)
    elif not quantity:  # a line of no quantity that still charges (a discount): one of it
        quantity, price = Decimal(1 if net > 0 else -1), abs(net)
    else:
        quantity = abs(quantity) if net > 0 else -abs(quantity)
        price = unit_price(net, quantity, cent)
    return {"description": description, "sku": sku, "quantity": format(quantity, "f"), "net": net, "price": price,
            "vat": vat, "account": account}


def category(vat: dict) -> str:
    """The UNCL5305 VAT category of a VAT name: S standard rate, Z zero rated."""
    return "S" if vat["rate"] > 0 else "Z"


def invoice_view(entry: dict, receipt: dict | None, vats: dict, decimals: int) -> tuple[dict | None, list[str]]:
    """The document of one individual sales entry: lines, VAT breakdown and totals in the
    document's sign (a credit note's amounts turned positive), or why it cannot be made."""
    cent = Decimal(1).scaleb(-decimals)
    credit = entry["receivable"] < 0
    sign = -1 if credit else 1
    bases = [l for l in entry["lines"] if l["kind"] == "base"]
    taxes = [l for l in entry["lines"] if l["kind"] == "tax"]
    booked: dict[str, Decimal] = {}
    for l in bases:  # revenue per VAT name as the entry books it, charged positive
        booked[l["vat"]["name"]] = booked.get(l["vat"]["name"], ZERO) - l["amount"]
    goods = (receipt or {}).get("lines", {}).get(entry["journal"]["code"]) if receipt else None
    problems = []
    if goods is not None:
        sums: dict[str, Decimal] = {}
        for g in goods:
            sums[g["vat"]] = sums.get(g["vat"], ZERO) + g["net"]
        differ = sorted(name for name in set(sums) | set(booked) if sums.get(name, ZERO) != booked.get(name, ZERO))
        if differ:
            shown = "; ".join(f"VAT {n}: lines {sums.get(n, ZERO)}, booked {booked.get(n, ZERO)}" for n in differ)
            return None, [f"the receipt's lines do not add up to the revenue its sales entry books ({shown}): "
                          "a sale rule books some of them elsewhere"]
        lines = [_doc_line(g["description"], g["sku"], g["quantity"], sign * g["net"], vats[g["vat"]], g["account"],
                           cent) for g in goods]
    else:  # no receipt kept (a canonical journal): one line per revenue account
        lines = [_doc_line(l["account"]["name"], "", Decimal(1), -sign * l["amount"], l["vat"], l["account"]["number"],
                           cent) for l in bases]
    breakdown: dict[tuple, dict] = {}
    for line in lines:
        key = (category(line["vat"]), line["vat"]["rate"])
        group = breakdown.setdefault(key, {"category": key[0], "rate": key[1], "taxable": ZERO, "tax": ZERO})
        group["taxable"] += line["net"]
    for l in taxes:
        key = (category(l["vat"]), l["vat"]["rate"])
        group = breakdown.setdefault(key, {"category": key[0], "rate": key[1], "taxable": ZERO, "tax": ZERO})
        group["tax"] += -sign * l["amount"]
    line_total = sum((line["net"] for line in lines), ZERO)
    tax_total = sum((g["tax"] for g in breakdown.values()), ZERO)
    total = sign * entry["receivable"]
    if line_total + tax_total != total:  # the entry balances, so this is a bug, never the receipt's
        problems.append(f"its lines {line_total} and VAT {tax_total} do not make the invoice total {total}")
    payable = total
    if receipt is not None and receipt.get("payable") is not None:
        payable = sign * receipt["payable"]
    return {"credit": credit, "customer": (receipt or {}).get("customer", ""), "lines": lines, "breakdown": sorted(breakdown.values(), key=lambda g: (g["category"],
                                                                                                   g["rate"])),
            "line_total": line_total, "tax_total": tax_total, "total": total, "prepaid": total - payable,
            "payable": payable}, problems
