"""Statements → RuleSet: every compile-time check of SPEC §6.

The compiler reads a client's rule file and what it includes, checks names,
rules and coverage, and builds the rule graph (`matcher.Matcher`). It never
stops at the first problem: all diagnostics of a file come in one run.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import chain
from pathlib import Path

from .conflicts import FactSpace, Other, conflicts, inside, uncovered
from .diagnostics import Diagnostics, Position, RulesError
from .gcpause import gc_paused
from .matcher import Matcher
from .mixed import check_mixed
from .ruleset import (
    CLOSING_KINDS,
    CURRENCY_DECIMALS,
    DEFAULT_DESCRIBE,
    DEFAULT_GROUP,
    FACT_KINDS,
    FIXED_VALUES,
    GROUP_FIELDS,
    JOURNAL_TYPES,
    KIND_ATTRIBUTES,
    MODES,
    MOVEMENT_KINDS,
    RECEIPT_ATTRIBUTES,
    Account,
    Journal,
    Method,
    Post,
    Rule,
    RuleSet,
    SourceMapping,
    TargetSetting,
    Vat,
    default_describe,
)
from .rulefiles import read_statements, rules_root  # noqa: F401  (rules_root: for the workflow)
from .syntax import Statement, Word, did_you_mean, parse
from .templates import template_problems

SOURCE_MAPPINGS = ("payment", "tax", "category", "movement")
INDIVIDUAL_PLACEHOLDERS = ("number", "id", "date", "store", "register", "customer", "debtor")
MAX_CONFLICTS = 50
# The facts of a turnover receipt that together net the counter debtor to zero, as they are called
# in a message: what the receipt was sold for, its VAT, what was paid and the cash rounding.
SETTLING = {"sale": "the sales of turnover receipts", "tax": "the VAT of turnover receipts",
            "payment": "turnover payments", "rounding": "the cash rounding of turnover receipts"}


def _one_of(words) -> str:
    words = list(words)
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


def _did_you_mean(word: str, choices) -> str:
    close = did_you_mean(word, choices)
    return f"; did you mean '{close}'?" if close else ""


class _Compiler:
    def __init__(self, statements: list[Statement], diagnostics: Diagnostics, main_file: str):
        self.statements = statements
        self.d = diagnostics
        self.main = main_file
        self.client = ""
        self.currency: str | None = None
        self.counter_debtor: str | None = None
        self.group_by = DEFAULT_GROUP
        self.describe = dict(DEFAULT_DESCRIBE)
        self.journals: dict[str, Journal] = {}
        self.accounts: dict[str, Account] = {}
        self.numbers: dict[str, Account] = {}  # account number → the first account declared with it
        self.vats: dict[str, Vat] = {}
        self.methods: dict[str, Method] = {}
        self.attributes: dict[str, Word] = {}
        self.targets: dict[str, dict[str, str]] = {}
        self.target_settings: list[TargetSetting] = []
        self.sources: list[SourceMapping] = []
        self.rules: list[Rule] = []
        self.singletons: dict[str, Position] = {}

    # -- declarations ----------------------------------------------------------------

    def once(self, st: Statement, key: str) -> bool:
        """A statement that may appear once (client, currency, …): False and an error for the second."""
        if key in self.singletons:
            self.d.error(st.pos, f"'{st.kind}' is given twice; the first is at {self.singletons[key]}")
            return False
        self.singletons[key] = st.pos
        return True

    def declare(self, table: dict, name: Word, what: str, value) -> None:
        if name.text in table:
            self.d.error(name.pos, f"duplicate {what} '{name.text}'; first declared at {table[name.text].pos}")
        else:
            table[name.text] = value

    def client_(self, st: Statement) -> None:
        if self.once(st, "client"):
            self.client = st["name"].text

    def currency_(self, st: Statement) -> None:
        code = st["code"]
        if not self.once(st, "currency"):
            return
        if code.text not in CURRENCY_DECIMALS:
            self.d.error(code.pos, f"unknown currency '{code.text}'; expected an ISO 4217 code such as EUR"
                         + _did_you_mean(code.text.upper(), CURRENCY_DECIMALS))
        else:
            self.currency = code.text

    def counter_(self, st: Statement) -> None:
        if self.once(st, "counter"):
            self.counter_debtor = st["debtor"].text

    def group_(self, st: Statement) -> None:
        if not self.once(st, "group"):
            return
        if st["what"].text != "turnover":
            self.d.error(st["what"].pos, f"unexpected '{st['what'].text}'; expected 'turnover' (only turnover entries are grouped)")
        fields = []
        for f in st["fields"]:
            if f.text not in GROUP_FIELDS:
                self.d.error(f.pos, f"cannot group by '{f.text}'; expected {_one_of(GROUP_FIELDS)}"
                             + _did_you_mean(f.text, GROUP_FIELDS))
            elif f.text in fields:
                self.d.error(f.pos, f"'{f.text}' is named twice")
            else:
                fields.append(f.text)
        self.group_by = tuple(sorted(fields, key=GROUP_FIELDS.index))

    def describe_(self, st: Statement) -> None:
        mode = st["mode"]
        if mode.text not in MODES:
            self.d.error(mode.pos, f"unknown mode '{mode.text}'; expected {_one_of(MODES)}"
                         + _did_you_mean(mode.text, MODES))
            return
        if self.once(st, f"describe {mode.text}"):
            self.describe[mode.text] = st["template"].text
            self.singletons[f"describe-template {mode.text}"] = st["template"].pos

    def journal_(self, st: Statement) -> None:
        name, jtype = st["name"], st["type"]
        if jtype.text not in JOURNAL_TYPES:
            self.d.error(jtype.pos, f"unknown journal type '{jtype.text}'; expected {_one_of(JOURNAL_TYPES)}"
                         + _did_you_mean(jtype.text, JOURNAL_TYPES))
        desc = st.get("description")
        self.declare(self.journals, name, "journal", Journal(name.text, jtype.text, desc.text if desc else name.text, name.pos))

    def account_(self, st: Statement) -> None:
        name, number = st["name"], st["number"]
        if not number.quoted and not number.text.isdigit():
            self.d.error(number.pos, f"account number '{number.text}' must be digits or a quoted string")
        elif number.quoted and not number.text.strip():
            self.d.error(number.pos, "account number is empty")
        desc = st.get("description")
        account = Account(name.text, number.text, desc.text if desc else name.text, "debtors" in st.words, name.pos)
        other = self.numbers.get(account.number)
        if other is not None and other.name != account.name:
            self.d.warning(number.pos, f"account number {number.text} is also declared as '{other.name}' at {other.pos}; their lines are summed")
        self.declare(self.accounts, name, "account", account)
        self.numbers.setdefault(account.number, account)

    def vat_(self, st: Statement) -> None:
        name, rate = st["name"], st["rate"]
        value = Decimal(rate.text[:-1])
        if value >= 100:
            self.d.error(rate.pos, f"VAT rate {rate.text} must be below 100%")
        code = st.get("code")
        self.declare(self.vats, name, "VAT name", Vat(name.text, value, code.text if code else None, name.pos))

    def method_(self, st: Statement) -> None:
        name, mode = st["name"], st["mode"]
        if mode.text not in MODES:
            self.d.error(mode.pos, f"unknown mode '{mode.text}'; expected {_one_of(MODES)}"
                         + _did_you_mean(mode.text, MODES))
        debtor = st.get("debtor")
        if debtor is not None and mode.text == "turnover":
            self.d.error(debtor.pos, "a fixed debtor is for individual methods; turnover entries use the counter debtor")
        mixed = tuple((w.text, w.pos) for w in st.get("mixed", ()))
        if mixed and mode.text == "turnover":
            self.d.error(st["with"].pos, "`with` is for individual methods: it lets a receipt invoiced by one be paid "
                         "in part by other methods; a turnover receipt may have any payments")
            mixed = ()
        self.declare(self.methods, name, "method",
                     Method(name.text, mode.text, debtor.text if debtor else None, name.pos, mixed))

    def attribute_(self, st: Statement) -> None:
        name = st["name"]
        builtin = set(RECEIPT_ATTRIBUTES) | {a for attrs in KIND_ATTRIBUTES.values() for a in attrs}
        if name.text in builtin:
            self.d.error(name.pos, f"'{name.text}' is a built-in fact attribute; it needs no declaration")
        elif name.text in self.attributes:
            self.d.error(name.pos, f"duplicate attribute '{name.text}'; first declared at {self.attributes[name.text].pos}")
        else:
            self.attributes[name.text] = name

    def target_(self, st: Statement) -> None:
        settings = self.targets.setdefault(st["target"].text, {})
        key = st["setting"].text
        if key in settings:
            self.d.error(st["setting"].pos, f"setting '{key}' of target '{st['target'].text}' is given twice")
        settings[key] = st["value"].text
        self.target_settings.append(TargetSetting(st["target"].text, key, st["value"].text, st["value"].pos,
                                                  st["target"].pos, st["setting"].pos))

    def source_(self, st: Statement) -> None:
        what = st["what"]
        if what.text not in SOURCE_MAPPINGS:
            self.d.error(what.pos, f"cannot map a source's '{what.text}'; expected {_one_of(SOURCE_MAPPINGS)}"
                         + _did_you_mean(what.text, SOURCE_MAPPINGS))
            return
        self.sources.append(SourceMapping(st["source"].text, what.text, st["value"].text, st["name"].text, st["name"].pos))

    # -- rules -----------------------------------------------------------------------

    def lookup(self, table: dict, word: Word, what: str):
        found = table.get(word.text)
        if found is None:
            self.d.error(word.pos, f"undeclared {what} '{word.text}'" + _did_you_mean(word.text, table))
        return found

    def rule_(self, st: Statement) -> None:
        kind = st["kind"]
        if kind.text not in FACT_KINDS:
            self.d.error(kind.pos, f"unknown fact kind '{kind.text}'; expected {_one_of(FACT_KINDS)}"
                         + _did_you_mean(kind.text, FACT_KINDS))
            return
        allowed = RECEIPT_ATTRIBUTES + tuple(self.attributes) + KIND_ATTRIBUTES[kind.text]
        conditions: dict[str, frozenset[str]] = {}
        ok = True
        for cond in st["conditions"]:
            attr = cond.attr.text
            if attr not in allowed:
                hint = _did_you_mean(attr, allowed)
                if attr not in self.attributes and any(attr in a for a in KIND_ATTRIBUTES.values()):
                    msg = f"{kind.text} facts have no attribute '{attr}'; they have {', '.join(allowed)}"
                else:
                    msg = (f"unknown attribute '{attr}'{hint} (a key of the receipts' attributes is "
                           f"usable once declared: `attribute {attr}`)") if not hint else f"unknown attribute '{attr}'{hint}"
                self.d.error(cond.attr.pos, msg)
                ok = False
                continue
            if attr in conditions:
                self.d.error(cond.attr.pos, f"'{attr}' is constrained twice in one rule")
                ok = False
                continue
            values = set()
            for v in cond.values:
                if not self.check_value(attr, v):
                    ok = False
                values.add(v.text)
            conditions[attr] = frozenset(values)
        post = None
        if st["action"].text == "post":
            journal = self.lookup(self.journals, st["journal"], "journal")
            debit = self.lookup(self.accounts, st["debit"], "account")
            credit = self.lookup(self.accounts, st["credit"], "account")
            if not (journal and debit and credit):
                ok = False
            else:
                post = Post(journal, debit, credit)
                if debit.number == credit.number:
                    self.d.warning(st["credit"].pos, f"debit and credit are the same account {debit.number}: this rule books nothing")
        if ok:
            self.rules.append(Rule(kind.text, conditions, post, st.pos, _rule_text(st), len(self.rules)))

    def check_value(self, attr: str, v: Word) -> bool:
        if attr == "vat" and v.text not in self.vats:
            self.d.error(v.pos, f"undeclared VAT name '{v.text}'" + _did_you_mean(v.text, self.vats))
            return False
        if attr == "method" and v.text not in self.methods:
            self.d.error(v.pos, f"undeclared method '{v.text}'" + _did_you_mean(v.text, self.methods))
            return False
        if attr in FIXED_VALUES and v.text not in FIXED_VALUES[attr]:
            self.d.error(v.pos, f"'{attr}' is {_one_of(FIXED_VALUES[attr])}, never '{v.text}'"
                         + _did_you_mean(v.text, FIXED_VALUES[attr]))
            return False
        return True

    # -- whole-file checks -----------------------------------------------------------

    def check_describe(self) -> None:
        """Each description, given or the default, must fill in for every entry: placeholders
        are plain names of what the entry knows (a turnover entry: its group fields)."""
        defaults = default_describe(self.group_by)
        for mode, template in self.describe.items():
            pos = self.singletons.get(f"describe-template {mode}")
            if pos is None:  # the default fits the grouping
                template = self.describe[mode] = defaults[mode]
            allowed = self.group_by if mode == "turnover" else INDIVIDUAL_PLACEHOLDERS
            note = f" (turnover entries are grouped by {', '.join(self.group_by)})" if mode == "turnover" else ""
            what = f"the {mode} description" if pos else f"the default {mode} description \"{template}\""
            for message in template_problems(template, allowed, what, note):
                self.d.error(pos or self.singletons.get("group") or Position(self.main, 1, 1), message)

    def may_be_turnover(self, rule: Rule) -> bool:
        modes = rule.conditions.get("mode")
        if modes is not None and "turnover" not in modes:
            return False
        methods = rule.conditions.get("method")
        if methods is not None and all(self.methods[m].mode == "individual" for m in methods):
            return False
        return True

    def check_counter_debtor(self, statements_by_pos: dict) -> None:
        if self.counter_debtor is not None:
            return
        for rule in self.rules:
            if rule.post and self.may_be_turnover(rule):
                for account, role in ((rule.post.debit, "debit"), (rule.post.credit, "credit")):
                    if account.debtors:
                        word = statements_by_pos[rule.pos][role]
                        self.d.error(word.pos, f"'{account.name}' is a debtors account and turnover entries need a debtor "
                                     "for its lines: declare `counter debtor \"…\"`")
                        return

    def fact_space(self) -> FactSpace:
        """The values facts can have: fixed words, the declared VAT names and methods; and a
        payment's method fixes its mode (SPEC §5) — but a method an individual one takes `with`
        it is paid in individual receipts too."""
        finite = {attr: frozenset(values) for attr, values in FIXED_VALUES.items()}
        finite["vat"] = frozenset(self.vats)
        finite["method"] = frozenset(self.methods)
        mixed = {name for m in self.methods.values() for name, _ in m.mixed}
        modes = {m.name: frozenset({m.mode, "individual"} if m.name in mixed else {m.mode})
                 for m in self.methods.values()}
        return FactSpace(finite, {"payment": [("method", "mode", modes)]})

    def turnover_debtors(self) -> Account | None:
        """The debtors account turnover receipts are booked against (the first by name), if any:
        on it the counter debtor must net to zero, so every settling fact must be booked on it."""
        debtors = sorted({a.name: a for r in self.rules if r.kind in SETTLING and r.post and self.may_be_turnover(r)
                          for a in (r.post.debit, r.post.credit) if a.debtors}.items())
        return debtors[0][1] if debtors else None

    def check_settling_skips(self, matcher: Matcher, space: FactSpace, statements_by_pos: dict) -> None:
        """A skipped sale, VAT, payment or cash rounding of a turnover receipt leaves the counter
        debtor open by its amount when the others are booked against it: refuse the rule.
        (A VAT name of 0% books nothing anyway; when no turnover rule books on a debtors account,
        the receipts are booked straight on cash and revenue, and a skip leaves nothing open.)"""
        account = self.turnover_debtors()
        if account is None:
            return
        why = (f"turnover receipts are booked against the counter debtor on debtors account '{account.name}' "
               f"({account.number}), which would stay open by their amount")
        turnover = frozenset(m.name for m in self.methods.values() if m.mode == "turnover")
        taxed = frozenset(v.name for v in self.vats.values() if v.rate)
        for kind, what in SETTLING.items():
            index = matcher.kinds[kind]
            for rule in index.rules:
                if rule.post is not None:
                    continue
                covers = ([c.conditions for c in index.rules if c is not rule] if not rule.conditions else
                          [c for c in inside(index.rules, index.by_value, rule.conditions) if c != rule.conditions])
                box = dict(rule.conditions)
                box["mode"] = box.get("mode", frozenset(MODES)) & {"turnover"}  # of turnover receipts only
                if kind == "payment":
                    skipped = [m for m in sorted(box.get("method", turnover) & turnover) if box["mode"]
                               and uncovered(kind, {**box, "method": frozenset([m])}, covers, space) is not None]
                    what = f"turnover payments (method {', '.join(skipped)})"
                else:
                    if kind == "tax":
                        box["vat"] = box.get("vat", taxed) & taxed
                    skipped = all(box.values()) and uncovered(kind, box, covers, space) is not None
                if not skipped:
                    continue
                side = f"JOURNAL {account.name} -> ACCOUNT" if kind in ("sale", "tax") else f"JOURNAL ACCOUNT -> {account.name}"
                self.d.error(statements_by_pos[rule.pos]["action"].pos,
                             f"{what} cannot be skipped: {why}; post them against it: "
                             f"`{rule.text.removesuffix('skip')}post {side}`")

    def check_coverage(self) -> None:
        kinds = {r.kind for r in self.rules}
        payment_rules = [r for r in self.rules if r.kind == "payment"]
        tax_rules = [r for r in self.rules if r.kind == "tax"]
        debtors = self.turnover_debtors()
        for m in self.methods.values():
            if not any("method" not in r.conditions or m.name in r.conditions["method"] for r in payment_rules):
                how = (f"(post it against {debtors.name}, the counter debtor's account)"
                       if debtors and m.mode == "turnover" else "(post it, or skip it when it is paid later)")
                self.d.error(m.pos, f"method '{m.name}' has no payment rule; add `when payment method={m.name} …` {how}")
        for v in self.vats.values():
            if not any("vat" not in r.conditions or v.name in r.conditions["vat"] for r in tax_rules):
                self.d.error(v.pos, f"VAT '{v.name}' has no tax rule; add `when tax vat={v.name} post …`")
        first = Position(self.main, 1, 1)
        for kind in FACT_KINDS:
            if kind not in kinds:
                holder = "a till closing" if kind in CLOSING_KINDS else "a receipt"
                if debtors is not None and kind in SETTLING:
                    side = f"{debtors.name} -> ACCOUNT" if kind in ("sale", "tax") else f"ACCOUNT -> {debtors.name}"
                    fix = f"write `when {kind} post JOURNAL {side}` to book them against the counter debtor"
                else:
                    fix = f"write `when {kind} skip` to book none"
                self.d.warning(first, f"no rule books {kind} facts: {holder} with one will be an error; {fix}")

    def check_sources(self) -> None:
        for m in self.sources:
            table = {"payment": (self.methods, "method"), "tax": (self.vats, "VAT name")}.get(m.what)
            if table and m.name not in table[0]:
                self.d.error(m.pos, f"undeclared {table[1]} '{m.name}'" + _did_you_mean(m.name, table[0]))
            if m.what == "movement" and m.name not in MOVEMENT_KINDS:
                self.d.error(m.pos, f"a movement is {_one_of(MOVEMENT_KINDS)}, never '{m.name}'")

    def check_closing_rules(self, statements_by_pos: dict) -> None:
        """A till closing's facts have no debtor and are always turnover (SPEC §11)."""
        always = {"mode": "turnover", "refund": "no", "customer": "no"}
        for rule in self.rules:
            if rule.kind not in CLOSING_KINDS:
                continue
            for attr, value in always.items():
                if attr in rule.conditions and value not in rule.conditions[attr]:
                    word = next(c.attr for c in statements_by_pos[rule.pos]["conditions"] if c.attr.text == attr)
                    self.d.error(word.pos, f"{rule.kind} facts of a till closing always have {attr}={value}: "
                                 "this rule never matches")
            if rule.post is None:
                continue
            for account, role in ((rule.post.debit, "debit"), (rule.post.credit, "credit")):
                if account.debtors:
                    self.d.error(statements_by_pos[rule.pos][role].pos,
                                 f"a till closing has no debtor: {rule.kind} facts cannot be booked on debtors "
                                 f"account '{account.name}'; book them on the cash account and a result or "
                                 "clearing account")

    def run(self) -> RuleSet | None:
        handlers = {
            "client": self.client_, "currency": self.currency_, "counter": self.counter_,
            "group": self.group_, "describe": self.describe_, "journal": self.journal_,
            "account": self.account_, "vat": self.vat_, "method": self.method_,
            "attribute": self.attribute_, "target": self.target_, "source": self.source_,
        }
        # Declarations first, so a rule may use a name declared further down.
        for st in self.statements:
            if st.kind != "when":
                handlers[st.kind](st)
        by_pos = {}
        for st in self.statements:
            if st.kind == "when":
                self.rule_(st)
                by_pos[st.pos] = st
        if self.currency is None and "currency" not in self.singletons:
            self.d.error(Position(self.main, 1, 1), "no currency declared; add `currency EUR` (or another ISO 4217 code)")
        self.check_describe()
        self.check_counter_debtor(by_pos)
        self.check_closing_rules(by_pos)
        if not self.d.errors:
            # Coverage of a file with broken statements would only repeat what they broke.
            self.check_coverage()
        self.check_sources()
        check_mixed(self.methods, self.rules, self.d)
        receipt_attrs = RECEIPT_ATTRIBUTES + tuple(self.attributes)
        matcher = Matcher(self.rules, receipt_attrs)
        space = self.fact_space()
        found = 0
        for problem, a, b, example in chain.from_iterable(
                conflicts(kind, index.rules, index.by_value, space) for kind, index in matcher.kinds.items()):
            found += 1
            if found > MAX_CONFLICTS:
                self.d.error(b.pos, f"more than {MAX_CONFLICTS} conflicting rules; stopped listing them")
                break
            if problem == "duplicate":
                self.d.error(b.pos, f"duplicate rule: same fact kind and conditions as the rule at {a.where}")
            else:
                fact = " ".join([a.kind] + [f"{k}={_shown_value(v)}" for k, v in example.items()])
                self.d.error(b.pos, f"ambiguous rules: this rule and the rule at {a.where} both match `{fact}` "
                             f"and neither is more specific; add a rule for their overlap (`{_overlap_rule(a, b)} …`) "
                             "or a condition to one of them")
        self.check_settling_skips(matcher, space, by_pos)
        if self.d.errors:
            return None
        return RuleSet(
            client=self.client, currency=self.currency, decimals=CURRENCY_DECIMALS[self.currency],
            counter_debtor=self.counter_debtor, group_by=self.group_by, describe=self.describe,
            journals=self.journals, accounts=self.accounts, vats=self.vats, methods=self.methods,
            attributes=tuple(self.attributes), rules=tuple(self.rules), targets=self.targets,
            target_settings=tuple(self.target_settings),
            sources=tuple(self.sources), matcher=matcher,
        )


