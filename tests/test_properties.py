"""Property tests on generated receipts and rule files (hypothesis).

Whatever the receipts and the rules: every entry balances; the counter debtor
nets to zero over a day of fully paid turnover receipts; the order of the
receipts and of the rules changes nothing; booking a day in two halves sums to
the same lines as booking it at once; the fast receipt reader accepts exactly
what the published schema accepts; the rule index finds what a scan finds.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tillpost.api import book, canonical, compile_text, parse_input
from tillpost.engine.receipts import ReceiptInvalid, _FloatSeen, decode_receipt, read_receipt, receipt_schema

CENT = Decimal("0.01")
RATES = {"high": Decimal(21), "low": Decimal(9), "zero": Decimal(0)}
CATEGORIES = ["brood", "banket", "koffie", "lunch"]
STORES = ["AMS01", "UTR02", "WEB"]

HEADER = """client "Prop" currency EUR counter debtor "BALIE"
journal KAS cash "Kas" journal MEM memo "Memo" journal VRK sales "Verkoop"
account kas 1000 account pin 1105 account deb 1300 debtors account hoog 1520 account laag 1521
account voorraad 3000 account kostprijs 7000 account omzet 8000 account omzet_brood 8010
account omzet_ams 8020 account omzet_web 8030 account afronding 8990
vat high 21% vat low 9% vat zero 0%
method cash turnover method pin turnover
"""
# A family of rules without ambiguity: each more specific rule refines a less specific one.
RULE_POOL = [
    "when sale post VRK deb -> omzet",
    "when sale category=brood post VRK deb -> omzet_brood",
    "when sale category=brood store=WEB post VRK deb -> omzet_web",
    "when sale category in (brood, banket) post VRK deb -> omzet_brood",
    "when sale store=AMS01 category=brood post VRK deb -> omzet_ams",
    "when sale category=lunch vat=zero post VRK deb -> omzet",
    "when tax vat=high post VRK deb -> hoog",
    "when tax vat in (low, zero) post VRK deb -> laag",
    "when payment method=cash post KAS kas -> deb",
    "when payment method=pin post MEM pin -> deb",
    "when payment method=pin store=WEB post VRK pin -> deb",
    "when cost post MEM kostprijs -> voorraad",
    "when cost category=koffie skip",
    "when rounding post KAS afronding -> deb",
]
REQUIRED = {0, 6, 7, 8, 9, 11, 13}


def ruleset_of(rule_lines):
    ruleset, diagnostics = compile_text(HEADER + "\n".join(rule_lines))
    assert ruleset is not None, diagnostics.format()
    return ruleset


money = st.integers(min_value=1, max_value=5000).map(lambda c: Decimal(c) * CENT)


@st.composite
def receipts(draw, n_max=25):
    out = []
    for i in range(draw(st.integers(min_value=1, max_value=n_max))):
        incl = draw(st.booleans())
        lines = []
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            qty = Decimal(draw(st.integers(min_value=-3, max_value=6)) or 1)
            price = draw(money)
            line = {"category": draw(st.sampled_from(CATEGORIES)), "quantity": str(qty), "unit_price": str(price),
                    "vat": draw(st.sampled_from(sorted(RATES)))}
            if draw(st.booleans()):
                line["cost"] = str(draw(money) / 3)  # cost prices may have more decimals
            if draw(st.integers(0, 4)) == 0 and qty > 0:
                line["discount"] = str(min(draw(money), qty * price))
            lines.append(line)
        total = _total(lines, incl)
        paid = total
        rounding = Decimal(0)
        if draw(st.booleans()):  # cash rounded to 5 cents
            paid = (total / Decimal("0.05")).quantize(Decimal(1), ROUND_HALF_UP) * Decimal("0.05")
            rounding = total - paid
        if draw(st.booleans()) and paid != 0:
            part = (paid * Decimal(draw(st.integers(1, 99))) / 100).quantize(CENT)
            payments = [{"method": "pin", "amount": str(part)}, {"method": "cash", "amount": str(paid - part)}]
        else:
            payments = [{"method": draw(st.sampled_from(["cash", "pin"])), "amount": str(paid)}]
        r = {"id": f"R{i}", "number": str(1000 + i), "store": draw(st.sampled_from(STORES)), "register": "K1",
             "date": draw(st.sampled_from(["2026-11-20", "2026-11-21"])), "status": "completed", "currency": "EUR",
             "prices_include_vat": incl, "lines": lines, "payments": payments}
        if rounding:
            r["cash_rounding"] = str(rounding)
        out.append(r)
    return out


def _total(lines, incl):
    """The receipt total, computed independently of the engine from SPEC §5."""
    gross = {}
    for l in lines:
        g = (Decimal(l["quantity"]) * Decimal(l["unit_price"]) - Decimal(l.get("discount", "0"))).quantize(CENT, ROUND_HALF_UP)
        gross.setdefault(l["vat"], []).append(g)
    if incl:
        return sum(sum(gs) for gs in gross.values())
    return sum(sum(gs) + (sum(gs) * RATES[v] / 100).quantize(CENT, ROUND_HALF_UP) for v, gs in gross.items())


rule_sets = st.sets(st.sampled_from(range(len(RULE_POOL)))).map(lambda s: sorted(s | REQUIRED))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def line_totals(result):
    totals = Counter()
    for e in result.entries:
        for l in e.lines:
            totals[(e.journal, e.key, l.account, l.debtor, l.vat)] += l.debit - l.credit
    return {k: v for k, v in totals.items() if v}


@SETTINGS
@given(receipts(), rule_sets)
def test_every_entry_balances_and_the_counter_debtor_nets_to_zero(day, rules):
    result = book(ruleset_of([RULE_POOL[i] for i in rules]), day)
    assert result.errors == []
    for e in result.entries:
        assert sum(l.debit for l in e.lines) == sum(l.credit for l in e.lines)
        assert all(l.debit >= 0 and l.credit >= 0 and (l.debit == 0 or l.credit == 0) for l in e.lines)
    per_group = Counter()
    for e in result.entries:
        for l in e.lines:
            if l.debtor == "BALIE":
                per_group[e.key] += l.debit - l.credit
    assert all(v == 0 for v in per_group.values())


@SETTINGS
@given(receipts(), rule_sets, st.randoms(use_true_random=False))
def test_the_order_of_receipts_and_of_rules_changes_nothing(day, rules, rnd):
    lines = [RULE_POOL[i] for i in rules]
    expected = canonical(book(ruleset_of(lines), day), ruleset_of(lines))
    shuffled_day, shuffled_rules = day[:], lines[:]
    rnd.shuffle(shuffled_day)
    rnd.shuffle(shuffled_rules)
    assert canonical(book(ruleset_of(shuffled_rules), shuffled_day), ruleset_of(lines)) == expected


@SETTINGS
@given(receipts(), rule_sets, st.integers(min_value=0, max_value=25))
def test_booking_a_day_in_two_halves_sums_to_the_same_lines(day, rules, cut):
    ruleset = ruleset_of([RULE_POOL[i] for i in rules])
    whole = line_totals(book(ruleset, day))
    halves = Counter(line_totals(book(ruleset, day[:cut])))
    halves.update(line_totals(book(ruleset, day[cut:])))
    assert {k: v for k, v in halves.items() if v} == whole


@SETTINGS
@given(rule_sets, st.fixed_dictionaries({
    "store": st.sampled_from(STORES + ["X"]), "register": st.just("K1"), "source": st.just(""),
    "mode": st.sampled_from(["turnover", "individual"]), "refund": st.sampled_from(["yes", "no"]),
    "customer": st.sampled_from(["yes", "no"]), "category": st.sampled_from(CATEGORIES + [""]), "sku": st.just(""),
    "vat": st.sampled_from(sorted(RATES)),
}))
def test_the_rule_index_finds_the_most_specific_rule_a_scan_finds(rules, attrs):
    ruleset = ruleset_of([RULE_POOL[i] for i in rules])
    index = ruleset.matcher.kinds["sale"]
    matching = [r for r in ruleset.rules if r.kind == "sale" and r.matches(attrs)]
    best = [r for r in matching if all(r is o or r.more_specific_than(o) for o in matching)]
    assert index.find(attrs) is (best[0] if best else None)
    rvalues = tuple(attrs[a] for a in index.receipt_attrs)
    fvalues = tuple(attrs[a] for a in index.fact_attrs)
    assert index.lookup(rvalues, fvalues) is index.find(attrs)


# -- the fast reader and the published schema agree --------------------------------------

VALIDATOR = jsonschema.Draft202012Validator(receipt_schema())
junk = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from([1.5, -0.25, 1e5, 1e300, 2**70, 10**40]),
                 # the bound on amounts (below 10^15), from both sides
                 st.sampled_from([10**15, 10**15 - 1, -10**15, -10**15 + 1, 9.99e14, 1e15, "999999999999999.99",
                                  "1000000000000000", "-999999999999999", "0000000000000001"]),
                 st.text(max_size=6), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.sampled_from(
                     ["1.5", "-0.10", "1e5", "12,50", "", "2026-11-20", "2026-02-30", "EUR", "completed", "x"]))


@st.composite
def mutated(draw):
    r = copy.deepcopy(draw(receipts(n_max=1))[0])
    r["customer"] = {"id": "C1", "debtor": "20001", "name": "X"}
    r["attributes"] = {"channel": "web"}
    r["vat"] = [{"name": "high", "amount": "0.00"}]
    r["created"] = "2026-11-20T10:31:00+01:00"
    for _ in range(draw(st.integers(0, 3))):
        # Walk to a random dict in the receipt and change, drop or add one key.
        target = r
        for _ in range(draw(st.integers(0, 2))):
            children = [v for v in target.values() if isinstance(v, dict)] + [
                x for v in target.values() if isinstance(v, list) for x in v if isinstance(x, dict)]
            if not children:
                break
            target = draw(st.sampled_from(children))
        keys = sorted(target)
        action = draw(st.sampled_from(["set", "drop", "add"]))
        if action == "set" and keys:
            target[draw(st.sampled_from(keys))] = draw(junk)
        elif action == "drop" and keys:
            del target[draw(st.sampled_from(keys))]
        else:
            target[draw(st.sampled_from(["extra", "id", "sku", "amount", "discount"]))] = draw(junk)
    return r


def _verdict(read, r) -> bool | None:
    """Whether a reader accepts r; None when it asks for an exact decode first."""
    try:
        read(r)
        return True
    except ReceiptInvalid:
        return False
    except _FloatSeen:
        return None  # a float is decoded again exactly before it is read; the schema allows numbers


BASE = {"id": "R1", "store": "S", "date": "2026-11-20", "status": "completed", "currency": "EUR",
        "prices_include_vat": True, "lines": [{"quantity": "1", "unit_price": "2.00", "vat": "high"}],
        "payments": [{"method": "pin", "amount": "2.00"}]}
# The rules the reader checks itself, each broken once, and values it must accept.
EDGES = [
    {"status": "closed"}, {"currency": "eur"}, {"date": "20-11-2026"}, {"created": "yesterday"},
    {"created": "2026-11-20T10:31:00Z"}, {"register": None}, {"register": ""}, {"number": ""}, {"source": ""},
    {"customer": None}, {"customer": {"debtor": None}}, {"attributes": {"table": [1]}},
    {"attributes": {"table": 7, "vip": True, "zone": "a"}}, {"cash_rounding": None}, {"cash_rounding": "+1"},
    {"payments": [{"method": "pin", "amount": "1e5"}]}, {"payments": [{"method": "pin", "amount": "2,00"}]},
    {"payments": [{"method": "pin", "amount": 2}]}, {"payments": [{"method": "", "amount": "2.00"}]},
    {"lines": [{"quantity": "1", "unit_price": "2.00", "vat": "high", "discount": None}]},
    {"lines": [{"quantity": True, "unit_price": "2.00", "vat": "high"}]},
    {"vat": [{"name": "high", "amount": "0.35"}]}, {"vat": [{"name": "high"}]},
    # Amounts stay below 10^15: at most 15 digits before the point, as text or as a number.
    {"payments": [{"method": "pin", "amount": "999999999999999.999"}]},
    {"payments": [{"method": "pin", "amount": "1000000000000000"}]},
    {"payments": [{"method": "pin", "amount": "-1000000000000000.00"}]},
    {"payments": [{"method": "pin", "amount": 999999999999999}]}, {"payments": [{"method": "pin", "amount": 10**15}]},
    {"payments": [{"method": "pin", "amount": -10**15}]}, {"cash_rounding": 10**40},
    {"lines": [{"quantity": "1", "unit_price": "2.00", "vat": "high", "cost": "1234567890123456"}]},
]


@pytest.mark.parametrize("change", EDGES, ids=[json.dumps(e) for e in EDGES])
def test_the_reader_and_the_schema_agree_on_each_rule_the_reader_checks_itself(change):
    r = {**BASE, **change}
    schema_ok = VALIDATOR.is_valid(r)
    assert _verdict(read_receipt, r) is schema_ok
    assert _verdict(lambda r: decode_receipt(json.dumps(r).encode()), r) is schema_ok


@settings(max_examples=400, deadline=None)
@given(mutated())
def test_the_fast_reader_accepts_exactly_what_the_schema_accepts(r):
    schema_ok = VALIDATOR.is_valid(r)
    # Both ways in: a decoded dict (a JSON document, the API), and the JSON of one
    # receipt (JSON Lines), which is decoded and checked in one go.
    for way, read in (("dict", read_receipt), ("json", lambda r: decode_receipt(json.dumps(r).encode()))):
        reader_ok = _verdict(read, r)
        if reader_ok is None:
            continue
        if reader_ok and not schema_ok:
            raise AssertionError(f"{way} reader accepted what the schema rejects: "
                                 f"{list(VALIDATOR.iter_errors(r))[0].message}")
        if schema_ok and not reader_ok:
            # The reader is stricter in one documented way: a date must be a calendar day.
            assert r.get("date") == "2026-02-30", (way, r)


@settings(max_examples=150, deadline=None)
@given(st.lists(mutated(), min_size=1, max_size=6), st.sampled_from(["json lines", "array", "dicts"]))
def test_no_receipt_however_broken_stops_the_batch_or_goes_missing(day, shape):
    for i, r in enumerate(day):
        if isinstance(r.get("id"), str) and r["id"]:
            r["id"] = f"R{i}"
    if shape == "json lines":
        batch = parse_input("\n".join(json.dumps(r) for r in day).encode())
    elif shape == "array":
        batch = parse_input(json.dumps(day).encode())
    else:
        batch = day
    result = book(ruleset_of(RULE_POOL), batch, keep_bookings=True)
    ids = [r["id"] if isinstance(r.get("id"), str) and r["id"] else f"#{i + 1}" for i, r in enumerate(day)]
    outcomes = ([e.receipt for e in result.errors] + result.open + result.voided
                + [b.receipt.id for b in result.bookings])
    assert sorted(outcomes) == sorted(ids)  # each once: booked, open, voided or in error
    assert all(e.message for e in result.errors)
