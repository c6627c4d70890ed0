"""The rule graph: which rule books a fact, without scanning the rules.

Rules of one fact kind are ordered by specificity (SPEC §6): rule A is more
specific than B when A constrains every attribute B does, each to a subset, and
the two differ. The compiler rejects two rules that can match one fact when
neither is more specific and no rule more specific than both matches it
(conflicts.py), so the rules matching any fact have one most specific among
them, more specific than each of the others: the first of them in the order
(most attributes constrained, then fewest values allowed).

Lookups go through an index per attribute (value → rules) and are cached on
the values of just the attributes the kind's rules look at, so booking cost
does not grow with the number of rules: a fact costs one dict lookup.
"""

from __future__ import annotations

from collections import defaultdict
from operator import itemgetter

from .ruleset import KIND_ATTRIBUTES, Rule


def _rank(rule: Rule) -> tuple[int, int]:
    return (-len(rule.conditions), sum(len(v) for v in rule.conditions.values()))


def _constant_key(_values) -> tuple:
    return ()


def selector(names: tuple[str, ...], wanted: tuple[str, ...]):
    """A C-speed function picking the `wanted` attributes out of a value tuple laid out as `names`."""
    idx = [names.index(w) for w in wanted]
    if not idx:
        return _constant_key
    return itemgetter(*idx)


class KindIndex:
    """The rules of one fact kind, indexed by attribute value."""

    def __init__(self, kind: str, rules: list[Rule], receipt_attrs: tuple[str, ...]):
        self.kind = kind
        self.rules = sorted(rules, key=_rank)
        self.receipt_attrs = receipt_attrs
        self.fact_attrs = KIND_ATTRIBUTES[kind]
        used = {a for r in rules for a in r.conditions}
        # The attributes the cache key is made of, split by where their values live.
        self.receipt_keys = tuple(a for a in receipt_attrs if a in used)
        self.fact_keys = tuple(a for a in self.fact_attrs if a in used)
        self.receipt_key = selector(receipt_attrs, self.receipt_keys)
        self.fact_key = selector(self.fact_attrs, self.fact_keys)
        self.cache: dict = {}
        everyone = set(range(len(self.rules)))
        self.unconstrained: dict[str, set[int]] = {a: set(everyone) for a in used}
        self.by_value: dict[str, dict[str, set[int]]] = {a: defaultdict(set) for a in used}
        for i, rule in enumerate(self.rules):
            for attr, values in rule.conditions.items():
                self.unconstrained[attr].discard(i)
                for v in values:
                    self.by_value[attr][v].add(i)
        self.everyone = everyone

    def candidates(self, attrs: dict[str, str]) -> set[int]:
        """Indices of the rules whose every condition holds for `attrs`."""
        result = None
        for attr in self.unconstrained:
            hits = self.unconstrained[attr] | self.by_value[attr].get(attrs.get(attr), set())
            result = hits if result is None else result & hits
            if not result:
                return set()
        return set(self.everyone) if result is None else result

    def find(self, attrs: dict[str, str]) -> Rule | None:
        found = self.candidates(attrs)
        return self.rules[min(found)] if found else None

    def lookup(self, receipt_values: tuple, fact_values: tuple) -> Rule | None:
        """The hot path: the rule for a fact, cached on the values its rules look at."""
        key = (self.receipt_key(receipt_values), self.fact_key(fact_values))
        try:
            return self.cache[key]
        except KeyError:
            attrs = dict(zip(self.receipt_attrs, receipt_values))
            attrs.update(zip(self.fact_attrs, fact_values))
            rule = self.cache[key] = self.find(attrs)
            return rule

class Matcher:
    """One `KindIndex` per fact kind."""

    def __init__(self, rules: list[Rule], receipt_attrs: tuple[str, ...]):
        by_kind: dict[str, list[Rule]] = defaultdict(list)
        for rule in rules:
            by_kind[rule.kind].append(rule)
        self.receipt_attrs = receipt_attrs
        self.kinds = {kind: KindIndex(kind, by_kind.get(kind, []), receipt_attrs) for kind in KIND_ATTRIBUTES}
        # kind → the bound `lookup` of its index: the hot path's one call per fact.
        self.lookups = {kind: index.lookup for kind, index in self.kinds.items()}

    def find(self, kind: str, attrs: dict[str, str]) -> Rule | None:
        return self.kinds[kind].find(attrs)
