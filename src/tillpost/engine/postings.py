"""Facts → postings: each fact meets its rule and becomes two legs of one amount.

`book_receipt` is the per-receipt stage, a pure function: a receipt and the
rule set in, a `Booking` (the receipt's legs, and the entry they go to) or a
`ReceiptError` out. A receipt is never partly booked: every fact posts, or the
receipt is an error with all its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from .facts import Fact, FactsError, facts_and_total
from .receipts import Receipt
from .ruleset import KIND_ATTRIBUTES, Rule, RuleSet

SALE_OR_TAX = ("sale", "tax")


class Leg(NamedTuple):
    """One side of a posting. `amount` is signed: debit positive, credit negative."""

    journal: str
    account: str  # the account number as declared
    debtor: str | None
    vat: str | None
    amount: Decimal


@dataclass(slots=True)
class Booking:
    """What one receipt books: its legs, and the entry they belong to per journal."""

    receipt: Receipt
    mode: str  # turnover | individual
    key: tuple  # turnover: the group values (date, store, …); individual: (receipt id,)
    legs: tuple[Leg, ...]
    ruleset: RuleSet = field(repr=False, compare=False, default=None)

    @property
    def matched(self) -> list[tuple[Fact, Rule | None]]:
        """Which rule booked which fact (for explain and lint; computed again on demand)."""
        return matched_rules(self.receipt, self.ruleset)


@dataclass(frozen=True, slots=True)
class ReceiptError:
    receipt: str
    message: str


def describe_fact(fact: Fact, receipt_attrs: dict) -> str:
    attrs = dict(zip(KIND_ATTRIBUTES[fact.kind], fact.values))
    attrs.update(receipt_attrs)
    shown = " ".join(f"{k}={v}" if v != "" else f'{k}=""' for k, v in attrs.items())
    return f"{fact.kind} {fact.amount} ({fact.where}) {shown}"


def _attr_text(value) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def receipt_attributes(receipt: Receipt, ruleset: RuleSet, mode: str, refund: bool) -> tuple:
    """The receipt's attribute values, laid out as `ruleset.fact_attributes`' receipt part."""
    values = (receipt.store, receipt.register, receipt.source, mode, "yes" if refund else "no",
              "yes" if receipt.has_customer else "no")
    if ruleset.attributes:
        declared = receipt.attributes
        values += tuple(_attr_text(declared.get(a)) for a in ruleset.attributes)
    return values


def receipt_mode(receipt: Receipt, ruleset: RuleSet) -> tuple[str, list[str]]:
    """individual when a payment's method is declared individual, else turnover; and what is wrong."""
    reasons = []
    individual = None
    methods = ruleset.methods
    for p in receipt.payments:
        method = methods.get(p.method)
        if method is None:
            reasons.append(f"payment method '{p.method}' is not declared in the rule file")
        elif method.mode == "individual" and individual is None:
            individual = p.method
    if individual is None:
        return "turnover", reasons
    if len(receipt.payments) != 1:
        shown = ", ".join(p.method for p in receipt.payments)
        reasons.append(f"a receipt booked individually ({individual}) must have exactly one payment; it has "
                       f"{len(receipt.payments)} ({shown})")
    return "individual", reasons


def matched_rules(receipt: Receipt, ruleset: RuleSet) -> list[tuple[Fact, Rule | None]]:
    mode, _ = receipt_mode(receipt, ruleset)
    facts, total = facts_and_total(receipt, ruleset)
    rvalues = receipt_attributes(receipt, ruleset, mode, total < 0)
    kinds = ruleset.matcher.kinds
    return [(Fact._make(f), kinds[f[0]].lookup(rvalues, f[2])) for f in facts]


def book_receipt(receipt: Receipt, ruleset: RuleSet) -> Booking | ReceiptError:
    """One completed receipt → its Booking, or the ReceiptError that says every reason why not."""
    mode, reasons = receipt_mode(receipt, ruleset)
    try:
        facts, total = facts_and_total(receipt, ruleset)
    except FactsError as e:
        return ReceiptError(receipt.id, "; ".join(reasons + e.reasons))
    if reasons:
        return ReceiptError(receipt.id, "; ".join(reasons))

    rvalues = receipt_attributes(receipt, ruleset, mode, total < 0)
    lookup = ruleset.matcher.lookups
    if mode == "turnover":
        debtor = ruleset.counter_debtor
        key = tuple([getattr(receipt, f) for f in ruleset.group_by])
    else:
        debtor = ruleset.methods[receipt.payments[0].method].debtor or receipt.customer_debtor
        key = (receipt.id,)

    legs = []
    unmatched = []
    for kind, amount, values, ref in facts:
        rule = lookup[kind](rvalues, values)
        if rule is None:
            unmatched.append(Fact(kind, amount, values, ref))
            continue
        post = rule.post
        if post is None:
            continue
        debit, credit = post.debit, post.credit
        if debit.debtors or credit.debtors:
            if debtor is None:
                reasons.append(f"{kind} {Fact(kind, amount, values, ref).where} books on debtors account "
                               f"{debit.number if debit.debtors else credit.number}, but the receipt has no customer "
                               f"debtor and method '{receipt.payments[0].method}' no fixed debtor")
                continue
            legs.append(Leg(post.journal.name, debit.number, debtor if debit.debtors else None, None, amount))
            legs.append(Leg(post.journal.name, credit.number, debtor if credit.debtors else None,
                            values[-1] if kind in SALE_OR_TAX else None, -amount))
        else:
            legs.append(Leg(post.journal.name, debit.number, None, None, amount))
            legs.append(Leg(post.journal.name, credit.number, None, values[-1] if kind in SALE_OR_TAX else None, -amount))
    if unmatched:
        names = dict(zip(ruleset.matcher.receipt_attrs, rvalues))
        for fact in unmatched:
            reasons.append("no rule matches the fact " + describe_fact(fact, names))
    if reasons:
        return ReceiptError(receipt.id, "; ".join(dict.fromkeys(reasons)))
    return Booking(receipt, mode, key, tuple(legs), ruleset)
