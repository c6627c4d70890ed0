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

from decimal import ROUND_HALF_UP, Decimal, Inexact, getcontext, localcontext
from typing import NamedTuple

from .exact import EXACT, LIMIT, LIMIT_DIGITS, ROUNDING, fits_cents, rounded
from .memo import Memo
from .receipts import Receipt, _lines
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
    divide = ROUNDING.divide  # exact.divided, inline: this runs for every line
    if total:
        # vat × g / total in this order: a rounded vat / total would move half-cent cases.
        for g in grosses:
            shares.append(divide(vat * g, total).quantize(cent, ROUND_HALF_UP, ROUNDING))
    else:
        base = HUNDRED + rate
        for g in grosses:
            shares.append(divide(g * rate, base).quantize(cent, ROUND_HALF_UP, ROUNDING))
    rest = vat - sum(shares)
    if rest:
        largest = max(range(len(grosses)), key=lambda i: (abs(grosses[i]), -i))
        shares[largest] += rest
    return shares


# The VAT of the same lines, and its split, comes back on receipt after receipt on a
# bakery's day and hardly ever on a bike shop's: a memo per rule set on probation (memo.py).
_VAT_MEMO = 20_000


def _vat_and_shares(grosses: tuple, rate: Decimal, incl: bool, cent: Decimal, printed: Decimal | None) -> tuple:
    """The VAT the rate gives on the lines' grosses (SPEC §5), and each line's share of the VAT
    booked (the printed amount when there is one; shares only matter for prices incl. VAT)."""
    base = grosses[0] if len(grosses) == 1 else sum(grosses)
    vat = ROUNDING.divide(base * rate, HUNDRED + rate if incl else HUNDRED).quantize(cent, ROUND_HALF_UP, ROUNDING)
    booked = vat if printed is None else printed
    if not incl:
        return vat, ()
    if len(grosses) == 1:
        return vat, (booked,)
    return vat, tuple(_split_vat(booked, list(grosses), rate, cent))


def _line_amounts(line, cent: Decimal) -> tuple:
    """What a line alone decides, for the currency's `cent`: its gross, its cost, whether
    the line is fine as it is (its discount fits the cents, its amounts stay below the
    limit), and the attribute values of its sale and cost facts. Kept on the line
    (`Line.memo`): a line the reader remembers is worked out once."""
    discount = line.discount
    gross = (line.quantity * line.unit_price - discount).quantize(cent, ROUND_HALF_UP, ROUNDING)  # rounded()
    cost = None if line.cost is None else (line.quantity * line.cost).quantize(cent, ROUND_HALF_UP, ROUNDING)
    fine = ((not discount or fits_cents(discount, cent)) and -LIMIT < gross < LIMIT
            and (cost is None or -LIMIT < cost < LIMIT))
    line.memo = amounts = (cent, gross, cost, fine, (line.category, line.sku, line.vat), (line.category, line.sku))
    return amounts


def _too_fine(value: Decimal, where: str, ruleset: RuleSet) -> str:
    return f"{where} {value} has more decimals than {ruleset.currency} has ({ruleset.decimals})"


def _too_large(what: str, value: Decimal) -> str:
    return (f"{what} comes to {value}, more than a till can book (amounts stay below 10^{LIMIT_DIGITS}, "
            f"at most {LIMIT_DIGITS} digits before the decimal point)")


def _line_problems(line, i: int, gross: Decimal, cost: Decimal | None, ruleset: RuleSet) -> list[str]:
    out = []
    if line.discount and not fits_cents(line.discount, ruleset.cent):
        out.append(_too_fine(line.discount, f"lines[{i}].discount", ruleset))
    if not -LIMIT < gross < LIMIT:
        out.append(_too_large(f"lines[{i}] ({line.quantity} × {line.unit_price})", gross))
    if cost is not None and not -LIMIT < cost < LIMIT:
        out.append(_too_large(f"lines[{i}].cost ({line.quantity} × {line.cost})", cost))
    return out


def _rate(rate: Decimal) -> str:
    return format(rate.normalize(), "f") + "%"


def _printed_vat_problem(name: str, printed: Decimal, computed: Decimal, base: Decimal, rate: Decimal,
                         lines: int, incl: bool, cent: Decimal) -> str | None:
    """Printed VAT is taken as printed when rounding per line can explain how it differs from
    the VAT the rate gives: at most one cent per line of that VAT name (docs/receipts.md)."""
    tolerance = cent * lines
    if abs(printed - computed) <= tolerance:
        return None
    if not lines:
        return f"printed VAT {name} {printed}, but no line has VAT {name}"
    of = f"{_rate(rate)} of {base} ({'incl.' if incl else 'excl.'} VAT)"
    return (f"printed VAT {name} {printed} cannot come from {of}: that is {computed}, and rounding per "
            f"line explains at most {tolerance} ({lines} line(s) of VAT {name})")


