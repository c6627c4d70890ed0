"""Till closings (SPEC §11, issue 14): the record, its facts and rules, booking, bad input, and
the reconciliation of a register's day with the receipts seen."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from decimal import Decimal

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tillpost.api import book, canonical, compile_text, parse_input, read_receipts, reconcile, register_payments
from tillpost.engine.closings import closing_schema, read_closing
from tillpost.engine.receipts import read_receipt

RULES = """
client "Test" currency EUR counter debtor "BALIE"
journal KAS cash "Kas"  journal MEM memo "Memoriaal"  journal VRK sales "Verkoop"
account kas 1000 "Kas"  account pin 1105 "Pin"  account bank 1110 "Kruisposten bank"
account deb 1300 "Debiteuren" debtors
account btw 1520 "BTW"  account schoonmaak 4310 "Schoonmaakkosten"  account verschil 4990 "Kasverschillen"
account omzet 8000 "Omzet"  account afronding 8990 "Afronding"
vat high 21% code "VH"
method cash turnover  method pin turnover  method invoice individual
when sale post VRK deb -> omzet
when tax post VRK deb -> btw
when payment method=cash post KAS kas -> deb
when payment method=pin post MEM pin -> deb
when payment method=invoice skip
when cost skip
when rounding post KAS afronding -> deb
when difference method=cash post KAS kas -> verschil
when movement kind=deposit post KAS kas -> bank
when movement kind=payout post KAS kas -> schoonmaak
when movement kind=payin post KAS kas -> bank
"""


@pytest.fixture(scope="module")
def rules():
    ruleset, d = compile_text(RULES)
    assert ruleset is not None, d.format()
    return ruleset


def receipt(id="R1", amount="12.10", method="cash", **extra):
    r = {"id": id, "store": "S1", "register": "K1", "date": "2026-11-20", "status": "completed", "currency": "EUR",
         "prices_include_vat": True, "lines": [{"quantity": "1", "unit_price": amount, "vat": "high"}],
         "payments": [{"method": method, "amount": amount}]}
    r.update(extra)
    return r


def closing(id="C1", cash=("162.10", "160.10"), movements=None, **extra):
    """Register K1 of S1: float 150, one receipt of 12.10 cash, so 162.10 expected; 2.00 short."""
    c = {"type": "closing", "id": id, "store": "S1", "register": "K1", "date": "2026-11-20", "currency": "EUR",
         "float": {"opening": "150.00", "closing": "150.00"},
         "counts": [{"method": "cash", "expected": cash[0], "counted": cash[1]}],
         "movements": movements if movements is not None else []}
    c.update(extra)
    return c


def kas_lines(result, journal="KAS"):
    [entry] = [e for e in result.entries if e.journal == journal]
    return {l.account: l.debit - l.credit for l in entry.lines}


def error_of(result, cid):
    found = [e.message for e in result.closing_errors if e.closing == cid]
    assert len(found) == 1, result.closing_errors
    return found[0]


# -- booking ---------------------------------------------------------------------------------


def test_a_shortage_and_a_deposit_join_the_days_cash_entry(rules):
    day = [receipt(), closing(cash=("62.10", "60.10"), movements=[
        {"kind": "deposit", "method": "cash", "amount": "-100.00", "reason": "Afstorting"}])]
    result = book(rules, day)
    assert result.ok and result.closings == ["C1"]
    # kas: +12.10 received, −100.00 to the bank, −2.00 short; the shortage turns the rule's sides
    assert kas_lines(result) == {"1000": Decimal("-89.90"), "1110": Decimal("100.00"), "1300": Decimal("-12.10"),
                                 "4990": Decimal("2.00")}
    [entry] = [e for e in result.entries if e.journal == "KAS"]
    assert entry.receipts == ("R1",) and entry.closings == ("C1",) and entry.key == "2026-11-20/S1"
    assert all(l.debtor is None and l.vat is None for l in entry.lines if l.account != "1300")


def test_a_surplus_books_the_other_way_and_a_count_that_agrees_books_nothing(rules):
    result = book(rules, [receipt(), closing(cash=("162.10", "162.60"))])
    assert kas_lines(result) == {"1000": Decimal("12.60"), "1300": Decimal("-12.10"), "4990": Decimal("-0.50")}
    quiet = book(rules, [receipt(), closing(cash=("162.10", "162.10"))])
    assert quiet.ok and quiet.closings == ["C1"]
    assert [e.closings for e in quiet.entries] == [(), ()]


def test_canonical_json_lists_closings_only_on_entries_that_hold_them_and_validates(rules):
    from importlib import resources

    schema = json.loads(resources.files("tillpost.schemas").joinpath("journal.schema.json").read_text())
    payout = [{"kind": "payout", "method": "cash", "amount": "-18.50", "reason": "Glazenwasser"}]
    # a closing alone, for a day whose receipts came in another batch: its entry holds no receipt
    alone = canonical(book(rules, [closing(cash=("131.50", "131.50"), movements=payout)]), rules)
    jsonschema.Draft202012Validator(schema).validate(alone)
    assert [(e["journal"], e["receipts"], e["closings"]) for e in alone["entries"]] == [("KAS", [], ["C1"])]
    plain = canonical(book(rules, [receipt()]), rules)
    assert all("closings" not in e for e in plain["entries"])
    broken = canonical(book(rules, [receipt(), closing(currency="USD")]), rules)
    jsonschema.Draft202012Validator(schema).validate(broken)
    assert broken["errors"] == [{"closing": "C1", "message": "currency USD is not the rule file's EUR"}]


def test_closing_facts_are_grouped_by_register_when_the_turnover_is(rules):
    grouped, _ = compile_text(RULES + "group turnover by date, store, register\n")
    other = closing(id="C2", register="K2", cash=("150.00", "149.00"))
    result = book(grouped, [receipt(), closing(), other])
    assert [(e.journal, e.key, e.receipts, e.closings) for e in result.entries if e.journal == "KAS"] == [
        ("KAS", "2026-11-20/S1/K1", ("R1",), ("C1",)), ("KAS", "2026-11-20/S1/K2", (), ("C2",))]


def test_keep_bookings_keeps_each_closings_booking(rules):
    result = book(rules, [receipt(), closing()], keep_bookings=True)
    [booking] = result.closing_bookings
    assert booking.closing.id == "C1" and booking.mode == "turnover" and booking.key == ("2026-11-20", "S1")
    assert [(l.account, l.amount) for l in booking.legs] == [("1000", Decimal("-2.00")), ("4990", Decimal("2.00"))]
    assert booking.only("MEM").postings == [] and booking.journals() == ["KAS"]
    assert [(f.kind, f.where, r.text) for f, r in booking.matched] == [
        ("difference", "counts[0]", "when difference method=cash post KAS kas -> verschil")]
    assert [b.receipt.id for b in result.bookings] == ["R1"]  # receipts' bookings stay receipts'


# -- reading: the same inputs as receipts --------------------------------------------------------


def test_closings_are_read_from_every_input_receipts_are(rules):
    day = [receipt(), closing()]
    expected = canonical(book(rules, day), rules)
    inputs = {
        "array": json.dumps(day).encode(),
        "object": json.dumps({"receipts": day}).encode(),
        "json lines": "\n".join(json.dumps(r) for r in day).encode(),
        "closing first": "\n".join(json.dumps(r) for r in reversed(day)).encode(),
        "numbers": json.dumps(day).replace('"160.10"', "160.10").encode(),
    }
    for name, data in inputs.items():
        assert canonical(book(rules, parse_input(data, name)), rules) == expected, name
    assert canonical(book(rules, day), rules) == expected  # decoded dicts, through the API


def test_whatever_reads_receipts_never_meets_a_closing(rules):
    data = "\n".join(json.dumps(r) for r in [receipt("R1"), closing(), {"id": "R3"}]).encode()
    records = parse_input(data, "day.jsonl")
    assert len(records) == 2 and len(records.closings) == 1
    # the broken receipt keeps its file line: 3, not 2
    assert records.line_of(1) == 3
    result = book(rules, records)
    assert [e.receipt for e in result.errors] == ["R3"] and result.closings == ["C1"]


def test_a_receipt_may_say_it_is_one():
    read_receipt(receipt(type="receipt"))
    jsonschema.Draft202012Validator(closing_schema()).validate(closing())
    read_closing(closing())


def test_json_numbers_are_read_as_decimals_and_binary_floats_refused(rules):
    text = json.dumps([receipt(), closing()]).replace('"160.10"', "160.10")
    result = book(rules, parse_input(text.encode()))
    assert result.ok and kas_lines(result)["4990"] == Decimal("2.00")
    floated = closing()
    floated["counts"][0]["counted"] = 160.1
    assert "binary float" in error_of(book(rules, [receipt(), floated]), "C1")


# -- bad input: an error naming the closing and why, never a crash ---------------------------------


def test_counts_in_another_currency(rules):
    assert error_of(book(rules, [receipt(), closing(currency="USD")]), "C1") == \
        "currency USD is not the rule file's EUR"


def test_a_count_for_a_method_the_rule_file_does_not_declare(rules):
    c = closing()
    c["counts"].append({"method": "cheque", "expected": "10.00", "counted": "10.00"})
    message = error_of(book(rules, [receipt(), c]), "C1")
    assert message == "counts[1] counts method 'cheque', which the rule file does not declare"


@pytest.mark.parametrize("missing", ["expected", "counted"])
def test_expected_or_counted_missing(rules, missing):
    c = closing()
    del c["counts"][0][missing]
    message = error_of(book(rules, [receipt(), c]), "C1")
    assert message == (f"counts[0] has no {missing} (a count needs the amount the POS expected and the amount "
                       "counted)")


def test_two_closings_for_one_register_and_day_are_both_errors(rules):
    result = book(rules, [receipt(), closing("C1"), closing("C2"), closing("C3", register="K2")])
    assert error_of(result, "C1") == ("register K1 of store S1 is closed more than once on 2026-11-20 in this input "
                                      "(also by C2); a register closes once a day: none of them is booked")
    assert "(also by C1)" in error_of(result, "C2")
    assert result.closings == ["C3"]
    assert all(e.closings in ((), ("C3",)) for e in result.entries)  # neither C1 nor C2 is in an entry


def test_a_closing_id_seen_twice_is_an_error_and_neither_copy_is_booked(rules):
    result = book(rules, [receipt(), closing(), closing(date="2026-11-21")])
    assert error_of(result, "C1") == "id C1 occurs 2 times in this input; none of them is booked"
    assert result.closings == [] and all(not e.closings for e in result.entries)


def test_amounts_with_more_decimals_than_the_currency(rules):
    c = closing(cash=("162.10", "160.105"),
                movements=[{"kind": "payout", "method": "cash", "amount": "-1.001", "reason": "x"}])
    assert error_of(book(rules, [receipt(), c]), "C1") == (
        "counts[0].counted 160.105 has more decimals than EUR has (2); "
        "movements[0].amount -1.001 has more decimals than EUR has (2)")


def test_a_fact_no_rule_matches_makes_the_closing_an_error_naming_the_fact(rules):
    c = closing()
    c["counts"].append({"method": "pin", "expected": "30.00", "counted": "29.00"})
    message = error_of(book(rules, [receipt(), c]), "C1")
    assert message == ("no rule matches the fact difference -1.00 (counts[1]) method=pin store=S1 register=K1 "
                       'source="" mode=turnover refund=no customer=no')


def test_a_movement_whose_sign_contradicts_its_kind(rules):
    c = closing(movements=[{"kind": "payout", "method": "cash", "amount": "18.50"},
                           {"kind": "payin", "method": "cash", "amount": "-50.00"}])
    assert error_of(book(rules, [receipt(), c]), "C1") == (
        "movements[0] is a payout of 18.50: a payout takes money out of the drawer, its amount is negative (-18.50); "
        "movements[1] is a pay-in of -50.00: a pay-in puts money into the drawer, its amount is positive")


@pytest.mark.parametrize("change, message", [
    (lambda c: c["counts"][0].update(counted="160,10"), "counts[0].counted is '160,10', not an amount"),
    (lambda c: c.update(movements=[{"kind": "withdrawal", "method": "cash", "amount": "-1.00"}]),
     "movements[0].kind is 'withdrawal': a movement is payin, payout or deposit"),
    (lambda c: c.update(date="2026-02-30"), "date: '2026-02-30' is not a day of the calendar"),
    (lambda c: c.pop("counts"), "the closing has no counts"),
    (lambda c: c.update(till="K1"), "the closing: Additional properties are not allowed ('till' was unexpected)"),
    (lambda c: c["float"].pop("opening"), "float has no opening (a float needs its opening amount)"),
])
def test_a_closing_that_breaks_its_schema_says_where_and_why(rules, change, message):
    c = closing()
    change(c)
    assert message in error_of(book(rules, [receipt(), c]), "C1")


def test_a_closing_without_an_id_is_reported_by_its_place(rules):
    c = closing()
    del c["id"]
    result = book(rules, [receipt(), receipt("R2"), c])
    assert result.closing_errors[0].closing == "#3" and "has no id" in result.closing_errors[0].message


def test_book_exits_1_and_names_the_closing_on_stderr(tmp_path):
    rules = tmp_path / "c.rules"
    rules.write_text(RULES)
    day = tmp_path / "day.json"
    day.write_text(json.dumps([receipt(), closing(currency="USD")]))
    run = subprocess.run([sys.executable, "-m", "tillpost", "book", str(rules), str(day)], capture_output=True,
                         text=True)
    assert run.returncode == 1, run.stderr
    assert "error: closing C1: currency USD is not the rule file's EUR" in run.stderr
    assert json.loads(run.stdout)["errors"] == [{"closing": "C1", "message": "currency USD is not the rule file's EUR"}]


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5)
                     | st.sampled_from(["1.00", "-0.5", "1e3", "", "cash", "payout", "2026-11-20"]),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                 max_size=3), max_leaves=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from([("id",), ("store",), ("date",), ("currency",), ("float",), ("float", "opening"),
                             ("counts",), ("counts", 0), ("counts", 0, "expected"), ("counts", 0, "method"),
                             ("movements",), ("movements", 0, "kind"), ("movements", 0, "amount"), ("register",)]),
       value=_json)
def test_any_value_anywhere_is_booked_or_an_error_never_a_crash(rules, path, value):
    c = closing(movements=[{"kind": "payout", "method": "cash", "amount": "-1.00"}])
    target = c
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    for data in ([receipt(), c], json.dumps([receipt(), c]).encode()):
        result = book(rules, parse_input(data) if isinstance(data, bytes) else copy.deepcopy(data))
        ids = result.closings + [e.closing for e in result.closing_errors]
        assert len(ids) == 1, (ids, c)
        assert all(e.message for e in result.closing_errors)


# -- the rule file ---------------------------------------------------------------------------------


def messages(text: str) -> list[str]:
    _, diagnostics = compile_text(text, "c.rules")
    return [f"{d.severity}: {d.message}" for d in diagnostics.sorted()]


def test_closing_rules_are_checked_like_any_other():
    base = RULES.split("when difference")[0]
    found = messages(base + """
        when difference method=cheque post KAS kas -> verschil
        when difference mode=individual post KAS kas -> verschil
        when movement kind=withdrawal post KAS kas -> bank
        when movement kind=payout post KAS kas -> deb
        when movement sku=x post KAS kas -> bank
    """)
    assert "error: undeclared method 'cheque'" in found
    assert "error: difference facts of a till closing always have mode=turnover: this rule never matches" in found
    assert "error: 'kind' is payin, payout or deposit, never 'withdrawal'" in found
    assert ("error: a till closing has no debtor: movement facts cannot be booked on debtors account 'deb'; book "
            "them on the cash account and a result or clearing account") in found
    assert any(m.startswith("error: movement facts have no attribute 'sku'") for m in found)


def test_a_closing_kind_without_rules_is_a_warning_and_two_rules_for_one_fact_are_ambiguous():
    base = RULES.split("when difference")[0]
    assert messages(base) == [
        "warning: no rule books difference facts: a till closing with one will be an error; write "
        "`when difference skip` to book none",
        "warning: no rule books movement facts: a till closing with one will be an error; write "
        "`when movement skip` to book none"]
    found = messages(base + "when difference skip\nwhen movement kind=payout post KAS kas -> schoonmaak\n"
                            "when movement method=cash post KAS kas -> bank\n")
    assert found == ["error: ambiguous rules: this rule and the rule at c.rules:18 both match "
                     "`movement kind=payout method=cash` and neither is more specific; add a rule for their overlap "
                     "(`when movement kind=payout method=cash …`) or a condition to one of them"]


# -- reconciliation --------------------------------------------------------------------------------


def test_the_bakery_day_reconciles_for_both_registers(bakery, bakery_day):
    from tillpost.engine.book import _read

    receipts = [_read(bakery_day, i)[1] for i in range(len(bakery_day))]
    paid = register_payments(r for r in receipts if r is not None)
    closings = {c.id: c for c in (item.read()[1] for item in bakery_day.closings)}
    k1 = reconcile(closings["AMS01-K1-2026-11-20"], paid[("AMS01", "K1", "2026-11-20")])
    assert k1.complete and k1.missing == 0
    cash = k1.methods["cash"]
    # expected 105.55 = float 200.00 + cash receipts 24.05 − payout 18.50 − deposit 100.00; 2.00 short
    assert (cash.expected, cash.counted, cash.difference, cash.opening_float, cash.movements) == (
        Decimal("105.55"), Decimal("103.55"), Decimal("-2.00"), Decimal("200.00"), Decimal("-118.50"))
    assert (cash.receipts, cash.pos_receipts, cash.reconciliation) == (Decimal("24.05"), Decimal("24.05"), 0)
    k2 = reconcile(closings["AMS01-K2-2026-11-20"], paid[("AMS01", "K2", "2026-11-20")])
    assert k2.complete
    # invoices and the delivery platform are settled elsewhere: the closing counts neither
    assert [(m.method, m.receipts, m.reconciliation) for m in k2.methods.values() if m.expected is None] == [
        ("deliveroo", Decimal("13.00"), None), ("invoice", Decimal("46.50"), None)]


def test_a_receipt_missing_from_the_input_is_flagged_for_its_register_with_the_amount(bakery, examples):
    from tillpost.engine.book import _read

    day = json.loads((examples / "bakery-day.json").read_text())
    records = parse_input(json.dumps([r for r in day if r["id"] != "AMS01-K1-1001"]).encode())
    receipts = [_read(records, i)[1] for i in range(len(records))]
    closings = [item.read()[1] for item in records.closings]
    paid = register_payments(receipts)
    by_register = {(c.store, c.register): reconcile(c, paid.get((c.store, c.register, c.date), {})) for c in closings}
    k1 = by_register[("AMS01", "K1")]
    assert not k1.complete and k1.missing == Decimal("9.30")  # receipt 1001 paid 9.30 cash
    assert k1.methods["cash"].reconciliation == Decimal("-9.30") and k1.methods["pin"].complete
    assert by_register[("AMS01", "K2")].complete
    assert k1.as_dict()["methods"][0] == {
        "method": "cash", "expected": "105.55", "counted": "103.55", "difference": "-2.00", "float": "200.00",
        "movements": "-118.50", "receipts": "14.75", "pos_receipts": "24.05", "reconciliation": "-9.30",
        "complete": False}


def test_a_receipt_the_pos_did_not_count_and_a_count_without_receipts(rules):
    extra = reconcile(read_closing(closing()), {"cash": Decimal("20.10")})
    assert extra.methods["cash"].reconciliation == Decimal("8.00") and extra.missing == Decimal("-8.00")
    c = closing()
    c["counts"].append({"method": "pin", "expected": "30.00", "counted": "30.00"})
    none_seen = reconcile(read_closing(c), {"cash": Decimal("12.10")})
    assert none_seen.methods["pin"].reconciliation == Decimal("-30.00") and not none_seen.complete
    assert none_seen.methods["cash"].complete  # the 2.00 cash shortage was counted: the day is not incomplete


def test_explain_shows_a_closings_facts_rules_and_reconciliation(examples):
    run = subprocess.run([sys.executable, "-m", "tillpost", "explain", str(examples / "bakery.rules"),
                          str(examples / "bakery-day.json"), "--receipt", "AMS01-K1-2026-11-20"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert text.startswith("closing AMS01-K1-2026-11-20\n  2026-11-20 store AMS01 register K1 closed")
    assert "  fact difference -2.00 (counts[0]) method=cash store=AMS01" in text
    assert "bakery.rules:49: when difference method=cash post KAS kas -> kasverschillen" in text
    assert "    KAS debit  4990 2.00" in text and "    KAS credit 1000 100.00" in text
    assert "against the 6 completed receipt(s) of register K1 on 2026-11-20 in this input:" in text
    assert "complete: the receipts are what the POS counted" in text


def test_explain_flags_the_missing_receipt(tmp_path, examples):
    day = [r for r in json.loads((examples / "bakery-day.json").read_text()) if r["id"] != "AMS01-K1-1001"]
    path = tmp_path / "day.json"
    path.write_text(json.dumps(day))
    run = subprocess.run([sys.executable, "-m", "tillpost", "explain", str(examples / "bakery.rules"), str(path),
                          "--receipt", "AMS01-K1-2026-11-20"], capture_output=True, text=True)
    assert "-9.30  ← 9.30 of receipts missing" in run.stdout
    assert "incomplete: 9.30 of receipts missing" in run.stdout


def test_the_bakery_example_books_its_closings(bakery, bakery_day):
    result = book(bakery, bakery_day)
    assert result.ok and result.closings == ["AMS01-K1-2026-11-20", "AMS01-K2-2026-11-20"]
    kas = {l.account: l.debit - l.credit for e in result.entries if e.journal == "KAS" for l in e.lines}
    assert kas == {"1000": Decimal("-96.45"), "1110": Decimal("100.00"), "1300": Decimal("-24.03"),
                   "4310": Decimal("18.50"), "4990": Decimal("2.00"), "8990": Decimal("-0.02")}
    assert read_receipts  # the example is read through the source layer too (conftest)


def test_diff_shows_a_closing_a_rule_change_leaves_unbooked(tmp_path, examples):
    new = tmp_path / "bakery.rules"
    text = (examples / "bakery.rules").read_text()
    line = "when movement kind=payout             post KAS kas -> schoonmaakkosten   # its only payouts: the window cleaner\n"
    assert line in text
    new.write_text(text.replace(line, ""))
    run = subprocess.run([sys.executable, "-m", "tillpost", "diff", str(examples / "bakery.rules"), str(new),
                          str(examples / "bakery-day.json")], capture_output=True, text=True)
    assert run.returncode == 1, run.stderr
    assert "+ closing AMS01-K1-2026-11-20: no rule matches the fact movement -18.50 (movements[0]) kind=payout" \
        in run.stdout
    assert "-  4310     Schoonmaakkosten" in run.stdout  # the closing's lines leave the day's cash entry
