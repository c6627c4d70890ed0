"""Lint warnings for `tillpost check`: what compiles but is probably not meant.

- an account declared in the client's own file that no rule books on (an
  included chart is shared by many clients, so its accounts are not reported);
- a `sale` or `tax` rule with its sides swapped: it credits a debtors account
  or an account payments are booked on, so it would debit revenue or VAT;
- with cases (`--cases`): a rule that no fact of any case matches (but not
  `when KIND skip`, which says the client has none of a kind, nor the rules
  of a till closing's facts when no case has a closing), and facts
  that only a catch-all rule (one without conditions) caught although the kind
  has more specific rules — a new category or store the rules do not know yet.

Warnings never change `check`'s exit code. What `book` would refuse is no
lint: with cases, every receipt of a case that cannot be booked is an error
(`case_errors`), at the receipt's id in the case file.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ..engine.diagnostics import Diagnostics
from ..engine.ruleset import CLOSING_KINDS, KIND_ATTRIBUTES, Rule, RuleSet

MAX_EXAMPLES = 5  # attribute combinations named per catch-all warning


def unused_accounts(ruleset: RuleSet, main_file: str, diagnostics: Diagnostics) -> None:
    used = set()
    for rule in ruleset.rules:
        if rule.post is not None:
            used.update((rule.post.debit.name, rule.post.credit.name))
    for account in ruleset.accounts.values():
        if account.name not in used and account.pos.file == main_file:
            diagnostics.warning(account.pos, f"account '{account.name}' ({account.number}) is declared but no rule "
                                "books on it")


def swapped_sides(ruleset: RuleSet, diagnostics: Diagnostics) -> None:
    """A sale or tax rule is booked debit debtors (or cash), credit revenue or VAT: warn about one
    that credits a debtors account or an account payment rules debit, and debits another."""
    receiving = {a.name: "a debtors account" for a in ruleset.accounts.values() if a.debtors}
    for rule in ruleset.rules:
        if rule.kind == "payment" and rule.post is not None:
            receiving.setdefault(rule.post.debit.name, "the account payments are booked on")
    for rule in ruleset.rules:
        if rule.kind not in ("sale", "tax") or rule.post is None:
            continue
        debit, credit = rule.post.debit, rule.post.credit
        if credit.name in receiving and debit.name not in receiving:
            what = "revenue" if rule.kind == "sale" else "VAT"
            diagnostics.warning(rule.pos, f"this {rule.kind} rule credits '{credit.name}' ({receiving[credit.name]}) and "
                                f"debits '{debit.name}': its sides look swapped, which books the {what} as a debit; "
                                f"write `post {rule.post.journal.name} {credit.name} -> {debit.name}` "
                                "(a refund's negative amount turns the sides around by itself)")


@dataclass
class CaseMatches:
    """Which rule each fact of the cases met, and what the catch-alls caught."""

    matched: set[Rule] = field(default_factory=set)
    caught: dict[Rule, dict[tuple, list[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    facts: int = 0
    receipts: int = 0
    closings: int = 0  # till closings among the cases


def _catch_all_keys(ruleset: RuleSet) -> dict[str, tuple[str, ...]]:
    """Per kind with a catch-all: the attributes its more specific rules look at.

    Only where some of those rules post: then they route facts to their own
    accounts and the catch-all is the fallback. Where they all `skip`, they are
    exceptions and the catch-all is the main rule (`when cost post …` plus
    `when cost category=labour skip`), so what it books is meant.
    """
    keys = {}
    for kind, index in ruleset.matcher.kinds.items():
        specific = [r for r in index.rules if r.conditions]
        if any(not r.conditions for r in index.rules) and any(r.post for r in specific):
            keys[kind] = tuple(sorted({a for r in specific for a in r.conditions}))
    return keys


def match_cases(ruleset: RuleSet, case_files: list[Path]) -> CaseMatches:
    """Run the facts of every completed receipt of the cases through the rules.

    Receipts that cannot be booked still count as far as their facts go: a rule
    an awkward day needs is a rule a case matches.
    """
    from ..api import read_receipts
    from ..engine.book import _read
    from ..engine.facts import FactsError, receipt_facts
    from ..engine.postings import SALE_OR_TAX, receipt_attributes, receipt_mode

    result = CaseMatches()
    keys = _catch_all_keys(ruleset)
    for case in case_files:
        records = read_receipts(str(case), ruleset)
        for i in range(len(records)):
            _, receipt, problem = _read(records, i)
            if problem is not None or receipt.status != "completed":
                continue
            mode, _ = receipt_mode(receipt, ruleset)
            try:
                facts = receipt_facts(receipt, ruleset)
            except FactsError:
                continue
            result.receipts += 1
            total = sum((f.amount for f in facts if f.kind in SALE_OR_TAX), Decimal(0))
            rvalues = receipt_attributes(receipt, ruleset, mode, total < 0)
            for fact in facts:
                result.facts += 1
                rule = ruleset.matcher.kinds[fact.kind].lookup(rvalues, fact.values)
                if rule is None:
                    continue
                result.matched.add(rule)
                if not rule.conditions and fact.kind in keys:
                    attrs = dict(zip(ruleset.matcher.receipt_attrs, rvalues))
                    attrs.update(zip(KIND_ATTRIBUTES[fact.kind], fact.values))
                    combo = tuple((a, attrs.get(a, "")) for a in keys[fact.kind])
                    where = f"{case.name} {receipt.id}"
                    if where not in result.caught[rule][combo]:
                        result.caught[rule][combo].append(where)
        _match_closings(ruleset, records, result)
    return result


def _match_closings(ruleset: RuleSet, records, result: CaseMatches) -> None:
    """The facts of the cases' till closings, as far as they can be read."""
    from ..engine.closings import closing_attributes, closing_facts
    from ..engine.facts import FactsError

    for item in records.closings:
        _, closing, problem = item.read()
        if problem is not None:
            continue
        result.closings += 1
        try:
            facts = closing_facts(closing, ruleset)
        except FactsError:
            continue
        rvalues = closing_attributes(closing, ruleset)
        for kind, _, values, _ in facts:
            result.facts += 1
            rule = ruleset.matcher.kinds[kind].lookup(rvalues, values)
            if rule is not None:
                result.matched.add(rule)


