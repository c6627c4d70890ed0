"""Till closings (SPEC §11): reading, facts, booking, and reconciliation with the receipts.

A register is closed at the end of a business day: per payment method the POS
states what it expected and what was counted, the opening float, and the cash
moved in or out of the drawer (pay-ins, payouts, bank deposits). A closing sits
in the same input as the receipts, told apart by `"type": "closing"`; its
contract is `schemas/closing.schema.json`.

- Reading: `take_closings` takes the closings out of an input's `Records` as it
  is read, so whatever reads receipts never meets one; `read_closing` decodes
  and checks one the way `receipts` does a receipt (msgspec structs that mirror
  the schema; when it refuses one, jsonschema says why, with the JSON path).
- Facts: a `difference` per count whose counted amount is not the expected one
  (counted − expected: a shortage is negative) and a `movement` per movement
  (its amount as given: cash leaving the drawer is negative). Both are turnover
  facts with no debtor and no VAT name: they join the day's turnover entries of
  their journals, grouped by the rule file's group key.
- Booking: `book_closing` is the per-closing stage, pure like `book_receipt`; the
  batch (`book_closings`) refuses duplicates and a second closing of one
  register and day, and hands the bookings to the entry builder.
- Reconciliation: `reconcile` compares the receipts' payments per method with
  the POS's own figures: the second, independent proof of completeness.

What the receipt attributes mean for a closing's facts (rules may name them):
`store`, `register` and `source` are the closing's; `mode` is always
`turnover` (a closing is day turnover, never an invoice), `refund` and
`customer` are always `no` (a closing is no refund and has no customer), and a
declared key of the receipts' `attributes` is empty ("") — a closing has none.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, getcontext
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Literal

import msgspec

from .facts import Fact, FactsError
from .postings import NO_DEBTOR, NO_RULE, Booking, Stem, _plans, describe_fact, stem
from .receipts import (_CREATED, _CURRENCY, _DATE, ReceiptInvalid, _FloatSeen, _decimal, _split_document)
from .ruleset import MOVEMENT_KINDS, RuleSet

ZERO = Decimal(0)
CASH = "cash"  # the method a float is of, unless the closing says otherwise

# -- the checked closing ----------------------------------------------------------------


@dataclass(slots=True)
class Count:
    method: str
    expected: Decimal  # the POS's figure
    counted: Decimal  # what the person closing the register counted


@dataclass(slots=True)
class Movement:
    kind: str  # payin | payout | deposit
    method: str
    amount: Decimal  # cash leaving the drawer is negative
    reason: str


@dataclass(slots=True)
class Closing:
    id: str
    source: str
    store: str
    register: str
    date: str
    closed: str | None
    currency: str
    opening_float: Decimal
    closing_float: Decimal | None
    float_method: str
    has_float: bool
    counts: list[Count]
    movements: list[Movement]


class ClosingInvalid(Exception):
    """A closing that does not match its schema; the message says where and why."""


@dataclass(frozen=True, slots=True)
class ClosingError:
    closing: str
    message: str


# -- reading ----------------------------------------------------------------------------

_Text = Annotated[str, msgspec.Meta(min_length=1)]
_ABSENT = msgspec.UNSET
_Absent = msgspec.UnsetType


class _CountIn(msgspec.Struct, forbid_unknown_fields=True):
    method: _Text
    expected: Any  # amounts: checked and converted by `_amount`
    counted: Any


class _MovementIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    method: _Text
    amount: Any
    reason: str = ""


class _FloatIn(msgspec.Struct, forbid_unknown_fields=True):
    opening: Any
    closing: Any = _ABSENT
    method: _Text | _Absent = _ABSENT


class _ClosingIn(msgspec.Struct, forbid_unknown_fields=True):
    type: Literal["closing"]
    id: _Text
    store: _Text
    date: str
    currency: str
    counts: list[_CountIn]
    register: _Text | _Absent = _ABSENT
    source: str | _Absent = _ABSENT
    closed: str | _Absent = _ABSENT
    float_: _FloatIn | _Absent = msgspec.field(default=_ABSENT, name="float")
    movements: list[_MovementIn] = []


class _Kind(msgspec.Struct):
    """Just a record's `type`, to tell a closing from a receipt without reading either."""

    type: Any = None


