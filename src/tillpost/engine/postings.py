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
from .matcher import selector
from .mixed import individual_method, payment_mode
from .ruleset import KIND_ATTRIBUTES, Rule, RuleSet, tuple_getter

SALE_OR_TAX = ("sale", "tax")


class Leg(NamedTuple):
    """One side of a posting. `amount` is signed: debit positive, credit negative."""

    journal: str
    account: str  # the account number as declared
    debtor: str | None
    vat: str | None
    amount: Decimal


class Stem:
    """What a posting is, but for its amount: the same for every fact a rule books
    with one debtor and one VAT name, so it is made once and shared (see `_Plans`).

    The line keys are the (account, debtor, VAT name) an entry sums its lines by.
    Stems hash by identity: entries sum amounts per stem object (cheap), and spread
    them over lines by those keys at the end, so two equal stems still add up.
    """

    __slots__ = ("journal", "debit", "credit", "debtors_account")

    def __init__(self, journal: str, debit: tuple, credit: tuple, debtors_account: str | None):
        self.journal = journal
        self.debit = debit  # (account, debtor, vat) of the debit leg
        self.credit = credit  # (account, debtor, vat) of the credit leg
        self.debtors_account = debtors_account  # the debtors account among the two, whose lines need a debtor

    def __repr__(self) -> str:
        return f"Stem({self.journal}, {self.debit} -> {self.credit})"


def stem(post, debtor: str | None, vat: str | None) -> Stem:
    debit, credit = post.debit, post.credit
    debtors = debit.number if debit.debtors else credit.number if credit.debtors else None
    return Stem(post.journal.name, (debit.number, debtor if debit.debtors else None, None),
                (credit.number, debtor if credit.debtors else None, vat), debtors)


@dataclass(slots=True)
class Booking:
    """What one receipt books: its postings, and the entry they belong to per journal.

    `postings` are (Stem, amount) pairs: debit the stem's debit line, credit its credit
    line, by `amount` (a refund's negative amount turns the sides around). `legs`
    spells them out one side at a time.
    """

    receipt: Receipt
    mode: str  # turnover | individual
    key: tuple  # turnover: the group values (date, store, …); individual: (receipt id,)
    postings: list[tuple[Stem, Decimal]]
    ruleset: RuleSet = field(repr=False, compare=False, default=None)

    @property
    def legs(self) -> list[Leg]:
        legs = []
        for s, amount in self.postings:
            legs.append(Leg(s.journal, *s.debit, amount))
            legs.append(Leg(s.journal, *s.credit, -amount))
        return legs

    def journals(self) -> list[str]:
        return list(dict.fromkeys(s.journal for s, _ in self.postings))

    def only(self, journal: str) -> "Booking":
        """The part of this booking that goes into one journal."""
        return Booking(self.receipt, self.mode, self.key,
                       [p for p in self.postings if p[0].journal == journal], self.ruleset)

    @property
    def matched(self) -> list[tuple[Fact, Rule | None]]:
        """Which rule booked which fact (for explain and lint; computed again on demand)."""
        return matched_rules(self.receipt, self.ruleset)


@dataclass(frozen=True, slots=True)
class ReceiptError:
    receipt: str
    message: str
    where: str | None = field(default=None, compare=False)  # where it is in the input: `day.jsonl:3`, `day.json #3`


def describe_fact(fact: Fact, receipt_attrs: dict) -> str:
    attrs = dict(zip(KIND_ATTRIBUTES[fact.kind], fact.values))
    attrs.update(receipt_attrs)
    shown = " ".join(f"{k}={v}" if v != "" else f'{k}=""' for k, v in attrs.items())
    return f"{fact.kind} {fact.amount} ({fact.where}) {shown}"


