"""Receipt → facts: the amounts of SPEC §5, exactly.

One `sale` fact per line (net, excl. VAT), one `tax` fact per VAT name, one
`payment` fact per payment, one `cost` fact per line with a cost price, and a
`rounding` fact for cash rounding. Rounding is half away from zero to the
currency's cents. A receipt whose facts do not add up (Σ sale + Σ tax ≠
Σ payment + rounding) is an error, never a guess.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from .receipts import Receipt
from .ruleset import RuleSet

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class Fact(NamedTuple):
    kind: str
    amount: Decimal
    values: tuple  # the kind's own attributes, laid out as ruleset.KIND_ATTRIBUTES[kind]
    ref: str  # where on the receipt it comes from: "lines[0]", "vat[high]", "payments[0]", …


class FactsError(Exception):
    """The receipt cannot be decomposed; `reasons` says every why."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


def fmt(amount: Decimal, exp: Decimal) -> str:
    return str(amount.quantize(exp))


def _split_vat(vat: Decimal, grosses: list[Decimal], rate: Decimal, exp: Decimal) -> list[Decimal]:
    """Each line's share of `vat`: round(VAT × g / G); what rounding leaves over goes to
    the line with the largest |gross| (the first, on a tie).

    When the grosses cancel out (G = 0: a sale and its return on one receipt) there is
    no proportion to take; each line then carries its own VAT at the rate, and the
    remainder goes to the largest line as before.
    """
    if len(grosses) == 1:
        return [vat]
    total = sum(grosses)
    if total:
        shares = [(vat * g / total).quantize(exp, ROUND_HALF_UP) for g in grosses]
    else:
        shares = [(g * rate / (HUNDRED + rate)).quantize(exp, ROUND_HALF_UP) for g in grosses]
    rest = vat - sum(shares)
    if rest:
        largest = max(range(len(grosses)), key=lambda i: (abs(grosses[i]), -i))
        shares[largest] += rest
    return shares


def receipt_facts(receipt: Receipt, ruleset: RuleSet) -> list[Fact]:
    """The facts of one completed receipt, or FactsError with every reason it cannot have them."""
    exp = Decimal(1).scaleb(-ruleset.decimals)
    vats = ruleset.vats
    reasons: list[str] = []

    def amount(value: Decimal, where: str) -> Decimal:
        """The amount in the currency's cents; an amount finer than that is an error, not rounded."""
        cents = value.quantize(exp)
        if cents != value:
            reasons.append(f"{where} {value} has more decimals than {ruleset.currency} has ({ruleset.decimals})")
        return cents

    if receipt.currency != ruleset.currency:
        reasons.append(f"currency {receipt.currency} is not the rule file's {ruleset.currency}")

    # Line gross, and the lines per VAT name in receipt order.
    grosses: list[Decimal] = []
    by_vat: dict[str, list[int]] = {}
    for i, line in enumerate(receipt.lines):
        discount = amount(line.discount, f"lines[{i}].discount") if line.discount else ZERO
        grosses.append((line.quantity * line.unit_price - discount).quantize(exp, ROUND_HALF_UP))
        if line.vat not in vats:
            reasons.append(f"lines[{i}] has VAT name '{line.vat}', which the rule file does not declare")
        by_vat.setdefault(line.vat, []).append(i)

    printed: dict[str, Decimal] = {}
    for name, value in receipt.vat:
        value = amount(value, f"vat[{name}]")
        if name not in vats:
            reasons.append(f"printed VAT name '{name}' is not declared in the rule file")
        elif name in printed:
            reasons.append(f"VAT name '{name}' is printed twice")
        printed[name] = value
    paid = [amount(p.amount, f"payment {p.method}") for p in receipt.payments]
    rounding = amount(receipt.cash_rounding, "cash_rounding") if receipt.cash_rounding else ZERO
    if reasons:
        raise FactsError(reasons)

    nets = list(grosses)
    taxes: dict[str, Decimal] = {}
    for name, idx in by_vat.items():
        rate = vats[name].rate
        gs = [grosses[i] for i in idx]
        if receipt.prices_include_vat:
            total = sum(gs)
            vat = printed[name] if name in printed else (total * rate / (HUNDRED + rate)).quantize(exp, ROUND_HALF_UP)
            for i, share in zip(idx, _split_vat(vat, gs, rate, exp)):
                nets[i] = grosses[i] - share
        else:
            vat = printed[name] if name in printed else (sum(gs) * rate / HUNDRED).quantize(exp, ROUND_HALF_UP)
        taxes[name] = vat
    for name, value in printed.items():
        taxes.setdefault(name, value)

    facts = [Fact("sale", nets[i], (line.category, line.sku, line.vat), f"lines[{i}]")
             for i, line in enumerate(receipt.lines)]
    facts += [Fact("tax", value, (name,), f"vat[{name}]") for name, value in taxes.items()]
    facts += [Fact("payment", paid[i], (p.method,), f"payments[{i}]") for i, p in enumerate(receipt.payments)]
    for i, line in enumerate(receipt.lines):
        if line.cost is not None:
            facts.append(Fact("cost", (line.quantity * line.cost).quantize(exp, ROUND_HALF_UP),
                              (line.category, line.sku), f"lines[{i}].cost"))
    if rounding:
        facts.append(Fact("rounding", rounding, (), "cash_rounding"))

    total = sum(nets) + sum(taxes.values())
    paid = sum(paid, ZERO)
    if total != paid + rounding:
        raise FactsError([
            f"payments {fmt(paid, exp)} + cash rounding {fmt(rounding, exp)} do not match the "
            f"receipt total {fmt(total, exp)} (sales {fmt(sum(nets), exp)} + VAT {fmt(sum(taxes.values()), exp)})"
        ])
    return facts


def receipt_total(facts: list[Fact]) -> Decimal:
    """Σ sale + Σ tax: what the customer owes, incl. VAT."""
    return sum((f.amount for f in facts if f.kind in ("sale", "tax")), ZERO)