def _quote(value: str) -> str:
    return value if value.replace("-", "").replace("_", "").replace(".", "").isalnum() else f'"{value}"'


def _shown_value(value) -> str:
    return str(value) if isinstance(value, Other) else _quote(value)


def _overlap_rule(a: Rule, b: Rule) -> str:
    """`when KIND …` for exactly the facts both rules match."""
    box = dict(a.conditions)
    for attr, values in b.conditions.items():
        box[attr] = box[attr] & values if attr in box else values
    parts = ["when", a.kind]
    for attr in sorted(box):
        values = sorted(box[attr])
        parts.append(f"{attr}={_quote(values[0])}" if len(values) == 1
                     else f"{attr} in (" + ", ".join(map(_quote, values)) + ")")
    return " ".join(parts)


def _rule_text(st: Statement) -> str:
    parts = ["when", st["kind"].text]
    for c in st["conditions"]:
        if c.is_in:
            parts.append(f"{c.attr.text} in (" + ", ".join(_quote(v.text) for v in c.values) + ")")
        else:
            parts.append(f"{c.attr.text}={_quote(c.values[0].text)}")
    if st["action"].text == "post":
        parts += ["post", st["journal"].text, st["debit"].text, "->", st["credit"].text]
    else:
        parts.append("skip")
    return " ".join(parts)


