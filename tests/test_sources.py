"""Source adapters: real POS exports → normalized receipts that validate and book.

Fixtures in tests/fixtures/sources/ follow the vendors' documentation (see
tests/fixtures/sources/README.md). Every adapter's output is checked against
schemas/receipt.schema.json with jsonschema, booked through the bundled
pos-sources.rules, and snapshotted as normalized receipts.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from tillpost.api import book, canonical, load_rules, read_receipts
from tillpost.cli import cli
from tillpost.engine.receipts import InputError, receipt_schema
from tillpost.sources import ADAPTERS, detect

FIXTURES = Path(__file__).parent / "fixtures" / "sources"
EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules" / "examples"
VALIDATOR = Draft202012Validator(receipt_schema())

CASES = {
    # fixture, source, receipts booked, errors, open, voided
    "lightspeed-retail": ("lightspeed-retail-sales.json", {"111", "112", "113"}, ["108"], ["107"]),
    "csv": ("kassa-export.csv", {"5011", "5012", "5013"}, ["5009"], ["5008"]),
    "lightspeed-x": ("lightspeed-x-sales.json", {"ed290b30-16d8-9e02-11ee-0ed0577aa125",
                                                 "ed290b30-16d8-9e02-11ee-0ed0577ab236",
                                                 "ed290b30-16d8-9e02-11ee-0ed0577ac347"},
                     ["ed290b30-16d8-8eba-11ee-0ee44f6b9fdd", "ed290b30-16d8-9e02-11ee-0ed0577a48bc"], []),
    "lightspeed-k": ("lightspeed-k-financials.json", {"R80965.109", "R80965.110", "R80965.111"}, [], ["R80965.104"]),
}


@pytest.fixture(scope="module")
def pos_rules():
    return load_rules(EXAMPLES / "pos-sources.rules")


def _load(name, rules):
    fixture = CASES[name][0]
    return read_receipts(str(FIXTURES / fixture), rules, name)


def _cli():
    from tillpost.cli import booking, sources  # noqa: F401  (register their commands)

    return CliRunner()


@pytest.mark.parametrize("name", list(CASES))
def test_output_validates_against_the_receipt_schema(name, pos_rules):
    records = _load(name, pos_rules)
    assert len(records) > 0
    for i, item in enumerate(records.items):
        if i in records.errors:
            continue
        errors = sorted(VALIDATOR.iter_errors(json.loads(json.dumps(item))), key=str)
        assert not errors, f"{item['id']}: {errors[0].message}"
        assert item["source"]


@pytest.mark.parametrize("name", list(CASES))
def test_books_through_the_example_rules(name, pos_rules):
    _, errors, open_, voided = CASES[name]
    result = book(pos_rules, _load(name, pos_rules))
    assert {e.receipt for e in result.errors} == errors
    assert result.open == open_ and result.voided == voided
    assert result.entries
    for entry in result.entries:
        assert sum(ln.debit for ln in entry.lines) == sum(ln.credit for ln in entry.lines)


@pytest.mark.parametrize("name", list(CASES))
def test_normalized_receipts_snapshot(name, pos_rules, snapshot):
    records = _load(name, pos_rules)
    shown = [{"error": records.errors[i], "id": item["id"]} if i in records.errors else item
             for i, item in enumerate(records.items)]
    assert json.dumps(shown, indent=1, ensure_ascii=False) == snapshot


@pytest.mark.parametrize("name", list(CASES))
def test_journal_snapshot(name, pos_rules, snapshot):
    result = book(pos_rules, _load(name, pos_rules))
    assert json.dumps(canonical(result, pos_rules), indent=1, ensure_ascii=False) == snapshot


def test_detected_from_the_file(pos_rules):
    for name, (fixture, *_rest) in CASES.items():
        path = FIXTURES / fixture
        assert detect(str(path), path.read_bytes()[:65536]) == name
        detected = read_receipts(str(path), pos_rules)
        named = read_receipts(str(path), pos_rules, name)
        assert detected.items == named.items and detected.errors == named.errors


def test_normalized_input_reads_as_before(bakery):
    path = str(EXAMPLES / "bakery-day.json")
    assert detect(path, Path(path).read_bytes()) == "tillpost"
    assert read_receipts(path).items == read_receipts(path, bakery, "tillpost").items


# -- Lightspeed Retail quirks -------------------------------------------------------------------


def _by_id(records):
    return {item["id"]: item for item in records.items}


def test_retail_single_objects_and_string_numbers(pos_rules):
    sale = _by_id(_load("lightspeed-retail", pos_rules))["101"]
    assert sale["lines"] == [{"sku": "BR-01", "description": "Volkorenbrood", "category": "brood",
                              "quantity": "2", "unit_price": "3.25", "vat": "low", "cost": "1.1"}]
    assert sale["payments"] == [{"method": "cash", "amount": "6.5"}]
    assert sale["vat"] == [{"name": "low", "amount": "0.54"}]
    assert sale["date"] == "2026-11-20" and sale["created"] == "2026-11-20T10:02:11+01:00"


def test_retail_gift_card_sale_is_a_liability_line_and_redemption_a_payment(pos_rules):
    receipts = _by_id(_load("lightspeed-retail", pos_rules))
    sold = receipts["105"]
    assert sold["lines"] == [{"sku": "creditAccount 31", "description": "Gift Card sold", "category": "giftcard",
                              "quantity": "1", "unit_price": "25", "vat": "none"}]
    assert sold["payments"] == [{"method": "pin", "amount": "25"}]
    redeemed = receipts["106"]
    assert {"method": "giftcard", "amount": "3"} in redeemed["payments"]
    # The tip is paid on top of the card amount, and owed to the staff.
    assert {"method": "pin", "amount": "2.49"} in redeemed["payments"]
    assert {"description": "Tip", "category": "tip", "quantity": "1", "unit_price": "0.5", "vat": "none"} in \
        redeemed["lines"]


def test_retail_refund_cash_rounding_back_dated_and_past_midnight(pos_rules):
    receipts = _by_id(_load("lightspeed-retail", pos_rules))
    assert receipts["103"]["lines"][0]["quantity"] == "-1"
    assert receipts["103"]["payments"] == [{"method": "pin", "amount": "-4.99"}]
    assert receipts["102"]["cash_rounding"] == "-0.01"  # 11.99 paid with 12.00
    assert receipts["109"]["date"] == "2026-11-19" and receipts["109"]["created"].startswith("2026-11-21")
    assert receipts["110"]["date"] == "2026-11-21"  # 23:30 UTC is 00:30 in Amsterdam
    assert receipts["114"]["prices_include_vat"] is False
    assert receipts["114"]["vat"] == [{"name": "high", "amount": "3.46"}, {"name": "low", "amount": "0.80"}]


def test_retail_errors_name_the_sale_and_the_mapping_line(pos_rules):
    result = book(pos_rules, _load("lightspeed-retail", pos_rules))
    messages = {e.receipt: e.message for e in result.errors}
    assert "SaleLine 1011 unitPrice is '3,25', not a number" in messages["111"]
    assert 'add: source lightspeed-retail payment "Cadeaubon" -> <method>' in messages["112"]
    assert "its lines add up to 3.25 but the sale's total is 4.25" in messages["113"]


def test_retail_without_mapping_lines_says_which_to_add(bakery):
    result = book(bakery, read_receipts(str(FIXTURES / "lightspeed-retail-sales.json"), bakery, "lightspeed-retail"))
    messages = {e.receipt: e.message for e in result.errors}
    assert 'add: source lightspeed-retail payment "Credit Card" -> <method>' in messages["102"]
    assert "declares no 0% VAT name; add: vat none 0%" in messages["105"]
    assert "101" not in messages  # cash and 9% map by their obvious keys


def test_retail_timezone_option(pos_rules):
    records = read_receipts(str(FIXTURES / "lightspeed-retail-sales.json"), pos_rules,
                            "lightspeed-retail:timezone=UTC")
    assert _by_id(records)["110"]["date"] == "2026-11-20"


def test_a_record_that_is_no_sale_is_an_error_not_a_crash(tmp_path, pos_rules):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"Sale": [{"saleID": "1", "completed": "true", "completeTime": "yesterday"},
                                         {"ticketNumber": "9"}, "nonsense"]}))
    records = read_receipts(str(path), pos_rules, "lightspeed-retail")
    result = book(pos_rules, records)
    assert [e.receipt for e in result.errors] == ["1", "lightspeed-retail#2", "lightspeed-retail#3"]
    assert "completeTime 'yesterday' is not an ISO 8601 timestamp" in result.errors[0].message


def test_malformed_json_is_unusable_input(tmp_path, pos_rules):
    path = tmp_path / "broken.json"
    path.write_text('{"Sale": [{"saleID": "1",')
    with pytest.raises(InputError, match="malformed JSON"):
        read_receipts(str(path), pos_rules, "lightspeed-retail")


# -- CSV ------------------------------------------------------------------------------------------


def test_csv_deposit_tip_gift_card_and_on_account(pos_rules):
    receipts = _by_id(_load("csv", pos_rules))
    assert receipts["5003"]["lines"][1] == {"sku": "SG-15", "description": "Statiegeld flesje", "category": "deposit",
                                            "quantity": "6", "unit_price": "0.15", "vat": "none"}
    assert receipts["5003"]["cash_rounding"] == "0.02"
    assert receipts["5004"]["lines"][0]["category"] == "giftcard"
    assert receipts["5005"]["payments"] == [{"method": "pin", "amount": "1.00"}, {"method": "giftcard", "amount": "9.00"}]
    assert receipts["5006"]["customer"] == {"id": "20001", "debtor": "20001", "name": "Jansen Catering"}
    assert receipts["5010"]["date"] == "2026-11-19" and receipts["5010"]["created"] == "2026-11-21T08:10:00+01:00"


def test_csv_errors(pos_rules):
    result = book(pos_rules, _load("csv", pos_rules))
    messages = {e.receipt: e.message for e in result.errors}
    assert "row 15 unit_price '2,8O' is not a number written with decimal separator ','" in messages["5011"]
    assert 'add: source kassa-nl tax "6%" -> <vat>' in messages["5012"]
    assert "its lines add up to 2.80 but its total column says 3.80" in messages["5013"]


def test_csv_payments_in_rows_and_vat_by_name(bakery):
    records = read_receipts(str(FIXTURES / "payments-in-rows.csv"), bakery)
    receipts = _by_id(records)
    assert receipts["R-77"]["payments"] == [{"method": "cash", "amount": "5.00"}, {"method": "pin", "amount": "3.85"}]
    assert [ln["vat"] for ln in receipts["R-77"]["lines"]] == ["low", "high"]
    result = book(bakery, records)
    assert [e.receipt for e in result.errors] == ["R-78"]
    assert 'add: source csv tax "Hoog tarief" -> <vat>' in result.errors[0].message


def test_csv_mapping_named_in_the_source(tmp_path, bakery):
    csv_path = tmp_path / "export.csv"
    shutil.copy(FIXTURES / "payments-in-rows.csv", csv_path)
    with pytest.raises(InputError, match="needs its column mapping"):
        read_receipts(str(csv_path), bakery, "csv")
    records = read_receipts(str(csv_path), bakery, f"csv:{FIXTURES / 'payments-in-rows.yaml'}")
    assert len(records) == 2


def test_csv_bad_mapping_is_unusable_input(tmp_path, bakery):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    (tmp_path / "x.yaml").write_text("receipt: {id: a}\nline: {quantity: b}\n")
    with pytest.raises(InputError, match=r"not a CSV mapping .*'date' is a required property"):
        read_receipts(str(tmp_path / "x.csv"), bakery)
    (tmp_path / "x.yaml").write_text("receipt: {id: a, date: d}\nline: {quantity: b, unit_price: p, vat: v}\n")
    with pytest.raises(InputError, match="has no column 'd', 'p', 'v'"):
        read_receipts(str(tmp_path / "x.csv"), bakery)


def test_csv_mapping_schema_accepts_the_fixture_mappings():
    import yaml

    from tillpost.sources.csv_export import mapping_schema

    validator = Draft202012Validator(mapping_schema())
    for path in FIXTURES.glob("*.yaml"):
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text()))), path


# -- command line ------------------------------------------------------------------------------


def test_cli_book_with_source_and_unknown_source():
    runner = _cli()
    rules = str(EXAMPLES / "pos-sources.rules")
    out = runner.invoke(cli, ["book", rules, str(FIXTURES / "lightspeed-retail-sales.json"),
                              "--source", "lightspeed-retail"])
    assert out.exit_code == 1, out.output
    journal = json.loads(out.stdout)
    assert {e["receipt"] for e in journal["errors"]} == {"111", "112", "113"}
    assert "error: receipt 112" in out.stderr
    out = runner.invoke(cli, ["book", rules, str(FIXTURES / "kassa-export.csv"), "--source", "square"])
    assert out.exit_code == 2 and "unknown source 'square'" in out.stderr


def test_cli_sources_lists_the_adapters():
    out = _cli().invoke(cli, ["sources"])
    assert out.exit_code == 0
    for name in ADAPTERS:
        assert name in out.stdout


def test_amounts_are_never_floats(pos_rules):
    for name in CASES:
        for item in _load(name, pos_rules).items:
            for ln in item.get("lines", ()):
                assert all(not isinstance(v, float) for v in ln.values())
                Decimal(ln["quantity"]), Decimal(ln["unit_price"])


# -- Lightspeed X-Series -----------------------------------------------------------------------

X_SALE = "ed290b30-16d8-8911-11ee-0edea74af4f9"


def test_x_rebuilds_the_gross_from_five_decimal_prices_exactly(pos_rules):
    sale = _by_id(_load("lightspeed-x", pos_rules))[X_SALE]
    # 24.79339 + 5.20661 and 18.34862 + 1.65138: whole euros, never a float's 29.999999
    assert [(ln["quantity"], ln["unit_price"], ln["vat"]) for ln in sale["lines"]] == \
        [("1", "30", "high"), ("2", "20", "low")]
    assert sale["vat"] == [{"name": "high", "amount": "5.21"}, {"name": "low", "amount": "3.30"}]


def test_x_statuses_on_account_return_and_gift_cards(pos_rules):
    receipts = _by_id(_load("lightspeed-x", pos_rules))
    on_account = receipts["ed290b30-16d8-8eba-11ee-0ee4340b1c26"]
    assert on_account["status"] == "completed"
    assert on_account["payments"] == [{"method": "account", "amount": "45.00"}]
    assert receipts["ed290b30-16d8-8eba-11ee-0ee44f6b9fdd"]["status"] == "open"  # LAYBY
    assert receipts["ed290b30-16d8-9e02-11ee-0ed0577a48bc"]["status"] == "open"  # SAVED
    refund = receipts["ed290b30-16d8-9e02-11ee-0ed0577a5cd0"]
    assert refund["lines"][0]["quantity"] == "-1" and refund["attributes"] == {"return_for": X_SALE}
    sold = receipts["ed290b30-16d8-9e02-11ee-0ed0577a6de1"]["lines"][0]
    assert sold["category"] == "giftcard" and sold["vat"] == "none"
    assert receipts["ed290b30-16d8-9e02-11ee-0ed0577a7ef2"]["payments"] == [{"method": "giftcard", "amount": "20"}]
    assert receipts["ed290b30-16d8-9e02-11ee-0ed0577a8f03"]["date"] == "2026-11-21"
    assert receipts["ed290b30-16d8-9e02-11ee-0ed0577a9014"]["date"] == "2026-11-19"


def test_x_closed_sale_voided_later_keeps_its_id(pos_rules):
    first = book(pos_rules, _load("lightspeed-x", pos_rules))
    later = read_receipts(str(FIXTURES / "lightspeed-x-voided.json"), pos_rules)
    assert [item["id"] for item in later.items] == [X_SALE]
    assert later.items[0]["status"] == "voided"
    assert X_SALE in {r for e in first.entries for r in e.receipts}
    assert book(pos_rules, later).voided == [X_SALE]


def test_x_tax_mapped_by_id(pos_rules, tmp_path):
    rules = tmp_path / "x.rules"
    shutil.copy(EXAMPLES / "bakery.rules", tmp_path / "bakery.rules")
    shutil.copy(EXAMPLES / "pos-sources.rules", tmp_path / "pos-sources.rules")
    rules.write_text('include "pos-sources.rules"\n'
                     'source lightspeed-x tax "06f2e29c-25cb-11ee-efde-0bc5786b4c33" -> low\n')
    ruleset = load_rules(rules)
    receipt = _by_id(read_receipts(str(FIXTURES / "lightspeed-x-sales.json"), ruleset))[
        "ed290b30-16d8-9e02-11ee-0ed0577ab236"]
    assert receipt["lines"][0]["vat"] == "low"


# -- Lightspeed K-Series -----------------------------------------------------------------------


def test_k_business_day_cut_off_past_midnight(pos_rules):
    receipts = _by_id(_load("lightspeed-k", pos_rules))
    late = receipts["R80965.105"]
    assert late["date"] == "2026-11-20"  # closed 01:30 on the 21st, before the 05:00 start of day
    assert late["attributes"] == {"closed": "2026-11-21T01:30:00+01:00"}
    assert late["store"] == "45454565682155"
    day_starts_at_nine = json.loads((FIXTURES / "lightspeed-k-financials.json").read_text())
    day_starts_at_nine["nextStartOfDayAsIso8601"] = "2026-11-21T09:00:00+01:00"
    assert _by_id(_convert_k(day_starts_at_nine, pos_rules))["R80965.108"]["date"] == "2026-11-20"
    day_starts_at_nine["sales"][7]["timeofCloseAndPaid"] = "2026-11-21T07:59:00Z"  # 08:59 local
    assert _by_id(_convert_k(day_starts_at_nine, pos_rules))["R80965.108"]["date"] == "2026-11-20"
    day_starts_at_nine["sales"][7]["timeofCloseAndPaid"] = "2026-11-21T08:01:00Z"  # 09:01 local
    assert _by_id(_convert_k(day_starts_at_nine, pos_rules))["R80965.108"]["date"] == "2026-11-21"


def _convert_k(doc, rules):
    from tillpost.sources import Mapper, to_records
    from tillpost.sources.lightspeed_k import convert

    return to_records("<test>", convert(json.dumps(doc).encode(), "<test>", Mapper(rules, "lightspeed-k"), {}))


def test_k_tips_service_charge_and_unrounded_tax(pos_rules):
    receipts = _by_id(_load("lightspeed-k", pos_rules))
    first = receipts["R80965.101"]
    assert first["payments"] == [{"method": "pin", "amount": "43.00"}]
    assert first["lines"][-1] == {"description": "Tip", "category": "tip", "quantity": "1", "unit_price": "3.00",
                                  "vat": "none"}
    assert first["vat"] == [{"name": "low", "amount": "2.39"}, {"name": "high", "amount": "1.91"}]
    steak = receipts["R80965.102"]["lines"]
    assert steak[1] == {"description": "Service charge Steak", "category": "service-charge", "quantity": "1",
                        "unit_price": "2.45", "vat": "low"}
    assert receipts["R80965.112"]["lines"][0]["discount"] == "0.90"
    assert receipts["R80965.113"]["lines"][0]["description"] == "3 × Bitterballen"


def test_k_accounts_receivable_refund_and_gift_cards(pos_rules):
    receipts = _by_id(_load("lightspeed-k", pos_rules))
    invoice = receipts["R80965.106"]
    assert invoice["customer"] == {"id": "9001", "debtor": "20055", "name": "Van Dijk BV"}
    assert invoice["payments"] == [{"method": "account", "amount": "225.00"}]
    assert receipts["R80965.103"]["payments"] == [{"method": "pin", "amount": "-5.50"}]
    assert receipts["R80965.107"]["lines"][0]["category"] == "giftcard"
    assert receipts["R80965.108"]["payments"] == [{"method": "giftcard", "amount": "14.50"}]


def test_retail_relations_as_bare_lists_and_empty_strings(tmp_path, pos_rules):
    doc = json.loads((FIXTURES / "lightspeed-retail-sales.json").read_text())
    sale = doc["Sale"][0]
    sale["SaleLines"] = [sale["SaleLines"]["SaleLine"]]
    sale["SalePayments"] = [sale["SalePayments"]["SalePayment"]]
    empty = dict(doc["Sale"][6], saleID="900", SaleLines="", SalePayments="")
    path = tmp_path / "sales.json"
    path.write_text(json.dumps([sale, empty]))
    records = read_receipts(str(path), pos_rules)
    assert records.items[0]["payments"] == [{"method": "cash", "amount": "6.5"}]
    assert records.items[1]["lines"] == [] and records.items[1]["status"] == "voided"


# -- property: any well-formed Lightspeed Retail sale books, and books what was paid ---------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

RATES = {"0.09": Decimal(9), "0.21": Decimal(21)}


@st.composite
def retail_sales(draw):
    lines, total, taxes = [], Decimal(0), {}
    for k in range(draw(st.integers(1, 5))):
        q = draw(st.integers(-3, 6).filter(bool))
        price = Decimal(draw(st.integers(1, 9999))) / 100
        fraction = draw(st.sampled_from(sorted(RATES)))
        discount = Decimal(draw(st.integers(0, int(abs(q) * price * 100) // 2))) / 100
        gross = q * price - (discount if q > 0 else -discount)
        rate = RATES[fraction]
        tax = gross * rate / (100 + rate)
        taxes[fraction] = taxes.get(fraction, Decimal(0)) + tax
        total += gross
        lines.append({"saleLineID": str(k + 1), "unitQuantity": str(q), "unitPrice": str(price),
                      "calcLineDiscount": str(discount), "calcTransactionDiscount": "0", "tax": "true",
                      "tax1Rate": fraction, "tax2Rate": "0", "calcTax1": str(tax), "calcTax2": "0",
                      "avgCost": "0", "TaxClass": {"name": "Item"}})
    charged = sum((t.quantize(Decimal("0.01")) for t in taxes.values()), Decimal(0))
    split = Decimal(draw(st.integers(0, 100))) / 100
    pin = (total * split).quantize(Decimal("0.01"))
    payments = [{"salePaymentID": "1", "amount": str(pin), "PaymentType": {"name": "Pin"}},
                {"salePaymentID": "2", "amount": str(total - pin), "PaymentType": {"name": "Cash"}}]
    sale = {"saleID": "1", "ticketNumber": "1", "completed": "true", "voided": "false", "isTaxInclusive": "true",
            "completeTime": "2026-11-20T10:00:00+00:00", "shopID": "1", "registerID": "1", "customerID": "0",
            "calcTotal": str(total), "calcTax1": str(charged), "calcTax2": "0",
            "SaleLines": {"SaleLine": lines[0] if len(lines) == 1 else lines},
            "SalePayments": {"SalePayment": payments}}
    return sale, total


@settings(max_examples=40, deadline=None)
@given(retail_sales())
def test_any_consistent_retail_sale_validates_and_books_what_was_paid(pos_rules, tmp_path_factory, drawn):
    sale, total = drawn
    path = tmp_path_factory.mktemp("prop") / "sale.json"
    path.write_text(json.dumps({"Sale": sale}))
    records = read_receipts(str(path), pos_rules)
    assert not records.errors, records.errors
    assert not list(VALIDATOR.iter_errors(records.items[0]))
    result = book(pos_rules, records)
    assert not result.errors, result.errors
    debtors = sum((ln.debit - ln.credit for e in result.entries if e.journal == "VRK" for ln in e.lines
                   if ln.account == "1300"), Decimal(0))
    assert debtors == total


def test_x_void_of_a_booked_sale_reaches_the_ledger_as_a_reversal(tmp_path):
    from tillpost.cli import ledger  # noqa: F401  (registers process and status)

    runner, db = _cli(), str(tmp_path / "ledger.db")
    rules = str(EXAMPLES / "pos-sources.rules")
    first = runner.invoke(cli, ["process", rules, str(FIXTURES / "lightspeed-x-sales.json"), "--db", db, "--final"])
    assert "7 booked" in first.output, first.output
    later = runner.invoke(cli, ["process", rules, str(FIXTURES / "lightspeed-x-voided.json"), "--db", db, "--final"])
    assert later.exit_code == 0, later.output
    assert "1 voided" in later.output and "3 entries" in later.output  # KAS, MEM, VRK reversed
    status = runner.invoke(cli, ["status", "--db", db])
    assert f"voided: {X_SALE}" in status.output


def test_k_tax_exclusive_business(pos_rules):
    doc = json.loads((FIXTURES / "lightspeed-k-financials.json").read_text())
    sale = doc["sales"][0]
    line_ = dict(sale["salesLines"][1], quantity="1", menuListPrice="10.00", totalNetAmountWithoutTax="10.00",
                 totalNetAmountWithTax="12.10", taxAmount="2.1", serviceCharge="0.00")
    line_["taxLines"] = [dict(line_["taxLines"][0], taxIncluded=False, taxAmount="2.1")]
    sale["salesLines"] = [line_]
    sale["payments"] = [dict(sale["payments"][0], netAmountWithTax="12.10", tip="0.00")]
    doc["sales"] = [sale]
    records = _convert_k(doc, pos_rules)
    receipt = records.items[0]
    assert receipt["prices_include_vat"] is False
    assert receipt["lines"] == [{"sku": "71", "description": "Wijn glas rood", "category": "Drinks", "quantity": "1",
                                 "unit_price": "10", "vat": "high", "cost": "1.80"}]
    assert receipt["vat"] == [{"name": "high", "amount": "2.10"}]
    assert not book(pos_rules, records).errors