def _shown(value: str) -> str:
    return value if value and value.replace("-", "").replace("_", "").isalnum() else f'"{value}"'


def case_warnings(ruleset: RuleSet, main_file: str, matches: CaseMatches, diagnostics: Diagnostics) -> None:
    """Rules of the file itself that no case matches (not those of included files); catch-all catches."""
    counted = f"{matches.facts} facts of {matches.receipts} receipt(s)" + (
        f" and {matches.closings} till closing(s)" if matches.closings else "")
    for rule in ruleset.rules:
        if rule.post is None and not rule.conditions:
            continue  # `when cost skip`: books a kind the client does not have; saying so is the point
        if rule.kind in CLOSING_KINDS and not matches.closings:
            continue  # cases without a till closing say nothing about the rules that book one
        if rule not in matches.matched and rule.pos.file == main_file:
            diagnostics.warning(rule.pos, f"no fact of the cases matches this rule ({counted}); add a case that "
                                "needs it, or remove it")
    for rule, combos in matches.caught.items():
        shown = []
        for combo, where in sorted(combos.items())[:MAX_EXAMPLES]:
            attrs = " ".join(f"{a}={_shown(v)}" for a, v in combo)
            more = f" and {len(where) - 1} more" if len(where) > 1 else ""
            shown.append(f"`{attrs}` ({where[0]}{more})")
        rest = f" and {len(combos) - MAX_EXAMPLES} more" if len(combos) > MAX_EXAMPLES else ""
        diagnostics.warning(rule.pos, f"only this catch-all rule booked {rule.kind} facts with "
                            + "; ".join(shown) + rest + "; give them a rule of their own if they are not meant to land here")


def lint(ruleset: RuleSet, main_file: str, diagnostics: Diagnostics, case_files: list[Path] | None = None) -> None:
    """Add the lint warnings to `diagnostics` (cases only when given)."""
    unused_accounts(ruleset, main_file, diagnostics)
    swapped_sides(ruleset, diagnostics)
    if case_files:
        case_warnings(ruleset, main_file, match_cases(ruleset, case_files), diagnostics)


_ID = re.compile(r'"id"\s*:\s*("(?:[^"\\\n]|\\.)*")')


def _id_positions(text: str) -> dict[str, tuple[int, int, int]]:
    """Where each `"id": "…"` of a case file stands: id → (line, column, width) of its value."""
    found: dict[str, tuple[int, int, int]] = {}
    line, line_start, scanned = 1, 0, 0
    for m in _ID.finditer(text):
        line += text.count("\n", scanned, m.start(1))
        scanned = m.start(1)
        line_start = text.rfind("\n", 0, m.start(1)) + 1
        try:
            rid = json.loads(m.group(1))
        except ValueError:
            continue
        found.setdefault(rid, (line, m.start(1) - line_start + 1, len(m.group(1))))
    return found


def case_errors(ruleset: RuleSet, case_files: list[Path], diagnostics: Diagnostics) -> None:
    """Book every case as `book` would; each receipt it cannot book is an error at its id."""
    from ..api import book, read_receipts
    from ..engine.diagnostics import Position

    for case in case_files:
        result = book(ruleset, read_receipts(str(case), ruleset))
        if not result.errors:
            continue
        try:
            text = case.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        diagnostics.add_source(str(case), text)
        where = _id_positions(text)
        for error in result.errors:
            line, col, width = where.get(error.receipt, (1, 1, 1))
            diagnostics.error(Position(str(case), line, col, width),
                              f"case receipt {error.receipt} cannot be booked: {error.message}")