_decoder = msgspec.json.Decoder(_ClosingIn, float_hook=Decimal)
_kind_decoder = msgspec.json.Decoder(_Kind)


def _amount(value) -> Decimal:
    try:
        return _decimal(value)
    except ReceiptInvalid:
        raise ClosingInvalid from None


def _real_date(text: str) -> bool:
    try:
        _dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def _closing(c: _ClosingIn) -> Closing:
    if not (_DATE.fullmatch(c.date) and _CURRENCY.fullmatch(c.currency)):
        raise ClosingInvalid
    if not _real_date(c.date):
        raise ClosingInvalid(f"date: {c.date!r} is not a day of the calendar")
    closed = None if c.closed is _ABSENT else c.closed
    if closed is not None and _CREATED.fullmatch(closed) is None:
        raise ClosingInvalid
    counts = [Count(n.method, _amount(n.expected), _amount(n.counted)) for n in c.counts]
    movements = []
    for m in c.movements:
        if m.kind not in MOVEMENT_KINDS:
            raise ClosingInvalid
        movements.append(Movement(m.kind, m.method, _amount(m.amount), m.reason))
    f = c.float_
    has_float = f is not _ABSENT
    return Closing(
        c.id, "" if c.source is _ABSENT else c.source, c.store, "" if c.register is _ABSENT else c.register,
        c.date, closed, c.currency,
        _amount(f.opening) if has_float else ZERO,
        _amount(f.closing) if has_float and f.closing is not _ABSENT else None,
        f.method if has_float and f.method is not _ABSENT else CASH, has_float, counts, movements,
    )


def decode_closing(data: bytes) -> Closing:
    """Decode and check one closing from its JSON; raises ClosingInvalid."""
    try:
        return _closing(_decoder.decode(data))
    except msgspec.MsgspecError:
        raise ClosingInvalid from None


def read_closing(obj) -> Closing:
    """Check one decoded closing (a dict) and convert it; raises ClosingInvalid, or
    receipts._FloatSeen when an amount is a binary float (decode it again exactly)."""
    try:
        return _closing(msgspec.convert(obj, _ClosingIn))
    except msgspec.ValidationError:
        raise ClosingInvalid from None