def compile_statements(statements: list[Statement], diagnostics: Diagnostics, main_file: str) -> RuleSet | None:
    return _Compiler(statements, diagnostics, main_file).run()


def compile_file(path: str | Path, root: str | Path | None = None) -> tuple[RuleSet | None, Diagnostics]:
    """Compile a rule file and its includes; the RuleSet is None when there are errors."""
    with gc_paused():
        return _compile_file(Path(path), root)


def _compile_file(path: Path, root: str | Path | None) -> tuple[RuleSet | None, Diagnostics]:
    path = Path(path)
    diagnostics = Diagnostics()
    if not path.is_file():
        diagnostics.error(Position(str(path), 1, 1), "no such rule file")
        return None, diagnostics
    try:
        read = read_statements(path, diagnostics, Path(root) if root else None)
    except OSError as e:
        diagnostics.error(Position(str(path), 1, 1), f"cannot read the rule file: {e.strerror or e}")
        return None, diagnostics
    if read.unreadable:
        return None, diagnostics
    ruleset = compile_statements(read.statements, diagnostics, str(path))
    if ruleset is not None:
        ruleset.files = tuple(read.files)
    return ruleset, diagnostics


def compile_text(text: str, file: str = "<rules>") -> tuple[RuleSet | None, Diagnostics]:
    """Compile rules given as text (no includes relative to a folder)."""
    with gc_paused():
        return _compile_text(text, file)


def _compile_text(text: str, file: str) -> tuple[RuleSet | None, Diagnostics]:
    diagnostics = Diagnostics()
    statements = [st for st in parse(text, file, diagnostics)]
    for st in statements:
        if st.kind == "include":
            diagnostics.error(st["path"].pos, "include needs a rule file on disk")
    ruleset = compile_statements([st for st in statements if st.kind != "include"], diagnostics, file)
    if ruleset is not None:
        ruleset.files = (file,)
    return ruleset, diagnostics


def load_rules(path: str | Path) -> RuleSet:
    """Compile a rule file or raise `RulesError` with every diagnostic."""
    ruleset, diagnostics = compile_file(path)
    if ruleset is None:
        raise RulesError(diagnostics)
    return ruleset
