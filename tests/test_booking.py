"""Receipts → facts → postings → entries: the amounts of SPEC §5 and the bad input of issue 2."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import jsonschema
import pytest

from tillpost.api import book, canonical, compile_text, parse_input, read_input
from tillpost.engine.facts import receipt_facts
from tillpost.engine.receipts import read_receipt, receipt_schema

RULES = """
client "Test" currency EUR counter debtor "BALIE"
journal KAS cash "Kas"  journal MEM memo "Memoriaal"  journal VRK sales "Verkoop"
account kas 1000 "Kas"  account pin 1105 "Pin"  account deb 1300 "Debiteuren" debtors
account hoog 1520 "BTW hoog"  account laag 1521 "BTW laag"  account voorraad 3000 "Voorraad"
account kostprijs 7000 "Kostprijs"  account omzet 8000 "Omzet"  account afronding 8990 "Afronding"
vat high 21% code "VH"  vat low 9% code "VL"
method cash turnover  method pin turnover  method invoice individual  method platform individual debtor "20017"
when sale post VRK deb -> omzet
when tax vat=high post VRK deb -> hoog
when tax vat=low post VRK deb -> laag
when payment method=cash post KAS kas -> deb
when payment method=pin post MEM pin -> deb
when payment method in (invoice, platform) skip
when cost post MEM kostprijs -> voorraad
when rounding post KAS afronding -> deb
"""


@pytest.fixture(scope="module")
def rules():
    ruleset, d = compile_text(RULES)
    assert ruleset is not None, d.format()
    return ruleset


def receipt(id="R1", lines=None, payments=None, **extra):
    r = {"id": id, "number": id, "store": "S1", "register": "K1", "date": "2026-11-20", "status": "completed",
         "currency": "EUR", "prices_include_vat": True,
         "lines": lines if lines is not None else [{"quantity": "1", "unit_price": "12.10", "vat": "high"}],
         "payments": payments if payments is not None else [{"method": "cash", "amount": "12.10"}]}
    r.update(extra)
    return r


def line(qty, price, vat="high", **extra):
    return {"quantity": qty, "unit_price": price, "vat": vat, **extra}


def facts_of(rules, r):
    return [(f.kind, str(f.amount), f.where) for f in receipt_facts(read_receipt(r), rules)]


def lines_of(result, journal, key=None):
    entry = next(e for e in result.entries if e.journal == journal and (key is None or e.key == key))
    return [(l.account, str(l.debit), str(l.credit), l.debtor, l.vat) for l in entry.lines]


# -- amounts ---------------------------------------------------------------------------


def test_vat_per_vat_name_is_split_over_the_lines_with_the_remainder_to_the_largest(rules):
    # Gross 10.00 + 5.00 + 0.01 at 21%: VAT round(15.01 × 21/121) = 2.61.
    # Shares round(2.61 × g / 15.01) = 1.74, 0.87, 0.00 → 2.61 exactly, nothing left.
    r = receipt(lines=[line("1", "10.00"), line("1", "5.00"), line("1", "0.01")],
                payments=[{"method": "cash", "amount": "15.01"}])
    assert facts_of(rules, r) == [
        ("sale", "8.26", "lines[0]"), ("sale", "4.13", "lines[1]"), ("sale", "0.01", "lines[2]"),
        ("tax", "2.61", "vat[high]"), ("payment", "15.01", "payments[0]")]
    # Three lines of 1.00 at 21%: VAT round(3 × 21/121) = 0.52; shares 0.17 each = 0.51; the
    # remaining 0.01 goes to the largest line, the first on a tie.
    r = receipt(lines=[line("1", "1.00"), line("1", "1.00"), line("1", "1.00")],
                payments=[{"method": "cash", "amount": "3.00"}])
    assert [a for k, a, _ in facts_of(rules, r) if k == "sale"] == ["0.82", "0.83", "0.83"]


def test_the_remainder_goes_to_the_line_with_the_largest_absolute_gross(rules):
    r = receipt(lines=[line("1", "1.00"), line("-1", "2.00"), line("1", "4.00")],
                payments=[{"method": "cash", "amount": "3.00"}])
    # VAT round(3.00 × 21/121) = 0.52; shares: 0.17, -0.35, 0.69 = 0.51 → +0.01 on line 2 (|4.00|).
    assert [a for k, a, _ in facts_of(rules, r) if k == "sale"] == ["0.83", "-1.65", "3.30"]


def test_a_sale_and_its_return_on_one_receipt_carry_their_own_vat(rules):
    # G = 0: no proportion to split by; each line carries its own VAT at the rate.
    r = receipt(lines=[line("1", "12.10"), line("-1", "12.10")], payments=[])
    assert facts_of(rules, r) == [("sale", "10.00", "lines[0]"), ("sale", "-10.00", "lines[1]"),
                                  ("tax", "0.00", "vat[high]")]


def test_rounding_is_half_away_from_zero(rules):
    # 0.5 × 0.25 = 0.125 → 0.13, and a refund of it → -0.13.
    r = receipt(lines=[line("0.5", "0.25", "low")], payments=[{"method": "cash", "amount": "0.13"}])
    assert facts_of(rules, r)[0:2] == [("sale", "0.12", "lines[0]"), ("tax", "0.01", "vat[low]")]
    r = receipt(lines=[line("-0.5", "0.25", "low")], payments=[{"method": "cash", "amount": "-0.13"}])
    assert facts_of(rules, r)[0:2] == [("sale", "-0.12", "lines[0]"), ("tax", "-0.01", "vat[low]")]


def test_printed_vat_is_used_as_printed(rules):
    r = receipt(lines=[line("2", "2.80")], payments=[{"method": "cash", "amount": "5.60"}],
                vat=[{"name": "high", "amount": "0.98"}])
    assert facts_of(rules, r)[0:2] == [("sale", "4.62", "lines[0]"), ("tax", "0.98", "vat[high]")]


def test_prices_excluding_vat(rules):
    r = receipt(prices_include_vat=False, lines=[line("3", "3.333", "high"), line("1", "10.00", "low")],
                payments=[{"method": "cash", "amount": "23.00"}])
    # Nets 10.00 (3 × 3.333 = 9.999 → 10.00) and 10.00; VAT 2.10 and 0.90.
    assert facts_of(rules, r) == [
        ("sale", "10.00", "lines[0]"), ("sale", "10.00", "lines[1]"), ("tax", "2.10", "vat[high]"),
        ("tax", "0.90", "vat[low]"), ("payment", "23.00", "payments[0]")]


def test_discount_cost_and_cash_rounding(rules):
    r = receipt(lines=[line("3", "1.95", "low", discount="0.85", cost="0.555")],
                payments=[{"method": "cash", "amount": "5.00"}], cash_rounding="0.00")
    assert facts_of(rules, r) == [
        ("sale", "4.59", "lines[0]"), ("tax", "0.41", "vat[low]"), ("payment", "5.00", "payments[0]"),
        ("cost", "1.67", "lines[0].cost")]
    r = receipt(lines=[line("1", "4.99", "low")], payments=[{"method": "cash", "amount": "5.00"}],
                cash_rounding="-0.01")
    assert facts_of(rules, r)[-1] == ("rounding", "-0.01", "cash_rounding")


def test_the_exact_globe_manual_example(examples):
    from tillpost.api import load_rules

    rules = load_rules(examples / "exact-globe.rules")
    result = book(rules, read_input(str(examples / "exact-globe.json")))
    assert lines_of(result, "KAS") == [("1000", "25.00", "0", None, None), ("1300", "0", "25.00", "KASSA", None)]
    assert lines_of(result, "VRK") == [("1300", "25.00", "0", "KASSA", None), ("1520", "0", "5.00", None, "standard"),
                                       ("8090", "0", "20.00", None, "standard")]
    assert lines_of(result, "MEM") == [("3000", "0", "18.00", None, None), ("7000", "18.00", "0", None, None)]


# -- entries ---------------------------------------------------------------------------


def test_a_refund_turns_the_sides_around(rules):
    result = book(rules, [receipt(lines=[line("-1", "12.10")], payments=[{"method": "cash", "amount": "-12.10"}])])
    assert lines_of(result, "KAS") == [("1000", "0", "12.10", None, None), ("1300", "12.10", "0", "BALIE", None)]
    assert lines_of(result, "VRK") == [("1300", "0", "12.10", "BALIE", None), ("1520", "2.10", "0", None, "high"),
                                       ("8000", "10.00", "0", None, "high")]


def test_turnover_receipts_are_summed_per_day_and_store_and_the_counter_debtor_nets_out(rules):
    receipts = [receipt("R1"), receipt("R2", store="S2"), receipt("R3", payments=[{"method": "pin", "amount": "12.10"}]),
                receipt("R4", date="2026-11-21")]
    result = book(rules, receipts)
    assert [(e.journal, e.key, e.receipts) for e in result.entries] == [
        ("KAS", "2026-11-20/S1", ("R1",)), ("KAS", "2026-11-20/S2", ("R2",)), ("MEM", "2026-11-20/S1", ("R3",)),
        ("VRK", "2026-11-20/S1", ("R1", "R3")), ("VRK", "2026-11-20/S2", ("R2",)),
        ("KAS", "2026-11-21/S1", ("R4",)), ("VRK", "2026-11-21/S1", ("R4",))]
    assert lines_of(result, "VRK", "2026-11-20/S1")[0] == ("1300", "24.20", "0", "BALIE", None)
    for key in ("2026-11-20/S1", "2026-11-20/S2", "2026-11-21/S1"):
        balie = sum(l.debit - l.credit for e in result.entries if e.key == key for l in e.lines if l.debtor == "BALIE")
        assert balie == 0


def test_group_by_register_and_descriptions(rules):
    ruleset, _ = compile_text(RULES + 'group turnover by date, store, register describe turnover "Omzet {date} {store}/{register}"')
    result = book(ruleset, [receipt("R1"), receipt("R2", register="K2")])
    assert [(e.key, e.description) for e in result.entries if e.journal == "KAS"] == [
        ("2026-11-20/S1/K1", "Omzet 2026-11-20 S1/K1"), ("2026-11-20/S1/K2", "Omzet 2026-11-20 S1/K2")]


def test_individual_receipts_are_invoices_against_customer_or_fixed_debtor(rules):
    customer = {"id": "C1", "debtor": "20001", "name": "Jansen Catering"}
    result = book(rules, [
        receipt("R1", payments=[{"method": "invoice", "amount": "12.10"}], customer=customer),
        receipt("R2", payments=[{"method": "platform", "amount": "12.10"}], customer=customer),
        receipt("R3", payments=[{"method": "platform", "amount": "12.10"}]),
    ])
    assert result.errors == []
    vrk = [e for e in result.entries if e.journal == "VRK"]
    assert [(e.key, e.mode, e.description, e.lines[0].debtor) for e in vrk] == [
        ("R1", "individual", "Bon R1", "20001"), ("R2", "individual", "Bon R2", "20017"),
        ("R3", "individual", "Bon R3", "20017")]


def test_lines_with_the_same_account_debtor_and_vat_are_netted_and_zero_lines_dropped(rules):
    result = book(rules, [receipt("R1"), receipt("R2", lines=[line("-1", "12.10")],
                                                 payments=[{"method": "cash", "amount": "-12.10"}])])
    # Sale and return of the same article on one day: everything nets to zero, no entry is left.
    assert result.entries == [] and result.errors == []


# -- bad input -------------------------------------------------------------------------


def errors_of(result):
    return {e.receipt: e.message for e in result.errors}


def test_each_bad_receipt_is_an_error_with_its_reason_and_the_rest_is_booked(rules):
    good = receipt("GOOD")
    bad = [
        receipt("SCHEMA", lines=[line("1", "12,10")]),
        receipt("METHOD", payments=[{"method": "bitcoin", "amount": "12.10"}]),
        receipt("VATNAME", lines=[line("1", "12.10", "super")]),
        receipt("TOTAL", payments=[{"method": "cash", "amount": "12.00"}]),
        receipt("SPLIT", payments=[{"method": "invoice", "amount": "6.10"}, {"method": "cash", "amount": "6.00"}],
                customer={"debtor": "1"}),
        receipt("NODEBTOR", payments=[{"method": "invoice", "amount": "12.10"}]),
        receipt("CURRENCY", currency="USD"),
        receipt("CENTS", payments=[{"method": "cash", "amount": "12.101"}]),
        receipt("DUP"), receipt("DUP", lines=[line("2", "12.10")], payments=[{"method": "cash", "amount": "24.20"}]),
    ]
    result = book(rules, [good] + bad)
    errors = errors_of(result)
    assert errors["SCHEMA"] == "$.lines[0].unit_price: '12,10' does not match '^-?[0-9]+(\\\\.[0-9]+)?$'"
    assert errors["METHOD"] == "payment method 'bitcoin' is not declared in the rule file"
    assert errors["VATNAME"] == "lines[0] has VAT name 'super', which the rule file does not declare"
    assert errors["TOTAL"] == ("payments 12.00 + cash rounding 0.00 do not match the receipt total 12.10 "
                               "(sales 10.00 + VAT 2.10)")
    assert ("a receipt booked individually (invoice) has other payments too (invoice 6.10, cash 6.00), and method "
            "'invoice' does not take cash with it; to book it against the invoice's debtor as paid in part, "
            "declare `method invoice individual with cash`") in errors["SPLIT"]
    assert "has no customer debtor and method 'invoice' no fixed debtor" in errors["NODEBTOR"]
    assert errors["CURRENCY"] == "currency USD is not the rule file's EUR"
    assert errors["CENTS"] == "payment cash 12.101 has more decimals than EUR has (2)"
    assert errors["DUP"] == "id DUP occurs 2 times in this input; none of them is booked"
    assert [e.receipts for e in result.entries] == [("GOOD",), ("GOOD",)]
    assert lines_of(result, "KAS")[0] == ("1000", "12.10", "0", None, None)


def test_a_receipt_is_never_partly_booked(rules):
    # Two lines: the first would book, the second has no rule (no category rule is missing,
    # but its VAT name is unknown): nothing of the receipt may reach an entry.
    r = receipt("R1", lines=[line("1", "12.10"), line("1", "1.00", "unknown")],
                payments=[{"method": "cash", "amount": "13.10"}])
    result = book(rules, [r])
    assert result.entries == [] and list(errors_of(result)) == ["R1"]


def test_a_fact_no_rule_matches_names_the_fact(rules):
    ruleset, _ = compile_text(RULES.replace("when cost post MEM kostprijs -> voorraad",
                                            "when cost category=brood post MEM kostprijs -> voorraad"))
    result = book(ruleset, [receipt("R1", lines=[line("1", "12.10", cost="5", category="koffie")])])
    message = errors_of(result)["R1"]
    assert message.startswith("no rule matches the fact cost 5.00 (lines[0].cost) category=koffie")


def test_a_receipt_without_id_is_reported_by_its_place(rules):
    r = receipt()
    del r["id"]
    result = book(rules, [receipt("R0"), r])
    assert errors_of(result) == {"#2": "$: 'id' is a required property"}


def test_open_and_voided_receipts_are_reported_not_booked(rules):
    result = book(rules, [receipt("R1", status="open"), receipt("R2", status="voided"), receipt("R3")])
    assert result.open == ["R1"] and result.voided == ["R2"]
    assert all(e.receipts == ("R3",) for e in result.entries)


# -- input -----------------------------------------------------------------------------


def test_json_numbers_are_read_as_decimals_never_floats(rules):
    data = json.dumps([receipt(lines=[line(1, 12.1)], payments=[{"method": "cash", "amount": 12.10}])]).encode()
    result = book(rules, parse_input(data))
    assert result.errors == [] and lines_of(result, "KAS")[0] == ("1000", "12.10", "0", None, None)
    # 0.1 + 0.2 as floats would not be 0.3; as decimals it is.
    data = json.dumps([receipt(lines=[line(1, 0.1), line(1, 0.2)], payments=[{"method": "cash", "amount": 0.3}])])
    assert book(rules, parse_input(data.encode())).errors == []


def test_input_shapes_array_object_and_json_lines_book_the_same(rules):
    broken = receipt("R3")
    broken["lines"][0]["quantity"] = "2,5"
    receipts = [receipt("R1"), receipt("R2", payments=[{"method": "cash", "amount": 12.1}]), broken]
    shapes = [json.dumps(receipts), json.dumps(receipts, indent=2), json.dumps({"receipts": receipts}),
              "\n".join(json.dumps(r) for r in receipts) + "\n"]
    results = [canonical(book(rules, parse_input(s.encode())), rules) for s in shapes]
    assert all(r == results[0] for r in results)
    assert results[0]["entries"][0]["receipts"] == ["R1", "R2"]
    assert results[0]["errors"] == [{"receipt": "R3", "message": "$.lines[0].quantity: '2,5' does not match "
                                                                 "'^-?[0-9]+(\\\\.[0-9]+)?$'"}]
    # One receipt on its own is a document too.
    alone = canonical(book(rules, parse_input(json.dumps(receipts[0], indent=2).encode())), rules)
    assert [e["receipts"] for e in alone["entries"]] == [["R1"]] * len(alone["entries"])


def test_malformed_json_is_an_input_error_with_line_and_column(rules):
    from tillpost.api import InputError

    with pytest.raises(InputError, match=r"^x.json:3:5: error: malformed JSON"):
        parse_input(b'[\n {"id": "R1"},\n    oops\n]', "x.json")
    with pytest.raises(InputError, match=r"^x.jsonl:2:"):
        records = parse_input(b'{"id": "R1"}\n{"id": \n', "x.jsonl")
        book(rules, records)


def test_the_reader_accepts_exactly_what_the_schema_accepts_on_the_examples(examples):
    from tillpost.engine.closings import closing_schema, read_closing

    validator = jsonschema.Draft202012Validator(receipt_schema())
    closings = jsonschema.Draft202012Validator(closing_schema())
    for name in ("bakery-day.json", "restaurant-day.json", "exact-globe.json"):
        for r in json.loads((examples / name).read_text()):
            if r.get("type") == "closing":
                closings.validate(r)
                read_closing(r)
            else:
                validator.validate(r)
                read_receipt(r)


def test_canonical_output_validates_against_the_journal_schema(bakery, bakery_day):
    from importlib import resources

    schema = json.loads(resources.files("tillpost.schemas").joinpath("journal.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(canonical(book(bakery, bakery_day), bakery))


# -- the command line ------------------------------------------------------------------


def run_cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "tillpost", *args], capture_output=True, text=True, input=stdin)


def test_book_exit_codes_and_stdin(tmp_path, examples, rules):
    rules_file = tmp_path / "r.rules"
    rules_file.write_text(RULES)
    ok = run_cli("book", str(rules_file), "-", stdin=json.dumps([receipt("R1")]))
    assert ok.returncode == 0 and json.loads(ok.stdout)["errors"] == []
    some = run_cli("book", str(rules_file), "-", stdin=json.dumps([receipt("R1"), receipt("R2", currency="USD")]))
    assert some.returncode == 1
    out = json.loads(some.stdout)
    assert out["errors"] == [{"receipt": "R2", "message": "currency USD is not the rule file's EUR"}]
    assert out["entries"][0]["receipts"] == ["R1"]
    assert "error: receipt R2: currency USD" in some.stderr
    broken = run_cli("book", str(rules_file), "-", stdin="[{")
    assert broken.returncode == 2 and "<stdin>:1:3: error: malformed JSON" in broken.stderr
    assert "Traceback" not in broken.stderr + some.stderr
    missing = run_cli("book", str(rules_file), str(tmp_path / "none.json"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_explain_shows_each_fact_its_rule_and_its_lines(examples):
    result = run_cli("explain", str(examples / "bakery.rules"), str(examples / "bakery-day.json"),
                     "--receipt", "WEB-W1-9001")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "fact sale 8.94 (lines[0]) category=brood sku=BR-01 vat=low store=WEB" in text
    assert "bakery.rules:34: when sale category=brood store=WEB post VRK debiteuren -> omzet_web" in text
    assert "VRK credit 8095 8.94 vat low" in text
    missing = run_cli("explain", str(examples / "bakery.rules"), str(examples / "bakery-day.json"), "--receipt", "nope")
    assert missing.returncode == 1 and "not in the input" in missing.stdout


def test_a_number_attribute_matches_by_its_value_however_it_is_written(rules):
    ruleset, d = compile_text(RULES + "account terras 8010 \"Omzet terras\"\nattribute table\n"
                                      "when sale table=1.5 post VRK deb -> terras\nwhen sale table=2 post VRK deb -> terras\n")
    assert ruleset is not None, d.format()
    written = ['"table": 1.5', '"table": 1.50', '"table": 2', '"table": 2.0', '"table": 2E0', '"table": "2"',
               '"table": "1.50"', '"table": 1e5000', '"table": 1e9999999', '"table": -0.0']
    data = "\n".join(json.dumps(receipt(f"R{i}"))[:-1] + ', "attributes": {' + w + "}}" for i, w in enumerate(written))
    as_text = book(ruleset, parse_input(data.encode()), keep_bookings=True)
    as_dicts = book(ruleset, [receipt("D1", attributes={"table": 1.5}), receipt("D2", attributes={"table": 2.0}),
                              receipt("D3", attributes={"table": Decimal("1.50")})], keep_bookings=True)
    assert as_text.errors == [] and as_dicts.errors == []

    def terras(result):
        return {b.receipt.id for b in result.bookings if any(stem.credit[0] == "8010" for stem, _ in b.postings)}

    # Text is matched as written: "1.50" is not the number 1.5.
    assert terras(as_text) == {"R0", "R1", "R2", "R3", "R4", "R5"}
    assert terras(as_dicts) == {"D1", "D2", "D3"}


def test_an_amount_too_large_to_compute_exactly_is_that_receipts_error(rules):
    # The schema bounds no number; Decimal refuses to round one past 28 digits to cents.
    # First in JSON Lines too: the input is still read as JSON Lines.
    big = [receipt("R1", payments=[{"method": "cash", "amount": "PAID"}]), receipt("R2"),
           receipt("R3", lines=[line("PAID", "12.10")])]
    for paid in ("1e400", "123456789012345678901234567890123.5"):
        data = "\n".join(json.dumps(r).replace('"PAID"', paid) for r in big).encode()
        result = book(rules, parse_input(data))
        assert [(e.receipt, e.message) for e in result.errors] == [
            (rid, "its amounts are too large to compute exactly (more than 28 significant digits)")
            for rid in ("R1", "R3")]
        assert {rid for e in result.entries for rid in e.receipts} == {"R2"}


def test_a_receipt_without_lines_that_was_paid_is_an_error_with_both_amounts(rules):
    result = book(rules, [receipt("R1", lines=[]), receipt("R2", lines=[], payments=[])])
    assert [(e.receipt, e.message) for e in result.errors] == [
        ("R1", "payments 12.10 + cash rounding 0.00 do not match the receipt total 0.00 (sales 0.00 + VAT 0.00)")]
    assert result.entries == []  # R2 has nothing to book