@lru_cache(maxsize=1)
def closing_schema() -> dict:
    return json.loads(resources.files("tillpost.schemas").joinpath("closing.schema.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _schema_validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(closing_schema())


def _where(path) -> str:
    """A JSON path as the message names it: counts[0].counted, or 'the closing' for the whole."""
    parts = []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else (("." if parts else "") + p))
    return "".join(parts) or "the closing"


_NEEDS = {
    "expected": "a count needs the amount the POS expected and the amount counted",
    "counted": "a count needs the amount the POS expected and the amount counted",
    "method": "name the payment method",
    "opening": "a float needs its opening amount",
}


_AMOUNTS = ("expected", "counted", "amount", "opening", "closing")


def schema_message(obj) -> str | None:
    """Why a closing does not match its schema, in words, with where it is; None if it does."""
    from jsonschema.exceptions import best_match

    error = best_match(_schema_validator().iter_errors(obj))
    if error is None:
        return None
    where = _where(error.absolute_path)
    if error.validator == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        name = missing.group(1) if missing else error.message
        need = _NEEDS.get(name)
        return f"{where} has no {name}" + (f" ({need})" if need else "")
    if error.validator == "enum" and error.absolute_path and error.absolute_path[-1] == "kind":
        return f"{where} is {error.instance!r}: a movement is {', '.join(MOVEMENT_KINDS[:-1])} or {MOVEMENT_KINDS[-1]}"
    if "anyOf" in error.absolute_schema_path and error.absolute_path and error.absolute_path[-1] in _AMOUNTS:
        return f"{where} is {error.instance!r}, not an amount (a decimal such as \"12.50\")"
    return f"{where}: {error.message}"


def closing_id(obj, position: int) -> str:
    """The id to report a closing under: its own, or its place in the input."""
    if isinstance(obj, dict) and isinstance(obj.get("id"), str) and obj["id"]:
        return obj["id"]
    return f"#{position + 1}"


_exact_decoder = msgspec.json.Decoder(float_hook=Decimal)


def _is_closing_text(item: bytes) -> bool:
    try:
        return _kind_decoder.decode(item).type == "closing"
    except msgspec.MsgspecError:  # malformed: the receipt path words it
        return False


@dataclass(slots=True)
class ClosingItem:
    """One closing of an input, as read: its JSON text or decoded dict, and where it was."""

    item: object  # bytes (JSON text) or a decoded dict
    position: int  # its place among the records of the input (0-based)
    error: str | None = None  # a source adapter could not read it: why
    raw: bytes = b""  # the document it was decoded from (dict items), to decode it again exactly
    source: str = ""

    def decoded(self):
        """The closing as data; a JSON number with a fraction as Decimal, never a float."""
        item = self.item
        if type(item) is bytes:
            try:
                return _exact_decoder.decode(item)
            except msgspec.DecodeError:
                return json.loads(item, parse_float=Decimal)
        return item

    def read(self) -> tuple[object, Closing | None, str | None]:
        """(decoded object, closing or None, why not)."""
        if self.error is not None:
            return self.item, None, self.error
        item = self.item
        try:
            if type(item) is bytes:
                return item, decode_closing(item), None
            return item, read_closing(item), None
        except _FloatSeen:
            if not self.raw:
                return item, None, "an amount is a binary float; give amounts as decimal strings or Decimal"
            exact = _split_document(self.source, self.raw, exact=True)[self.position]
            try:
                return exact, read_closing(exact), None
            except ClosingInvalid as e:
                return exact, None, schema_message(exact) or str(e) or "does not match the closing schema"
        except ClosingInvalid as e:
            obj = self.decoded()
            return obj, None, schema_message(obj) or str(e) or "does not match the closing schema"


def is_closing(item) -> bool:
    if type(item) is bytes:
        return b'"closing"' in item and _is_closing_text(item)
    return type(item) is dict and item.get("type") == "closing"


def take_closings(records) -> None:
    """Move the closings of `records` (receipts.Records) out of its items into `records.closings`.

    Receipt indices, per-record errors and file line numbers move with their receipts.
    """
    items = records.items
    found = [i for i, item in enumerate(items) if is_closing(item)]
    if not found:
        return
    taken = set(found)
    for i in found:
        item = items[i]
        records.closings.append(ClosingItem(item, i, records.errors.get(i),
                                            records.raw if type(item) is not bytes else b"", records.source))
    keep = [i for i in range(len(items)) if i not in taken]
    if records.errors:
        records.errors = {new: records.errors[old] for new, old in enumerate(keep) if old in records.errors}
    records.line_numbers = [records.line_of(old) for old in keep]
    records.items = [items[i] for i in keep]


def without_closings(items: list) -> list:
    return [item for item in items if not is_closing(item)]


# -- facts ------------------------------------------------------------------------------


def _too_fine(value: Decimal, where: str, ruleset: RuleSet) -> str:
    return f"{where} {value} has more decimals than {ruleset.currency} has ({ruleset.decimals})"


def closing_facts(closing: Closing, ruleset: RuleSet) -> list[tuple]:
    """The facts of one closing as plain tuples (kind, amount, values, index), or FactsError
    with every reason it cannot have them."""
    try:
        return _closing_facts(closing, ruleset)
    except ArithmeticError:
        raise FactsError([f"its amounts are too large to compute exactly (more than {getcontext().prec} "
                          "significant digits)"]) from None


def _closing_facts(closing: Closing, ruleset: RuleSet) -> list[tuple]:
    cent, methods = ruleset.cent, ruleset.methods
    reasons = []
    if closing.currency != ruleset.currency:
        reasons.append(f"currency {closing.currency} is not the rule file's {ruleset.currency}")
    if closing.has_float:
        if closing.float_method not in methods:
            reasons.append(f"float: method '{closing.float_method}' is not declared in the rule file "
                           "(name the float's method: \"float\": {\"method\": …})")
        for name, value in (("opening", closing.opening_float), ("closing", closing.closing_float)):
            if value is not None and value.quantize(cent) != value:
                reasons.append(_too_fine(value, f"float.{name}", ruleset))
    counted_at: dict[str, int] = {}
    for i, c in enumerate(closing.counts):
        if c.method not in methods:
            reasons.append(f"counts[{i}] counts method '{c.method}', which the rule file does not declare")
        if c.method in counted_at:
            reasons.append(f"counts[{i}] counts method '{c.method}' again (counts[{counted_at[c.method]}] counts "
                           "it too)")
        counted_at.setdefault(c.method, i)
        for name, value in (("expected", c.expected), ("counted", c.counted)):
            if value.quantize(cent) != value:
                reasons.append(_too_fine(value, f"counts[{i}].{name}", ruleset))
    for i, m in enumerate(closing.movements):
        if m.method not in methods:
            reasons.append(f"movements[{i}] moves method '{m.method}', which the rule file does not declare")
        if m.amount.quantize(cent) != m.amount:
            reasons.append(_too_fine(m.amount, f"movements[{i}].amount", ruleset))
        if m.kind == "payin" and m.amount < 0:
            reasons.append(f"movements[{i}] is a pay-in of {m.amount}: a pay-in puts money into the drawer, "
                           "its amount is positive")
        elif m.kind != "payin" and m.amount > 0:
            reasons.append(f"movements[{i}] is a {m.kind} of {m.amount}: a {m.kind} takes money out of the "
                           f"drawer, its amount is negative (-{m.amount})")
    if reasons:
        raise FactsError(reasons)
    facts = []
    for i, c in enumerate(closing.counts):
        if c.counted != c.expected:
            facts.append(("difference", c.counted - c.expected, (c.method,), i))
    for i, m in enumerate(closing.movements):
        if m.amount:
            facts.append(("movement", m.amount, (m.kind, m.method), i))
    return facts


def closing_attributes(closing: Closing, ruleset: RuleSet) -> tuple:
    """The receipt attributes of a closing's facts, laid out as `ruleset.fact_attributes`' receipt
    part: always turnover, never a refund, no customer, no free-form attributes."""
    return (closing.store, closing.register, closing.source, "turnover", "no", "no") + ("",) * len(ruleset.attributes)


# -- booking ----------------------------------------------------------------------------


@dataclass(slots=True)
class ClosingBooking(Booking):
    """What one closing books: postings that join the day's turnover entries of their journals.

    `receipt` holds the Closing (the entry builder reads id, date and the group fields
    from it); an entry lists it among its `closings`, not its receipts.
    """

    @property
    def closing(self) -> Closing:
        return self.receipt

    def only(self, journal: str) -> "ClosingBooking":
        return ClosingBooking(self.receipt, self.mode, self.key,
                              [p for p in self.postings if p[0].journal == journal], self.ruleset)

    @property
    def matched(self) -> list:
        return matched_closing_rules(self.receipt, self.ruleset)


def matched_closing_rules(closing: Closing, ruleset: RuleSet) -> list:
    rvalues = closing_attributes(closing, ruleset)
    kinds = ruleset.matcher.kinds
    return [(Fact._make(f), kinds[f[0]].lookup(rvalues, f[2])) for f in closing_facts(closing, ruleset)]


def book_closing(closing: Closing, ruleset: RuleSet) -> ClosingBooking | ClosingError:
    """One closing → its ClosingBooking, or the ClosingError that says every reason why not."""
    try:
        facts = closing_facts(closing, ruleset)
    except FactsError as e:
        return ClosingError(closing.id, "; ".join(e.reasons))
    plans = _plans(ruleset)
    rvalues = closing_attributes(closing, ruleset)
    slots = plans.for_receipt(rvalues, None)
    postings, reasons = [], []
    for fact in facts:
        table, key_of = slots[fact[0]]
        fk = key_of(fact[2])
        planned = table.get(fk)
        if planned is None:
            planned = table[fk] = plans.plan(fact[0], rvalues, fact[2], None)
        if planned.__class__ is Stem:
            postings.append((planned, fact[1]))
        elif planned is NO_RULE:
            names = dict(zip(ruleset.matcher.receipt_attrs, rvalues))
            reasons.append("no rule matches the fact " + describe_fact(Fact._make(fact), names))
        elif planned is NO_DEBTOR:  # the compiler refuses such rules; kept for rule sets built by hand
            f = Fact._make(fact)
            account = stem(ruleset.matcher.kinds[f.kind].lookup(rvalues, f.values).post, None, None).debtors_account
            reasons.append(f"{f.kind} {f.where} books on debtors account {account}, but a closing has no debtor")
    if reasons:
        return ClosingError(closing.id, "; ".join(reasons))
    return ClosingBooking(closing, "turnover", plans.group_key(closing), postings, ruleset)


@dataclass
class ClosingsBooked:
    """What a batch's closings came to: the ids booked, the errors, and (when kept) the bookings."""

    booked: list[str] = field(default_factory=list)
    errors: list[ClosingError] = field(default_factory=list)
    bookings: list[ClosingBooking] = field(default_factory=list)
    closings: list[Closing] = field(default_factory=list)  # every closing read, booked or not


def book_closings(ruleset: RuleSet, items: list[ClosingItem], add=None, selected=None,
                  keep_bookings: bool = False) -> ClosingsBooked:
    """Read and book the closings of one input; `add(booking)` puts a booking into the entries.

    An id seen twice, or two closings of one register and business day, are errors for
    every copy, and none of them is booked: which one is right cannot be known.
    """
    out = ClosingsBooked()
    read: list[tuple[str, Closing | None, str | None]] = []
    copies: dict[str, int] = {}
    for item in items:
        obj, closing, problem = item.read()
        cid = closing.id if closing is not None else closing_id(obj, item.position)
        copies[cid] = copies.get(cid, 0) + 1
        read.append((cid, closing, problem))
    errors: dict[str, str] = {}
    registers: dict[tuple, list[str]] = {}
    seen = set()
    for cid, closing, problem in read:
        if cid in seen:
            continue
        seen.add(cid)
        if copies[cid] > 1:
            errors[cid] = f"id {cid} occurs {copies[cid]} times in this input; none of them is booked"
        elif problem is not None:
            errors[cid] = problem
        else:
            if selected is not None and not selected(closing):
                continue
            out.closings.append(closing)
            registers.setdefault((closing.store, closing.register, closing.date), []).append(cid)
    for (store, register, date), ids in registers.items():
        if len(ids) > 1:
            for cid in ids:
                others = ", ".join(o for o in ids if o != cid)
                errors[cid] = (f"register {register or '(none)'} of store {store} is closed more than once on {date} "
                               f"in this input (also by {others}); a register closes once a day: none of them is "
                               "booked")
    for closing in out.closings:
        if closing.id in errors:
            continue
        booking = book_closing(closing, ruleset)
        if booking.__class__ is ClosingError:
            errors[closing.id] = booking.message
            continue
        if add is not None:
            add(booking)
        out.booked.append(closing.id)
        if keep_bookings:
            out.bookings.append(booking)
    out.booked.sort()
    out.bookings.sort(key=lambda b: b.receipt.id)
    out.errors = [ClosingError(cid, errors[cid]) for cid in sorted(errors)]
    return out


# -- reconciliation ---------------------------------------------------------------------


@dataclass(frozen=True)
class MethodReconciliation:
    """One payment method of one register's day, the POS's figures against the receipts."""

    method: str
    expected: Decimal | None  # the POS's expected amount; None: the closing does not count this method
    counted: Decimal | None  # what was counted; None: not counted
    difference: Decimal  # counted − expected: the cash (or card) difference; 0 when not counted
    opening_float: Decimal  # the opening float in `expected` (only for the float's method)
    movements: Decimal  # the pay-ins, payouts and deposits in `expected`
    receipts: Decimal  # what the receipts tillpost saw paid with this method
    pos_receipts: Decimal | None  # what the POS says the receipts paid: expected − float − movements
    reconciliation: Decimal | None  # receipts − pos_receipts; None when the closing does not count the method

    @property
    def complete(self) -> bool:
        return not self.reconciliation


@dataclass(frozen=True)
class Reconciliation:
    """One register's day: per method, the closing's figures and the receipts' payments."""

    closing: str
    store: str
    register: str
    date: str
    methods: dict[str, MethodReconciliation]

    @property
    def complete(self) -> bool:
        """True when the receipts seen are exactly what the POS counted them to be, for every
        method the closing counts. A counted cash difference does not make a day incomplete."""
        return all(m.complete for m in self.methods.values())

    @property
    def missing(self) -> Decimal:
        """What the receipts seen lack against the POS, over all methods (negative: more was seen)."""
        return -sum((m.reconciliation or ZERO for m in self.methods.values()), ZERO)

    def as_dict(self, decimals: int = 2) -> dict:
        """Plain data (amounts as decimal strings with the currency's decimals), for status JSON."""
        q = Decimal(1).scaleb(-decimals)

        def money(value):
            return None if value is None else str(value.quantize(q))

        return {
            "closing": self.closing, "store": self.store, "register": self.register, "date": self.date,
            "complete": self.complete,
            "methods": [{"method": m.method, "expected": money(m.expected), "counted": money(m.counted),
                         "difference": money(m.difference), "float": money(m.opening_float),
                         "movements": money(m.movements),
                         "receipts": money(m.receipts), "pos_receipts": money(m.pos_receipts),
                         "reconciliation": money(m.reconciliation), "complete": m.complete}
                        for m in self.methods.values()],
        }


def reconcile(closing: Closing, payments_by_method: Mapping[str, Decimal]) -> Reconciliation:
    """The closing of one register and day against what its receipts paid, per method.

    `payments_by_method` is what the completed receipts of the closing's store,
    register and business day that tillpost has seen paid, per method (Decimal;
    `register_payments` sums them from receipts; the ledger passes its own sums).

    Per method:
    - `expected` and `counted` are the closing's; `difference` = counted − expected is
      the cash (or card) difference the closing books as a `difference` fact. It was
      counted: it is a booked fact, and it does *not* make the day incomplete.
    - `pos_receipts` is what the POS says the receipts paid: its expected amount less
      the opening float (for the float's method, normally cash) and less the movements
      of that method (pay-ins, payouts, deposits: money that moved without a receipt).
    - `reconciliation` = receipts − pos_receipts. Zero: every receipt the POS counted
      is here. Negative: receipts are missing from tillpost's input (by that amount);
      positive: tillpost saw receipts the POS did not count (a receipt booked on the
      wrong register or day, or twice). A reconciliation difference *does* make the
      day incomplete (`Reconciliation.complete`).
    - A method the receipts used but the closing does not count (an invoice or a
      delivery platform, settled elsewhere) has expected, counted, pos_receipts and
      reconciliation None: the closing proves nothing about it either way.
    """
    out: dict[str, MethodReconciliation] = {}
    moved: dict[str, Decimal] = {}
    for m in closing.movements:
        moved[m.method] = moved.get(m.method, ZERO) + m.amount
    for c in closing.counts:
        if c.method in out:
            continue  # counted twice: the closing is an error; the first count stands here
        opening = closing.opening_float if c.method == closing.float_method else ZERO
        movements = moved.get(c.method, ZERO)
        paid = payments_by_method.get(c.method, ZERO)
        pos = c.expected - opening - movements
        out[c.method] = MethodReconciliation(c.method, c.expected, c.counted, c.counted - c.expected, opening,
                                             movements, paid, pos, paid - pos)
    for method in sorted(set(payments_by_method) - set(out)):
        out[method] = MethodReconciliation(method, None, None, ZERO, ZERO, moved.get(method, ZERO),
                                           payments_by_method[method], None, None)
    return Reconciliation(closing.id, closing.store, closing.register, closing.date, out)


def register_payments(receipts: Iterable) -> dict[tuple[str, str, str], dict[str, Decimal]]:
    """(store, register, date) → method → what the completed receipts among `receipts` paid."""
    out: dict[tuple[str, str, str], dict[str, Decimal]] = {}
    for r in receipts:
        if r.status != "completed":
            continue
        paid = out.setdefault((r.store, r.register, r.date), {})
        for p in r.payments:
            paid[p.method] = paid.get(p.method, ZERO) + p.amount
    return out