def _attr_text(value) -> str:
    """A receipt attribute as rules match it. A number by its value, however it was
    written or decoded: 1, 1.0 and 1.00 are "1"; 1.50 and 1.5 are "1.5"."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is str:
        return value
    if type(value) is float:
        value = Decimal(repr(value))
    if type(value) is Decimal:
        if not value:
            return "0"  # -0 too
        try:
            return format(value.normalize(), "f")  # 1.50 → 1.5, 2E0 → 2, 1E+2 → 100
        except ArithmeticError:  # past Decimal's exponent range (1e9999999): as written
            return str(value)
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
    payments = receipt.payments
    if len(payments) == 1:  # the common case, without the loop
        method = ruleset.methods.get(payments[0].method)
        if method is not None:
            return method.mode, []
    mode, _, reasons = payment_mode(payments, ruleset.methods)
    return mode, reasons


def invoice_debtor(receipt: Receipt, ruleset: RuleSet) -> str | None:
    """The debtor of an individual receipt: its individual method's fixed debtor, else its customer's."""
    method = individual_method(receipt.payments, ruleset.methods)
    return (method.debtor if method is not None else None) or receipt.customer_debtor


def matched_rules(receipt: Receipt, ruleset: RuleSet) -> list[tuple[Fact, Rule | None]]:
    mode, _ = receipt_mode(receipt, ruleset)
    facts, total = facts_and_total(receipt, ruleset)
    rvalues = receipt_attributes(receipt, ruleset, mode, total < 0)
    kinds = ruleset.matcher.kinds
    return [(Fact._make(f), kinds[f[0]].lookup(rvalues, f[2])) for f in facts]


# The plans of facts that post nothing: their rule skips them, no rule matches them,
# or their rule posts on a debtors account and the receipt has no debtor.
SKIP = "skip"
NO_RULE = "no rule"
NO_DEBTOR = "no debtor"


class _Plans:
    """What each fact books, worked out once per combination of the attribute values
    its rules look at: the rule's Stem (with the receipt's debtor and the fact's VAT
    name filled in), or SKIP, NO_RULE or NO_DEBTOR. Booking a fact is then two dict
    lookups, whatever the number of rules."""

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        matcher = ruleset.matcher
        used = {a for index in matcher.kinds.values() for a in index.receipt_keys}
        self.receipt_key = selector(matcher.receipt_attrs, tuple(a for a in matcher.receipt_attrs if a in used))
        self.fact_key = {}
        for kind, index in matcher.kinds.items():
            wanted = set(index.fact_keys) | ({"vat"} if kind in SALE_OR_TAX else set())
            self.fact_key[kind] = selector(index.fact_attrs, tuple(a for a in index.fact_attrs if a in wanted))
        self.tables: dict = {}
        self.group_key = tuple_getter(ruleset.group_by)  # the values a turnover receipt is grouped by

    def for_receipt(self, rvalues: tuple, debtor: str | None) -> dict:
        """kind → (its plan table for this receipt's attribute values and debtor, the fact key)."""
        key = (self.receipt_key(rvalues), debtor)
        slots = self.tables.get(key)
        if slots is None:
            slots = self.tables[key] = {kind: ({}, self.fact_key[kind]) for kind in KIND_ATTRIBUTES}
        return slots

    def plan(self, kind: str, rvalues: tuple, values: tuple, debtor: str | None):
        rule = self.ruleset.matcher.kinds[kind].lookup(rvalues, values)
        if rule is None:
            return NO_RULE
        if rule.post is None:
            return SKIP
        planned = stem(rule.post, debtor, values[-1] if kind in SALE_OR_TAX else None)
        if debtor is None and planned.debtors_account is not None:
            return NO_DEBTOR
        return planned


def _plans(ruleset: RuleSet) -> _Plans:
    plans = ruleset.__dict__.get("_plans")
    if plans is None:
        plans = ruleset.__dict__["_plans"] = _Plans(ruleset)
    return plans


def _no_debtor(receipt: Receipt, ruleset: RuleSet, rvalues: tuple, facts: list[Fact]) -> str:
    """Said once for the receipt, with the fix, however many of its facts need the debtor."""
    accounts = dict.fromkeys(
        stem(ruleset.matcher.kinds[f.kind].lookup(rvalues, f.values).post, None, None).debtors_account for f in facts)
    method = individual_method(receipt.payments, ruleset.methods)
    if method is None:  # turnover without `counter debtor` (the compiler prevents it)
        return f"no debtor for debtors account {', '.join(accounts)}: the rule file declares no counter debtor"
    return (f"no debtor for debtors account {', '.join(accounts)}: the receipt is booked individually (method "
            f"'{method.name}') and has no customer debtor; give the receipt a customer.debtor, or the method a "
            f"fixed debtor (method {method.name} individual debtor \"…\")")


def book_receipt(receipt: Receipt, ruleset: RuleSet) -> Booking | ReceiptError:
    """One completed receipt → its Booking, or the ReceiptError that says every reason why not."""
    payments = receipt.payments
    method = ruleset.methods.get(payments[0].method) if len(payments) == 1 else None
    if method is not None:  # one payment of a declared method: the common case, inline
        mode, reasons = method.mode, []
    else:
        mode, reasons = receipt_mode(receipt, ruleset)
    try:
        facts, total = facts_and_total(receipt, ruleset)
    except FactsError as e:
        return ReceiptError(receipt.id, "; ".join(reasons + e.reasons))
    if reasons:
        return ReceiptError(receipt.id, "; ".join(reasons))

    rvalues = receipt_attributes(receipt, ruleset, mode, total < 0)
    plans = ruleset.__dict__.get("_plans") or _plans(ruleset)
    if mode == "turnover":
        debtor = ruleset.counter_debtor
        key = plans.group_key(receipt)
    else:
        debtor = invoice_debtor(receipt, ruleset)
        key = (receipt.id,)
    slots = plans.for_receipt(rvalues, debtor)
    postings = []
    unmatched = []
    no_debtor = None
    for fact in facts:
        table, key_of = slots[fact[0]]
        fk = key_of(fact[2])
        planned = table.get(fk)
        if planned is None:
            planned = table[fk] = plans.plan(fact[0], rvalues, fact[2], debtor)
        if planned.__class__ is Stem:
            postings.append((planned, fact[1]))
        elif planned is NO_RULE:
            unmatched.append(Fact._make(fact))
        elif planned is NO_DEBTOR:
            no_debtor = (no_debtor or []) + [Fact._make(fact)]
    if no_debtor:
        reasons.append(_no_debtor(receipt, ruleset, rvalues, no_debtor))
    if unmatched:
        names = dict(zip(ruleset.matcher.receipt_attrs, rvalues))
        for fact in unmatched:
            reasons.append("no rule matches the fact " + describe_fact(fact, names))
    if reasons:
        return ReceiptError(receipt.id, "; ".join(dict.fromkeys(reasons)))
    return Booking(receipt, mode, key, postings, ruleset)
