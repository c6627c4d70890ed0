"""The compiled rule file: plain, immutable data that the booking stages read.

A `RuleSet` is what `compile_rules` makes of a client's rule file: the
declarations (journals, accounts, VAT, methods), the rules, and the matcher
that finds the rule for a fact. Targets read the declarations to render
journal codes, account names and VAT codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from decimal import Decimal

from .diagnostics import Position

FACT_KINDS = ("sale", "tax", "payment", "cost", "rounding", "difference", "movement")
CLOSING_KINDS = ("difference", "movement")  # the facts of a till closing (SPEC §11), always turnover
MOVEMENT_KINDS = ("payin", "payout", "deposit")
JOURNAL_TYPES = ("cash", "memo", "sales")
MODES = ("turnover", "individual")
GROUP_FIELDS = ("date", "store", "register")
DEFAULT_GROUP = ("date", "store")


def default_describe(group_by: tuple[str, ...]) -> dict[str, str]:
    """The descriptions without `describe`: a turnover entry's names what it is grouped by."""
    return {"turnover": " ".join(["Dagomzet", *("{" + f + "}" for f in group_by)]), "individual": "Bon {number}"}


DEFAULT_DESCRIBE = default_describe(DEFAULT_GROUP)  # "Dagomzet {date} {store}"

# Attributes every fact has (SPEC §5), then the ones of each kind.
RECEIPT_ATTRIBUTES = ("store", "register", "source", "mode", "refund", "customer")
KIND_ATTRIBUTES = {
    "sale": ("category", "sku", "vat"),
    "tax": ("vat",),
    "payment": ("method",),
    "cost": ("category", "sku"),
    "rounding": (),
    "difference": ("method",),
    "movement": ("kind", "method"),
}
# Attributes whose values are fixed words; a condition on another value can never match.
FIXED_VALUES = {
    "mode": MODES,
    "refund": ("yes", "no"),
    "customer": ("yes", "no"),
    "kind": MOVEMENT_KINDS,
}

# Decimals of a currency's minor unit (ISO 4217).
CURRENCY_DECIMALS = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2,
    "CZK": 2, "HUF": 2, "RON": 2, "BGN": 2, "CAD": 2, "AUD": 2, "NZD": 2, "ZAR": 2,
    "SGD": 2, "HKD": 2, "CNY": 2, "INR": 2, "BRL": 2, "MXN": 2, "TRY": 2, "ANG": 2,
    "AWG": 2, "SRD": 2, "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "KWD": 3, "BHD": 3,
    "JOD": 3, "OMR": 3, "TND": 3,
}


_CENTS = {d: Decimal(1).scaleb(-d) for d in range(0, 5)}


def tuple_getter(names: tuple[str, ...]):
    """attrgetter that always returns a tuple, even of one name."""
    from operator import attrgetter

    if len(names) == 1:
        get = attrgetter(names[0])
        return lambda obj: (get(obj),)
    return attrgetter(*names)


@dataclass(frozen=True)
class Journal:
    name: str
    type: str  # cash | memo | sales
    description: str
    pos: Position


@dataclass(frozen=True)
class Account:
    name: str
    number: str
    description: str
    debtors: bool  # a receivables account: its lines carry a debtor
    pos: Position


@dataclass(frozen=True)
class Vat:
    name: str
    rate: Decimal  # percent: 21 for 21%
    code: str | None  # what targets write out
    pos: Position


@dataclass(frozen=True)
class Method:
    name: str
    mode: str  # turnover | individual
    debtor: str | None  # the fixed debtor of an individual method
    pos: Position
    # `with pin, cash`: the methods that may pay part of a receipt this individual method is
    # invoiced by; each is (name, position of the name)
    mixed: tuple[tuple[str, Position], ...] = ()

    def allows(self, other: str) -> bool:
        return any(name == other for name, _ in self.mixed)


@dataclass(frozen=True)
class Post:
    journal: Journal
    debit: Account
    credit: Account


@dataclass(frozen=True)
class Rule:
    """`when KIND conditions (post J A -> B | skip)`.

    `conditions` maps each constrained attribute to the set of values it allows.
    `post` is None for `skip`.
    """

    kind: str
    conditions: dict[str, frozenset[str]]
    post: Post | None
    pos: Position
    text: str  # the rule as written, for explain and diagnostics
    index: int = 0  # its place among the rule set's rules: a cheap key for caches

    def __hash__(self) -> int:
        return self.index

    def matches(self, attrs: dict[str, str]) -> bool:
        return all(attrs.get(a) in vs for a, vs in self.conditions.items())

    def more_specific_than(self, other: "Rule") -> bool:
        """Constrains every attribute `other` does, each to a subset, and differs from it."""
        if self.conditions == other.conditions:
            return False
        return all(a in self.conditions and self.conditions[a] <= vs for a, vs in other.conditions.items())

    @property
    def where(self) -> str:
        return f"{self.pos.file}:{self.pos.line}"


@dataclass(frozen=True)
class SourceMapping:
    """`source lightspeed-retail payment "Pin" -> pin`: a POS name mapped to one of ours."""

    source: str
    what: str  # payment | tax | category
    value: str
    name: str
    pos: Position


@dataclass(frozen=True)
class TargetSetting:
    """`target exact-online division "123456"`: one setting of one payload target."""

    target: str
    setting: str
    value: str
    pos: Position  # of the value
    target_pos: Position | None = None
    setting_pos: Position | None = None


@dataclass
class RuleSet:
    client: str
    currency: str
    decimals: int
    counter_debtor: str | None
    group_by: tuple[str, ...]
    describe: dict[str, str]
    journals: dict[str, Journal]
    accounts: dict[str, Account]
    vats: dict[str, Vat]
    methods: dict[str, Method]
    attributes: tuple[str, ...]  # declared keys of a receipt's free-form `attributes`
    rules: tuple[Rule, ...]
    targets: dict[str, dict[str, str]] = field(default_factory=dict)  # target → setting → value
    target_settings: tuple[TargetSetting, ...] = ()  # the same, with positions for diagnostics
    sources: tuple[SourceMapping, ...] = ()
    files: tuple[str, ...] = ()  # the rule file and everything it includes
    matcher: object = None  # engine.matcher.Matcher, built by the compiler

    @cached_property
    def cent(self) -> Decimal:
        """The currency's smallest unit: Decimal('0.01') for EUR."""
        return _CENTS[self.decimals]

    def fact_attributes(self, kind: str) -> tuple[str, ...]:
        return RECEIPT_ATTRIBUTES + self.attributes + KIND_ATTRIBUTES[kind]
