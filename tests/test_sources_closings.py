"""Source adapters for till closings (SPEC §11, issue 14): a POS's register counts and closures
become closings that validate against schemas/closing.schema.json, book through the bundled
pos-sources.rules, and reconcile with the sales of the same register and day.

Fixtures follow the vendors' documentation (tests/fixtures/sources/README.md)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tillpost.api import book, load_rules, read_receipts, reconcile, register_payments
from tillpost.engine.book import _read
from tillpost.engine.closings import closing_schema
from tillpost.engine.receipts import InputError
from tillpost.sources import detect

FIXTURES = Path(__file__).parent / "fixtures" / "sources"
EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules" / "examples"
VALIDATOR = Draft202012Validator(closing_schema())

RETAIL = FIXTURES / "lightspeed-retail-register-counts.json"
X = FIXTURES / "lightspeed-x-register-closures.json"
CSV = FIXTURES / "kassa-closings.csv"


@pytest.fixture(scope="module")
def pos_rules():
    return load_rules(EXAMPLES / "pos-sources.rules")


def closings_of(records) -> dict:
    return {item.read()[1].id: item.item for item in records.closings if item.error is None}


def errors_of(records) -> dict:
    return {item.item["id"]: item.error for item in records.closings if item.error is not None}


@pytest.mark.parametrize("path, source", [(RETAIL, "lightspeed-retail"), (X, "lightspeed-x"), (CSV, "csv")])
def test_closings_are_recognised_validate_and_hold_no_receipt(pos_rules, path, source):
    assert detect(str(path), path.read_bytes()) == source
    records = read_receipts(str(path), pos_rules)
    assert len(records) == 0 and records.closings
    for closing in closings_of(records).values():
        VALIDATOR.validate(closing)


def test_retail_register_count_calculated_actual_and_withdraws(pos_rules):
    closings = closings_of(read_receipts(str(RETAIL), pos_rules))
    assert closings["41"] == {
        "type": "closing", "id": "41", "source": "lightspeed-retail", "store": "1", "register": "1",
        "date": "2026-11-20", "closed": "2026-11-20T18:05:12+01:00", "currency": "EUR",
        # the withdraw at openTime is the opening count; the one of the next morning is not this closing's
        "float": {"opening": "150", "method": "cash"},
        # payment types with 0 calculated and 0 counted are left out
        "counts": [{"method": "cash", "expected": "47.5", "counted": "45.5"},
                   {"method": "pin", "expected": "62.18", "counted": "62.18"},
                   {"method": "account", "expected": "32.5", "counted": "32.5"}],
        "movements": [{"kind": "payout", "method": "cash", "amount": "-18.5", "reason": "Glazenwasser"},
                      # `source lightspeed-retail movement "Afstorting bank" -> deposit`
                      {"kind": "deposit", "method": "cash", "amount": "-100", "reason": "Afstorting bank"}]}
    # one RegisterCountAmount is a single object, not a list
    assert closings["42"]["counts"] == [{"method": "cash", "expected": "100", "counted": "100"}]


def test_retail_counts_book_and_reconcile_with_the_sales_of_the_register(pos_rules, tmp_path):
    day = tmp_path / "day.jsonl"
    sales = json.loads((FIXTURES / "lightspeed-retail-sales.json").read_text())
    day.write_text(json.dumps(sales) + "\n" + RETAIL.read_text())
    records = read_receipts(str(day), pos_rules, "lightspeed-retail")
    result = book(pos_rules, records)
    assert result.closings == ["41", "42"] and not result.closing_errors
    [kas] = [e for e in result.entries if e.journal == "KAS" and e.closings]
    lines = {l.account: l.debit - l.credit for l in kas.lines}
    assert (lines["1110"], lines["4310"], lines["4990"]) == (Decimal("100.00"), Decimal("18.50"), Decimal("2.00"))
    receipts = [r for r in (_read(records, i)[1] for i in range(len(records))) if r is not None]
    paid = register_payments(receipts)
    count = next(item.read()[1] for item in records.closings if item.read()[1].id == "41")
    recon = reconcile(count, paid[("1", "1", "2026-11-20")])
    # the POS counted two cash sales that could not be read (111 and 113: in errors): 7.50 missing
    assert [e.receipt for e in result.errors if e.receipt in ("111", "113")] == ["111", "113"]
    assert recon.methods["cash"].reconciliation == Decimal("-7.50") and not recon.complete
    assert recon.methods["pin"].complete and recon.methods["account"].complete


def test_retail_count_that_cannot_be_read_is_a_closing_error_naming_it(pos_rules, tmp_path):
    counts, withdraws = (json.loads(line) for line in RETAIL.read_text().splitlines())
    counts["RegisterCount"][0]["RegisterCountAmounts"]["RegisterCountAmount"][1]["calculated"] = "12,50"
    counts["RegisterCount"][1]["RegisterCountAmounts"]["RegisterCountAmount"]["PaymentType"]["name"] = "Cheque"
    counts["RegisterCount"].append({"registerID": "3", "openTime": "2026-11-20T07:00:00+00:00"})
    path = tmp_path / "counts.json"
    path.write_text(json.dumps([counts, withdraws]))
    records = read_receipts(str(path), pos_rules, "lightspeed-retail")
    result = book(pos_rules, records)
    messages = {e.closing: e.message for e in result.closing_errors}
    assert messages == {
        "41": "Lightspeed Retail register count 41: RegisterCountAmount 402 calculated is '12,50', not a number",
        "42": 'Lightspeed Retail register count 42: payment type "Cheque" is not a method of the rule file; '
              'add: source lightspeed-retail payment "Cheque" -> <method>',
        "lightspeed-retail-closing#3": "Lightspeed Retail register count 3 of the input has no id",
    }
    assert result.errors == [] and result.closings == []


def test_x_series_closure_expected_from_the_summary_counted_from_the_close(pos_rules):
    records = read_receipts(str(X), pos_rules)
    closings = closings_of(records)
    first = closings["0ab9b350-ab7f-11ba-fc5c-6e58d999006f"]
    assert (first["store"], first["register"], first["date"], first["closed"]) == (
        "06f2e29c-25cb-11ee-efde-0bc57871a8a0", "06f2e29c-25cb-11ee-efde-0bc57873d83f", "2026-11-20",
        "2026-11-20T18:31:45+01:00")
    assert "float" not in first and "movements" not in first  # the API states neither
    assert first["counts"] == [{"method": "cash", "expected": "30.00", "counted": "29.50"},
                               {"method": "pin", "expected": "135.60", "counted": "135.60"},
                               {"method": "giftcard", "expected": "20.00", "counted": "20.00"}]
    result = book(pos_rules, records)
    differences = {e.date: {l.account: l.debit - l.credit for l in e.lines} for e in result.entries}
    assert differences == {"2026-11-20": {"1000": Decimal("-0.50"), "4990": Decimal("0.50")},
                           "2026-11-21": {"1000": Decimal("0.50"), "4990": Decimal("-0.50")}}


def test_x_series_closure_whose_close_leaves_out_an_expected_payment_type(pos_rules, tmp_path):
    closure = json.loads(X.read_text().splitlines()[0])
    closure["close"]["payments"] = closure["close"]["payments"][1:]
    path = tmp_path / "closure.json"
    path.write_text(json.dumps(closure))
    result = book(pos_rules, read_receipts(str(path), pos_rules))
    assert [(e.closing, e.message) for e in result.closing_errors] == [(
        "0ab9b350-ab7f-11ba-fc5c-6e58d999006f",
        "Lightspeed X-Series register closure 0ab9b350-ab7f-11ba-fc5c-6e58d999006f: Cash has an expected total of "
        "30.00 but the close does not count it")]


def test_csv_closings_export_counts_movements_and_an_unmapped_payment_type(pos_rules):
    records = read_receipts(str(CSV), pos_rules)
    closings = closings_of(records)
    assert closings["Z-20261120-K1"]["counts"] == [{"method": "cash", "expected": "1112.35", "counted": "1110.35"},
                                                   {"method": "pin", "expected": "1203.10", "counted": "1203.10"}]
    assert closings["Z-20261120-K1"]["float"] == {"opening": "150.00", "closing": "150.00"}
    assert [(m["kind"], m["amount"]) for m in closings["Z-20261120-K1"]["movements"]] == [
        ("payout", "-25.00"), ("deposit", "-300.00")]
    assert closings["Z-20261120-K2"]["movements"] == [
        {"kind": "payin", "method": "cash", "amount": "50.00", "reason": "Wisselgeld van de bank"}]
    assert errors_of(records) == {"Z-20261120-K3": 'CSV closing Z-20261120-K3 (row 8): payment type "Cheque" is not '
                                                   'a method of the rule file; add: source kassa-nl payment "Cheque" '
                                                   '-> <method>'}
    result = book(pos_rules, records)
    [kas] = [e for e in result.entries if e.journal == "KAS"]
    assert kas.closings == ("Z-20261120-K1", "Z-20261120-K2")
    assert {l.account: l.debit - l.credit for l in kas.lines} == {
        "1000": Decimal("-277.00"), "1110": Decimal("250.00"), "4310": Decimal("25.00"), "4990": Decimal("2.00")}


def test_a_csv_mapping_is_for_receipts_or_for_closings_not_both(pos_rules, tmp_path):
    mapping = (FIXTURES / "kassa-closings.yaml").read_text() + "receipt:\n  id: Afsluiting\n  date: Datum\n"
    (tmp_path / "z.csv").write_text(CSV.read_text())
    (tmp_path / "z.yaml").write_text(mapping)
    with pytest.raises(InputError, match="not a CSV mapping"):
        read_receipts(str(tmp_path / "z.csv"), pos_rules)
