"""Which rules of a kind conflict: duplicates, and overlaps no more specific rule settles.

SPEC §6: the most specific matching rule books a fact. Two rules are ambiguous
when some fact matches both, neither is more specific than the other, and no
rule more specific than both matches that fact. So `when sale category=brood`
and `when sale store=WEB` are fine together with `when sale category=brood
store=WEB`, which books exactly their overlap. When every pair of rules that
meet on a fact is settled like that, the rules matching any fact have one most
specific among them, and the matcher finds it (see matcher.py).

Facts live in a space of attribute values. Some attributes take a fixed set of
values (mode, refund, customer, the declared VAT names and methods), the others
any text; and a payment's method fixes its mode. `uncovered` searches a box of
that space (the facts two rules both match) for a fact none of the covering
rules matches, splitting the box one attribute at a time into the classes of
values the covering rules tell apart — so the search is as small as the
covering rules are few, and never enumerates the box.

Pairs are found without comparing every rule with every other: rules are
grouped by the attributes they constrain, and within a pair of groups each rule
meets only the rules that share a value with it on the attribute where that is
rarest. The work grows with the pairs that really overlap, not with the rules
squared or with the product of long `in` lists.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import product

from .ruleset import Rule


class Other:
    """A value of a free attribute that none of the given values is: `store=<not WEB>`."""

    __slots__ = ("excluded",)

    def __init__(self, excluded: frozenset):
        self.excluded = excluded

    def __str__(self) -> str:
        shown = sorted(v for v in self.excluded if isinstance(v, str))
        listed = ", ".join(shown[:3]) + (", …" if len(shown) > 3 else "")
        return f"<not {listed}>" if listed else "<any>"


@dataclass
class FactSpace:
    """What values facts can have: `finite` attributes and their every value; `couplings` per
    kind: (attribute, implied attribute, value → the values the implied attribute can have)."""

    finite: dict[str, frozenset] = field(default_factory=dict)
    couplings: dict[str, list[tuple[str, str, dict]]] = field(default_factory=dict)


Box = dict  # attribute → frozenset of the values it may take; an attribute not in it takes any


def _values(attr: str, box: Box, covers: list[Box], space: FactSpace) -> frozenset:
    """The values `attr` can take in the box, a free attribute's stood for by the covers' values
    and one `Other`."""
    if attr in box:
        return box[attr]
    if attr in space.finite:
        return space.finite[attr]
    mentioned = frozenset(v for c in covers if attr in c for v in c[attr])
    return mentioned | {Other(mentioned)}


def _feasible_point(kind: str, box: Box, space: FactSpace) -> dict | None:
    """A fact in the box, as the attribute values the box constrains; None when no fact is in it."""
    point = {a: min((v for v in vs if isinstance(v, str)), default=None) for a, vs in box.items()}
    for a, vs in box.items():
        if point[a] is None:
            point[a] = next(iter(vs))
    for driver, implied, mapping in space.couplings.get(kind, ()):
        if driver not in box and implied not in box:
            continue
        drivers = box.get(driver, space.finite.get(driver, frozenset()))
        allowed = box.get(implied, space.finite.get(implied, frozenset()))
        choices = sorted(v for v in drivers if isinstance(v, str) and mapping.get(v, frozenset()) & allowed)
        if not choices:
            return None
        if driver in box:
            point[driver] = choices[0]
        if implied in box:
            point[implied] = min(mapping[choices[0]] & allowed)
    return dict(sorted(point.items()))


def uncovered(kind: str, box: Box, covers: list[Box], space: FactSpace) -> dict | None:
    """A fact in `box` that no box of `covers` holds (its constrained attributes' values), or None."""
    live = []
    for cover in covers:
        rest = {}
        for attr, values in cover.items():
            allowed = box.get(attr, space.finite.get(attr))
            if allowed is not None and allowed <= values:
                continue  # the whole box meets this condition
            if allowed is not None and allowed.isdisjoint(values):
                break  # the cover holds nothing of the box
            rest[attr] = values
        else:
            if not rest:
                return None  # the cover holds the whole box
            live.append(rest)
    if not live:
        return _feasible_point(kind, box, space)
    attr = _split_attribute(kind, box, live, space)
    values = _values(attr, box, live, space)
    drivers = {d for d, _, _ in space.couplings.get(kind, ())}
    classes: dict[object, set] = defaultdict(set)
    for v in values:
        holders = frozenset(i for i, c in enumerate(live) if attr in c and v in c[attr])
        # A driver's values one by one, each fixing what it implies; others by the covers holding them.
        classes[(holders, v) if attr in drivers else holders].add(v)
    for key, members in sorted(classes.items(), key=lambda kv: sorted(map(str, kv[1]))):
        holders = key[0] if attr in drivers else key
        sub = dict(box)
        sub[attr] = frozenset(members)
        for driver, implied, mapping in space.couplings.get(kind, ()):
            if attr == driver and len(members) == 1:
                v = next(iter(members))
                if v in mapping:
                    implied_values = sub.get(implied, space.finite.get(implied, frozenset())) & mapping[v]
                    if not implied_values:
                        break  # no fact has this value
                    sub[implied] = frozenset(implied_values)
        else:
            found = uncovered(kind, sub, [c for i, c in enumerate(live) if attr not in c or i in holders], space)
            if found is not None:
                return found
    return None


def _split_attribute(kind: str, box: Box, live: list[Box], space: FactSpace) -> str:
    """The attribute to split the box on next: a coupling's driver first when its implied
    attribute matters (a method fixes the mode), else the one most covers constrain."""
    constrained = {a for c in live for a in c}
    for driver, implied, _ in space.couplings.get(kind, ()):
        if (implied in constrained or implied in box) and (driver not in box or len(box[driver]) > 1):
            return driver
    counts: dict[str, int] = defaultdict(int)
    for c in live:
        for a in c:
            counts[a] += 1
    return max(sorted(counts), key=lambda a: counts[a])


# -- pairs ---------------------------------------------------------------------------------


EXACT_KEYS = 64  # a rule with at most this many value combinations is indexed by all of them


def _keys(rule: Rule, attrs: list[str]) -> int:
    n = 1
    for a in attrs:
        n *= len(rule.conditions[a])
    return n


def _meeting_pairs(ones: list[Rule], others: list[Rule], same: bool, common: list[str]) -> Iterator[tuple[Rule, Rule]]:
    """The pairs (a of ones, b of others) whose values meet on every attribute in `common`.

    A rule with few value combinations on `common` (the usual one value each) is looked up
    by them all at once; one with long `in` lists through the attribute where its values are
    rarest, then checked on the others — so neither the product of long lists is made, nor
    are all rules sharing one value (a category across a hundred stores) compared."""
    if not common:
        for i, a in enumerate(ones):
            for b in (others[i + 1:] if same else others):
                yield a, b
        return
    exact: dict[tuple, list[int]] = defaultdict(list)  # the others with few combinations, by each of them
    wide = []  # the others with many
    for pos, b in enumerate(others):
        if _keys(b, common) <= EXACT_KEYS:
            for key in product(*(b.conditions[c] for c in common)):
                exact[key].append(pos)
        else:
            wide.append(pos)
    by_value = {}  # "wide" or "all" (of the others) → attribute → value → positions: made when first needed

    def index_of(which: str) -> dict:
        if which not in by_value:
            made = by_value[which] = {c: defaultdict(list) for c in common}
            for pos in (wide if which == "wide" else range(len(others))):
                for c in common:
                    for v in others[pos].conditions[c]:
                        made[c][v].append(pos)
        return by_value[which]

    for i, a in enumerate(ones):
        seen = set()
        if _keys(a, common) <= EXACT_KEYS:
            for key in product(*(a.conditions[c] for c in common)):
                for pos in exact.get(key, ()):  # meets a on every common attribute: no check needed
                    if pos not in seen and not (same and pos <= i):
                        seen.add(pos)
                        yield a, others[pos]
            if not wide:
                continue
            index = index_of("wide")
        else:
            index = index_of("all")
        best = min(common, key=lambda c: sum(len(index[c].get(v, ())) for v in a.conditions[c]))
        for v in a.conditions[best]:
            for pos in index[best].get(v, ()):
                if pos in seen or (same and pos <= i):
                    continue
                seen.add(pos)
                b = others[pos]
                if all(not a.conditions[c].isdisjoint(b.conditions[c]) for c in common):
                    yield a, b


def inside(rules: list[Rule], by_value: dict, box: Box) -> list[Box]:
    """The conditions of the rules that constrain every attribute of the box, each within it:
    for the overlap of two rules, the rules more specific than both.

    The rules sharing a value with the box on every attribute are found by intersecting the
    index's sets (in C), smallest first; only those few are compared value by value."""
    sets = []
    for attr, values in box.items():
        index = by_value[attr]
        if len(values) == 1:
            hit = index.get(next(iter(values)))
        else:
            hit = set().union(*(index.get(v, ()) for v in values))
        if not hit:
            return []
        sets.append(hit)
    sets.sort(key=len)
    found = sets[0].intersection(*sets[1:])
    return [c for c in (rules[i].conditions for i in sorted(found))
            if all(a in c and c[a] <= vs for a, vs in box.items())]


def conflicts(kind: str, rules: list[Rule], by_value: dict, space: FactSpace) -> Iterator[tuple]:
    """(problem, earlier rule, later rule, example fact or None) for the conflicting pairs of
    one kind's rules: problem 'duplicate' (the same conditions) or 'ambiguous' (an example fact
    both match, neither is more specific, and no rule more specific than both books).

    `rules` are the kind's rules, `by_value` their index attribute → value → positions in it.
    """
    groups: dict[tuple, list[Rule]] = defaultdict(list)
    for rule in rules:
        groups[tuple(sorted(rule.conditions))].append(rule)
    signatures = list(groups)
    for n, first in enumerate(signatures):
        for second in signatures[n:]:
            if first != second and (not first or not second):
                continue  # a rule without conditions: every other rule is more specific
            common = [a for a in first if a in second]
            for a, b in _meeting_pairs(groups[first], groups[second], first == second, common):
                earlier, later = sorted((a, b), key=lambda r: r.pos)
                if a.conditions == b.conditions:
                    yield "duplicate", earlier, later, None
                    continue
                if a.more_specific_than(b) or b.more_specific_than(a):
                    continue
                box = dict(a.conditions)
                for attr, values in b.conditions.items():
                    box[attr] = box[attr] & values if attr in box else values
                example = uncovered(kind, box, inside(rules, by_value, box), space)
                if example is not None:
                    yield "ambiguous", earlier, later, example
