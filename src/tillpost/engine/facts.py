"""Receipt → facts: the amounts of SPEC §5, exactly.

One `sale` fact per line (net, excl. VAT), one `tax` fact per VAT name, one
`payment` fact per payment, one `cost` fact per line with a cost price, and a
`rounding` fact for cash rounding. Rounding is half away from zero to the
currency's cents. A receipt whose facts do not add up (Σ sale + Σ tax ≠
Σ payment + rounding) is an error, never a guess.

This runs once per receipt, hundreds of thousands of times a day: facts are
plain tuples (kind, amount, values, ref), built without detours; `Fact` names
their fields for readers such as explain.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, getcontext
from typing import NamedTuple

from .receipts import Receipt
from .ruleset import RuleSet

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class Fact(NamedTuple):
    kind: str
    amount: Decimal
    values: tuple  # the kind's own attributes, laid out as ruleset.KIND_ATTRIBUTES[kind]
    ref: int | str | None  # line or payment index; VAT name for tax; None for rounding

    @property
    def where(self) -> str:
        """Where on the receipt (or closing) the fact comes from: lines[0], vat[high], payments[1], counts[0], …"""
        return {"sale": f"lines[{self.ref}]", "cost": f"lines[{self.ref}].cost", "tax": f"vat[{self.ref}]",
                "payment": f"payments[{self.ref}]", "rounding": "cash_rounding",
                "difference": f"counts[{self.ref}]", "movement": f"movements[{self.ref}]"}[self.kind]


class FactsError(Exception):
    """The receipt cannot be decomposed; `reasons` says every why."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


def _split_vat(vat: Decimal, grosses: list[Decimal], rate: Decimal, cent: Decimal) -> list[Decimal]:
    """Each line's share of `vat`: round(VAT × g / G); what rounding leaves over goes to
    the line with the largest |gross| (the first, on a tie).

    When the grosses cancel out (G = 0: a sale and its return on one receipt) there is
    no proportion to take; each line then carries its own VAT at the rate, and the
    remainder goes to the largest line as before.
    """
    total = sum(grosses)
    shares = []
    if total:
        # vat × g / total in this order: a rounded vat / total would move half-cent cases.
        for g in grosses:
            shares.append((vat * g / total).quantize(cent, ROUND_HALF_UP))
    else:
        factor = rate / (HUNDRED + rate)
        for g in grosses:
            shares.append((g * factor).quantize(cent, ROUND_HALF_UP))
    rest = vat - sum(shares)
    if rest:
        largest = max(range(len(grosses)), key=lambda i: (abs(grosses[i]), -i))
        shares[largest] += rest
    return shares


# A line's gross and cost depend on the line alone, and the reader hands out one Line
# object for every copy of the same line: they are worked out once per line object.
_MEMO_MAX = 100_000


def _line_amounts(line, cent: Decimal) -> tuple:
    """What a line alone decides: its gross, its cost, whether its discount fits the
    currency's cents, and the attribute values of its sale and cost facts."""
    discount = line.discount
    gross = (line.quantity * line.unit_price - discount).quantize(cent, ROUND_HALF_UP)
    cost = None if line.cost is None else (line.quantity * line.cost).quantize(cent, ROUND_HALF_UP)
    return (gross, cost, not discount or discount.quantize(cent) == discount,
            (line.category, line.sku, line.vat), (line.category, line.sku))


def _too_fine(value: Decimal, where: str, ruleset: RuleSet) -> str:
    return f"{where} {value} has more decimals than {ruleset.currency} has ({ruleset.decimals})"


def facts_and_total(receipt: Receipt, ruleset: RuleSet) -> tuple[list[tuple], Decimal]:
    """The facts of one completed receipt as plain tuples, and its total (Σ sale + Σ tax).

    Raises FactsError with every reason the receipt cannot have facts.
    """
    try:
        return _facts_and_total(receipt, ruleset)
    except ArithmeticError:
        # The schema bounds no amount; Decimal computes exactly to 28 digits and refuses beyond.
        raise FactsError([f"its amounts are too large to compute exactly (more than {getcontext().prec} "
                          "significant digits)"]) from None


