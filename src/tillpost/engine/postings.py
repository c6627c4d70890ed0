"""Facts → postings: each fact meets its rule and becomes two legs of one amount.

`book_receipt` is the per-receipt stage, a pure function: a receipt and the
rule set in, a `Booking` (the receipt's legs, where they go) or a
`ReceiptError` out. A receipt is never partly booked: every fact posts, or the
receipt is an error with all its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .facts import Fact, FactsError, receipt_facts
from .receipts import Receipt
from .ruleset import Rule, RuleSet

SALE_OR_TAX = ("sale", "tax")


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of a posting. `amount` is signed: debit positive, credit negative."""

    journal: str
    account: str  # the account number as declared
    debtor: str | None
    vat: str | None
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Booking:
    """What one receipt books: its legs, and the entry they belong to per journal."""

    receipt: Receipt
    mode: str  # turnover | individual
    key: tuple  # turnover: the group values (date, store, …); individual: (receipt id,)
    legs: tuple[Leg, ...]
    matched: tuple[tuple[Fact, Rule], ...]  # for explain: which rule booked which fact


@dataclass(frozen=True, slots=True)
class ReceiptError:
    receipt: str
    message: str


def describe_fact(fact: Fact, receipt_attrs: dict) -> str:
    from .ruleset import KIND_ATTRIBUTES

    attrs = dict(zip(KIND_ATTRIBUTES[fact.kind], fact.values))
    attrs.update(receipt_attrs)
    shown = " ".join(f"{k}={v}" if v != "" else f'{k}=""' for k, v in attrs.items())
    return f"{fact.kind} {fact.amount} ({fact.ref}) {shown}"


def receipt_attributes(receipt: Receipt, ruleset: RuleSet, mode: str, refund: bool) -> tuple:
    """The receipt's attribute values, laid out as ruleset.fact_attributes' receipt part."""
    declared = receipt.attributes
    return (
        receipt.store, receipt.register, receipt.source, mode, "yes" if refund else "no",
        "yes" if receipt.has_customer else "no",
        *(_attr_text(declared.get(a)) for a in ruleset.attributes),
    )


def _attr_text(value) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def receipt_mode(receipt: Receipt, ruleset: RuleSet) -> tuple[str, list[str]]:
    """individual when a payment's method is declared individual, else turnover; and what is wrong."""
    reasons = []
    individual = []
    for p in receipt.payments:
        method = ruleset.methods.get(p.method)
        if method is None:
            reasons.append(f"payment method '{p.method}' is not declared in the rule file")
        elif method.mode == "individual":
            individual.append(p.method)
    if not individual:
        return "turnover", reasons
    if len(receipt.payments) != 1:
        methods = ", ".join(p.method for p in receipt.payments)
        reasons.append(f"a receipt booked individually ({individual[0]}) must have exactly one payment; it has "
                       f"{len(receipt.payments)} ({methods})")
    return "individual", reasons


def book_receipt(receipt: Receipt, ruleset: RuleSet) -> Booking | ReceiptError:
    """One completed receipt → its Booking, or the ReceiptError that says every reason why not."""
    mode, reasons = receipt_mode(receipt, ruleset)
    try:
        facts = receipt_facts(receipt, ruleset)
    except FactsError as e:
        return ReceiptError(receipt.id, "; ".join(reasons + e.reasons))
    if reasons:
        return ReceiptError(receipt.id, "; ".join(reasons))

    total = sum((f.amount for f in facts if f.kind in SALE_OR_TAX), Decimal(0))
    rvalues = receipt_attributes(receipt, ruleset, mode, total < 0)
    kinds = ruleset.matcher.kinds
    if mode == "turnover":
        debtor = ruleset.counter_debtor
        key = tuple(getattr(receipt, f) for f in ruleset.group_by)
    else:
        method = ruleset.methods[receipt.payments[0].method]
        debtor = method.debtor or receipt.customer_debtor
        key = (receipt.id,)

    legs: list[Leg] = []
    matched = []
    unmatched = []
    for fact in facts:
        rule = kinds[fact.kind].lookup(rvalues, fact.values)
        if rule is None:
            unmatched.append(fact)
            continue
        matched.append((fact, rule))
        post = rule.post
        if post is None:
            continue
        debit, credit = post.debit, post.credit
        if (debit.debtors or credit.debtors) and debtor is None:
            reasons.append(f"{fact.kind} {fact.ref} books on debtors account {debit.number if debit.debtors else credit.number}, "
                           f"but the receipt has no customer debtor and method '{receipt.payments[0].method}' no fixed debtor")
            continue
        vat = fact.values[-1] if fact.kind in SALE_OR_TAX else None
        j = post.journal.name
        legs.append(Leg(j, debit.number, debtor if debit.debtors else None, None, fact.amount))
        legs.append(Leg(j, credit.number, debtor if credit.debtors else None, vat, -fact.amount))
    if unmatched:
        names = dict(zip(ruleset.fact_attributes("sale")[: len(rvalues)], rvalues))
        for fact in unmatched:
            reasons.append("no rule matches the fact " + describe_fact(fact, names))
    if reasons:
        return ReceiptError(receipt.id, "; ".join(dict.fromkeys(reasons)))
    return Booking(receipt, mode, key, tuple(legs), tuple(matched))