def facts_and_total(receipt: Receipt, ruleset: RuleSet) -> tuple[list[tuple], Decimal]:
    """The facts of one completed receipt as plain tuples, and its total (Σ sale + Σ tax).

    Raises FactsError with every reason the receipt cannot have facts.
    """
    try:
        if getcontext().traps[Inexact]:  # a booking run set the EXACT context for the whole batch
            return _facts_and_total(receipt, ruleset)
        with localcontext(EXACT):
            return _facts_and_total(receipt, ruleset)
    except ArithmeticError:
        # A product or sum that would need rounding past the EXACT context's digits: refused.
        raise FactsError([f"its amounts cannot be computed exactly (a product or sum needs more than "
                          f"{EXACT.prec} significant digits)"]) from None


def _vat_memo(ruleset: RuleSet) -> Memo:
    memo = ruleset.__dict__.get("_vat_shares")
    if memo is None:
        memo = ruleset.__dict__["_vat_shares"] = Memo(_VAT_MEMO, probation=2048)
    return memo


def retry_memos(ruleset: RuleSet) -> None:
    """A new batch: the memos of reading and facts that turned off are on probation again."""
    _lines.retry()
    _vat_memo(ruleset).retry()


def _facts_and_total(receipt: Receipt, ruleset: RuleSet) -> tuple[list[tuple], Decimal]:
    cent = ruleset.cent
    vats = ruleset.vats
    reasons = []
    if receipt.currency != ruleset.currency:
        reasons.append(f"currency {receipt.currency} is not the rule file's {ruleset.currency}")

    # Line gross, and the lines per VAT name in receipt order.
    lines = receipt.lines
    grosses = []
    sales = []
    costs = []
    by_vat: dict[str, list[int]] = {}
    i = 0
    for line in lines:
        amounts = line.memo
        if amounts is None or amounts[0] is not cent:
            amounts = _line_amounts(line, cent)
        _, gross, cost, fine, sale_values, cost_values = amounts
        if not fine:
            reasons += _line_problems(line, i, gross, cost, ruleset)
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
        i += 1

    printed = {}
    for name, value in receipt.vat:
        if value.quantize(cent, None, ROUNDING) != value:  # fits_cents()
            reasons.append(_too_fine(value, f"vat[{name}]", ruleset))
        if name not in vats:
            reasons.append(f"printed VAT name '{name}' is not declared in the rule file")
        elif name in printed:
            reasons.append(f"VAT name '{name}' is printed twice")
        printed[name] = value
    paid = ZERO
    for p in receipt.payments:
        if p.amount.quantize(cent, None, ROUNDING) != p.amount:
            reasons.append(_too_fine(p.amount, f"payment {p.method}", ruleset))
        paid += p.amount
    rounding = receipt.cash_rounding
    if rounding and not fits_cents(rounding, cent):
        reasons.append(_too_fine(rounding, "cash_rounding", ruleset))
    if not lines and not receipt.payments and not printed and not rounding:
        reasons.append("nothing to book: the receipt is completed but has no lines and no payments (a till "
                       "that sells nothing should report it voided)")
    if reasons:
        raise FactsError(reasons)

    nets = grosses[:]
    taxes = {}
    incl = receipt.prices_include_vat
    worked = ruleset.__dict__.get("_vat_shares") or _vat_memo(ruleset)
    for name, idx in by_vat.items():
        if len(idx) == 1:
            gs = (grosses[idx[0]],)
        else:
            gs = tuple([grosses[i] for i in idx])
        value = printed.get(name)
        if value is not None:
            vat, shares = _vat_and_shares(gs, vats[name].rate, incl, cent, value)
            if abs(value - vat) > cent * len(idx):  # as _printed_vat_problem() says, without a call
                reasons.append(_printed_vat_problem(name, value, vat, sum(gs), vats[name].rate, len(idx), incl, cent))
            vat = value
        elif worked.on:
            # The same lines come back on receipt after receipt: their VAT and its split are worked
            # out once per rule set (two divisions a line otherwise, the costliest part of a receipt).
            worked.lookups += 1
            key = (name, incl, gs)
            found = worked.table.get(key)
            if found is None:
                found = _vat_and_shares(gs, vats[name].rate, incl, cent, None)
                worked.add(key, found)
            vat, shares = found
        else:
            vat, shares = _vat_and_shares(gs, vats[name].rate, incl, cent, None)
        if incl:
            for i, share in zip(idx, shares):
                nets[i] = grosses[i] - share
        taxes[name] = vat
    for name, value in printed.items():
        if name not in taxes:
            problem = _printed_vat_problem(name, value, ZERO, ZERO, vats[name].rate, 0, incl, cent)
            if problem:
                reasons.append(problem)
            taxes[name] = value
    if reasons:
        raise FactsError(reasons)

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
            f"payments {rounded(paid, cent)} + cash rounding {rounded(rounding, cent)} do not match the "
            f"receipt total {rounded(total, cent)} (sales {rounded(sum(nets, ZERO), cent)} + VAT "
            f"{rounded(sum(taxes.values(), ZERO), cent)})"
        ])
    return facts, total


def receipt_facts(receipt: Receipt, ruleset: RuleSet) -> list[Fact]:
    """The facts of one completed receipt, or FactsError with every reason it cannot have them."""
    return [Fact._make(f) for f in facts_and_total(receipt, ruleset)[0]]