def _facts_and_total(receipt: Receipt, ruleset: RuleSet) -> tuple[list[tuple], Decimal]:
    cent = ruleset.cent
    vats = ruleset.vats
    reasons = []
    if receipt.currency != ruleset.currency:
        reasons.append(f"currency {receipt.currency} is not the rule file's {ruleset.currency}")
    memo = ruleset.__dict__.get("_line_amounts")
    if memo is None:
        memo = ruleset.__dict__["_line_amounts"] = {}

    # Line gross, and the lines per VAT name in receipt order.
    lines = receipt.lines
    grosses = []
    sales = []
    costs = []
    by_vat: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        amounts = memo.get(line)
        if amounts is None:
            amounts = _line_amounts(line, cent)
            if len(memo) >= _MEMO_MAX:
                memo.clear()
            memo[line] = amounts
        gross, cost, discount_ok, sale_values, cost_values = amounts
        if not discount_ok:
            reasons.append(_too_fine(line.discount, f"lines[{i}].discount", ruleset))
        grosses.append(gross)
        sales.append(sale_values)
        if cost is not None:
            costs.append(("cost", cost, cost_values, i))
        name = line.vat
        if name in by_vat:
            by_vat[name].append(i)
        else:
            by_vat[name] = [i]
            if name not in vats:
                reasons.append(f"lines[{i}] has VAT name '{name}', which the rule file does not declare")

    printed = {}
    for name, value in receipt.vat:
        if value.quantize(cent) != value:
            reasons.append(_too_fine(value, f"vat[{name}]", ruleset))
        if name not in vats:
            reasons.append(f"printed VAT name '{name}' is not declared in the rule file")
        elif name in printed:
            reasons.append(f"VAT name '{name}' is printed twice")
        printed[name] = value
    paid = ZERO
    for p in receipt.payments:
        if p.amount.quantize(cent) != p.amount:
            reasons.append(_too_fine(p.amount, f"payment {p.method}", ruleset))
        paid += p.amount
    rounding = receipt.cash_rounding
    if rounding and rounding.quantize(cent) != rounding:
        reasons.append(_too_fine(rounding, "cash_rounding", ruleset))
    if reasons:
        raise FactsError(reasons)

    nets = grosses[:]
    taxes = {}
    incl = receipt.prices_include_vat
    for name, idx in by_vat.items():
        rate = vats[name].rate
        if len(idx) == 1:
            g = grosses[idx[0]]
            if incl:
                vat = printed[name] if name in printed else (g * rate / (HUNDRED + rate)).quantize(cent, ROUND_HALF_UP)
                nets[idx[0]] = g - vat
            else:
                vat = printed[name] if name in printed else (g * rate / HUNDRED).quantize(cent, ROUND_HALF_UP)
        else:
            gs = [grosses[i] for i in idx]
            total = sum(gs)
            if incl:
                vat = printed[name] if name in printed else (total * rate / (HUNDRED + rate)).quantize(cent, ROUND_HALF_UP)
                for i, share in zip(idx, _split_vat(vat, gs, rate, cent)):
                    nets[i] = grosses[i] - share
            else:
                vat = printed[name] if name in printed else (total * rate / HUNDRED).quantize(cent, ROUND_HALF_UP)
        taxes[name] = vat
    for name, value in printed.items():
        if name not in taxes:
            taxes[name] = value

    facts = []
    total = ZERO
    i = 0
    for values in sales:
        net = nets[i]
        facts.append(("sale", net, values, i))
        total += net
        i += 1
    for name, value in taxes.items():
        facts.append(("tax", value, (name,), name))
        total += value
    i = 0
    for p in receipt.payments:
        facts.append(("payment", p.amount, (p.method,), i))
        i += 1
    facts += costs
    if rounding:
        facts.append(("rounding", rounding, (), None))

    if total != paid + rounding:
        raise FactsError([
            f"payments {paid.quantize(cent)} + cash rounding {rounding.quantize(cent)} do not match the "
            f"receipt total {total.quantize(cent)} (sales {sum(nets, ZERO).quantize(cent)} + VAT "
            f"{sum(taxes.values(), ZERO).quantize(cent)})"
        ])
    return facts, total


def receipt_facts(receipt: Receipt, ruleset: RuleSet) -> list[Fact]:
    """The facts of one completed receipt, or FactsError with every reason it cannot have them."""
    return [Fact._make(f) for f in facts_and_total(receipt, ruleset)[0]]
