"""The Lightspeed adapters on the examples of the vendors' own API documentation.

Each fixture copies a published example (tests/fixtures/sources/README.md names the page and
what was added around it); each sale is booked to the figures the payload itself states: its
total, its tax, its payments.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tillpost.api import book, load_rules, read_receipts
from tillpost.sources import Mapper, detect, to_records

FIXTURES = Path(__file__).parent / "fixtures" / "sources"
EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules" / "examples"
D = Decimal


def journal_figures(result, rules):
    """(total charged: the debtors debit, tax booked, revenue booked, paid) of the entries."""
    tax_accounts = {r.post.credit.number for r in rules.rules if r.kind == "tax" and r.post}
    sales = [e for e in result.entries if rules.journals[e.journal].type == "sales"]
    debit = sum((l.debit - l.credit for e in sales for l in e.lines if l.debtor), D(0))
    tax = sum((l.credit - l.debit for e in sales for l in e.lines if l.account in tax_accounts), D(0))
    revenue = sum((l.credit - l.debit for e in sales for l in e.lines if not l.debtor
                   and l.account not in tax_accounts), D(0))
    paid = sum((l.credit - l.debit for e in result.entries if rules.journals[e.journal].type != "sales"
                for l in e.lines if l.debtor), D(0))
    return debit, tax, revenue, paid


def book_one(rules, path, source, rid):
    records = read_receipts(str(path), rules, source)
    items = [item for item in records.items if item["id"] == rid]
    errors = {i: e for i, e in records.errors.items() if records.items[i]["id"] == rid}
    assert not errors, errors
    return book(rules, items)


# -- X-Series ---------------------------------------------------------------------------------

X_SOURCE = "lightspeed-x:currency=NZD,timezone=Pacific/Auckland"


@pytest.fixture(scope="module")
def x_rules():
    return load_rules(FIXTURES / "lightspeed-x-docs.rules")


def _x_sales(name):
    doc = json.loads((FIXTURES / name).read_text())
    return doc.get("data") or doc.get("register_sales")


@pytest.mark.parametrize("fixture", ["lightspeed-x-docs.json", "lightspeed-x-register-sales.json"])
def test_x_docs_sales_book_to_their_stated_figures(x_rules, fixture):
    booked = 0
    for sale in _x_sales(fixture):
        if sale["status"] != "CLOSED":
            continue
        result = book_one(x_rules, FIXTURES / fixture, X_SOURCE, sale["id"])
        assert not result.errors, result.errors
        paid = sum((D(str(p["amount"])) for p in sale.get("payments") or sale.get("register_sale_payments")), D(0))
        tax = sum((D(str(li.get("tax_total", li.get("tax", 0) * li["quantity"])))
                   for li in sale.get("line_items") or sale.get("register_sale_products")), D(0))
        debit, booked_tax, revenue, booked_paid = journal_figures(result, x_rules)
        assert (debit, booked_tax, booked_paid) == (paid, D(str(sale.get("total_tax", tax))).quantize(D("0.01")), paid)
        assert revenue == paid - booked_tax
        if "total_price" in sale:
            assert revenue == D(str(sale["total_price"]))
        booked += 1
    assert booked == (3 if fixture == "lightspeed-x-docs.json" else 1)


def test_x_non_cash_fee_is_a_surcharge_line_of_the_sale(x_rules):
    """The changelog's example: line items 20 + the fee 1 = total_price 21, paid by card."""
    records = read_receipts(str(FIXTURES / "lightspeed-x-docs.json"), x_rules, X_SOURCE)
    for rid in ("sale1", "sale2"):  # `type` as in 2019, `adjustment_type` as since 2025
        receipt = next(item for item in records.items if item["id"] == rid)
        assert receipt["lines"][-1] == {"description": "Non-cash Fee", "category": "surcharge", "quantity": "1",
                                        "unit_price": "1", "vat": "none"}
        assert receipt["payments"] == [{"method": "credit_card", "amount": "21"}]


def test_x_return_with_a_zero_priced_line_takes_its_vat_from_the_tax_id(x_rules):
    records = read_receipts(str(FIXTURES / "lightspeed-x-docs.json"), x_rules, X_SOURCE)
    by_id = {item["id"]: item for item in records.items}
    parked = by_id["06bf537b-c783-11e6-f6b9-7ea7909ffedd"]
    assert parked["status"] == "open"
    closed = by_id["06bf537b-c783-11e6-f6b9-7ea7909ffede"]
    assert [(ln["quantity"], ln["unit_price"], ln["vat"]) for ln in closed["lines"]] == [("-1", "230", "gst"),
                                                                                         ("-1", "0", "gst")]
    assert closed["vat"] == [{"name": "gst", "amount": "-30.00"}]
    # alone on its sale, a zero-priced line's tax id must be mapped, and the error says how
    doc = {"data": [dict(_x_sales("lightspeed-x-docs.json")[3], line_items=[_x_sales("lightspeed-x-docs.json")[3][
        "line_items"][1]], payments=[], total_price=0, total_tax=0)]}
    result = book(x_rules, _convert(doc, x_rules, "lightspeed_x"))
    assert 'add: source lightspeed-x tax "b1d192bc-f019-11e3-a0f5-b8ca3a64f8f4" -> <vat>' in result.errors[0].message


def test_x_register_sales_09_is_detected_and_read(x_rules):
    path = FIXTURES / "lightspeed-x-register-sales.json"
    assert detect(str(path), path.read_bytes()) == "lightspeed-x"
    records = read_receipts(str(path), x_rules, X_SOURCE)
    closed, parked = records.items
    assert closed["lines"] == [{"sku": "b1d87b58-f019-11e3-a0f5-b8ca3a64f8f4", "quantity": "1", "unit_price": "25.3",
                                "vat": "gst", "cost": "20"}]
    assert closed["date"] == "2016-05-06"  # 23:35 UTC is the next morning in Auckland
    assert closed["payments"] == [{"method": "cash", "amount": "25.3"}]
    assert parked["status"] == "open"


def _convert(doc, rules, module):
    import importlib

    convert = importlib.import_module(f"tillpost.sources.{module}").convert
    name = {"lightspeed_x": "lightspeed-x", "lightspeed_k": "lightspeed-k", "lightspeed_retail": "lightspeed-retail"}
    return to_records("<test>", convert(json.dumps(doc).encode(), "<test>", Mapper(rules, name[module]), {}))


@pytest.fixture(scope="module")
def pos_rules():
    return load_rules(EXAMPLES / "pos-sources.rules")


def x_sale(status, paid="15", **extra):
    sale = {"id": f"S-{status}", "status": status, "sale_date": "2026-11-20T10:00:00Z", "outlet_id": "AMS01",
            "total_price": 12.39669, "total_tax": 2.60331,
            "line_items": [{"id": "L1", "quantity": 1, "price": 12.39669, "tax": 2.60331, "tax_total": 2.60331,
                            "tax_id": "T21"}],
            "payments": [{"name": "Pin", "amount": paid}] if paid else []}
    sale.update(extra)
    return sale


STATUSES = [
    ("CLOSED", "15", "completed"), ("ONACCOUNT_CLOSED", "15", "completed"), ("LAYBY_CLOSED", "15", "completed"),
    ("DISPATCHED_CLOSED", "15", "completed"), ("PICKED_UP_CLOSED", "15", "completed"),
    ("SERVICE_CLOSED", "15", "completed"), ("AWAITING_DISPATCH", "15", "completed"),
    ("AWAITING_PICKUP", "15", "completed"), ("AWAITING_PICKUP", None, "open"), ("AWAITING_DISPATCH", "5", "open"),
    ("SAVED", None, "open"), ("LAYBY", "5", "open"), ("SERVICE", None, "open"), ("VOIDED", None, "voided"),
    ("ONACCOUNT", None, "completed"),
]


@pytest.mark.parametrize("status, paid, expected", STATUSES, ids=[f"{s}-{p}" for s, p, _ in STATUSES])
def test_x_every_sale_status_is_completed_open_or_voided(pos_rules, status, paid, expected):
    records = _convert({"data": [x_sale(status, paid)]}, pos_rules, "lightspeed_x")
    assert not records.errors, records.errors
    assert records.items[0]["status"] == expected


def test_x_unknown_status_is_an_error_naming_it(pos_rules):
    records = _convert({"data": [x_sale("SHIPPED")]}, pos_rules, "lightspeed_x")
    assert "status 'SHIPPED' / state None is not a sale status" in records.errors[0]


def test_x_line_tax_is_tax_total_not_the_deprecated_tax(pos_rules):
    sale = x_sale("CLOSED", paid="45", total_price=37.19007, total_tax=7.80993)
    sale["line_items"] = [{"id": "L1", "quantity": 3, "price": 12.39669, "tax": 0, "tax_total": 7.80993,
                           "tax_id": "T21", "tax_components": [{"rate_id": "T21", "total_tax": 7.80993}]}]
    records = _convert({"data": [sale]}, pos_rules, "lightspeed_x")
    assert not records.errors, records.errors
    assert records.items[0]["vat"] == [{"name": "high", "amount": "7.81"}]
    assert records.items[0]["lines"][0]["unit_price"] == "15"
    assert not book(pos_rules, records).errors


def test_x_ecom_custom_charges_are_booked_once_beside_total_price(pos_rules):
    """The 2025-05 changelog's ecom_custom_charges object: not in total_price or total_tax, also an
    ECOM_CUSTOM_CHARGE adjustment; its VAT that of the lines with the same tax rates."""
    components = [{"rate_id": "f47c0c62-00bf-11f0-a104-0683d8846097", "total_tax": 0.96667},
                  {"rate_id": "fa1cab06-00bf-11f0-a104-0683d8846097", "total_tax": 0.77333}]
    charges = {"total": 8.26000, "total_tax": 1.74, "total_incl": 10.00000,
               "charges": [{"source_id": "dcq0jek", "total": 8.26000, "name": "Gift Wrapping",
                            "tax_components": components, "total_tax": 1.74, "total_incl": 10.00000}]}
    sale = x_sale("CLOSED", paid="25", total_price=12.39669, total_tax=2.60331, ecom_custom_charges=charges,
                  adjustments=[{"adjustment_type": "ECOM_CUSTOM_CHARGE", "name": "Gift Wrapping", "total": 8.26,
                                "tax_components": components}])
    sale["line_items"][0]["tax_components"] = [dict(c, total_tax=t) for c, t in zip(components, (1.44628, 1.15703))]
    records = _convert({"data": [sale]}, pos_rules, "lightspeed_x")
    assert not records.errors, records.errors
    receipt = records.items[0]
    assert receipt["lines"][1] == {"description": "Gift Wrapping", "category": "service-charge", "quantity": "1",
                                   "unit_price": "10.00", "vat": "high"}
    assert receipt["vat"] == [{"name": "high", "amount": "4.34"}]
    result = book(pos_rules, records)
    assert not result.errors, result.errors
    # without the object, the adjustment alone books it
    del sale["ecom_custom_charges"]
    records = _convert({"data": [sale]}, pos_rules, "lightspeed_x")
    assert [ln["unit_price"] for ln in records.items[0]["lines"]] == ["15", "10.00000"]


def test_x_a_sale_without_its_lines_says_so(pos_rules):
    sale = x_sale("CLOSED")
    del sale["line_items"]
    records = _convert({"data": [sale]}, pos_rules, "lightspeed_x")
    assert "the sale has no line_items: the export left them out; fetch it with GET /api/2.0/sales/S-CLOSED" \
        in records.errors[0]


# -- K-Series ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k_rules():
    return load_rules(FIXTURES / "lightspeed-k-docs" / "client.rules")


@pytest.mark.parametrize("example", ["sales-daily", "sales-export"])
def test_k_docs_sale_books_to_its_stated_figures(k_rules, example):
    """A burger of 10.00 with a service charge of 1.00, tax 1.6667, paid 11.00 in cash."""
    path = FIXTURES / "lightspeed-k-docs" / f"{example}.json"
    result = book(k_rules, read_receipts(str(path), k_rules, "lightspeed-k"))
    assert not result.errors and not result.voided, result.errors
    assert journal_figures(result, k_rules) == (D("11.00"), D("1.67"), D("9.33"), D("11.00"))
    memo = [e for e in result.entries if e.journal == "MEMO"]
    assert [(l.account, l.debit) for l in memo[0].lines] == [("3000", D(0)), ("5000", D("5.00"))]


def test_k_docs_cancelled_financials_sale_is_voided(k_rules):
    path = FIXTURES / "lightspeed-k-docs" / "financials.json"
    result = book(k_rules, read_receipts(str(path), k_rules, "lightspeed-k"))
    assert result.voided == ["R65315.13"] and not result.entries


@pytest.mark.parametrize("spelling", ["timeOfCloseAndPaid", "timeofCloseAndPaid", "timeClosed"])
def test_k_close_time_under_each_spelling(k_rules, spelling):
    doc = json.loads((FIXTURES / "lightspeed-k-docs" / "sales-daily.json").read_text())
    sale = doc["sales"][0]
    del sale["timeClosed"]
    sale[spelling] = "2023-02-15T09:00:00Z"  # 04:00 at -05:00: before the 05:30 start of day
    sale["timeOfOpening"] = "2023-02-15T08:30:00Z"
    receipt = _convert(doc, k_rules, "lightspeed_k").items[0]
    assert receipt["date"] == "2023-02-14" and receipt["attributes"] == {"closed": "2023-02-15T04:00:00-05:00"}


def test_k_a_sale_without_its_payments_says_so(k_rules):
    doc = json.loads((FIXTURES / "lightspeed-k-docs" / "sales-daily.json").read_text())
    del doc["sales"][0]["payments"]
    errors = _convert(doc, k_rules, "lightspeed_k").errors
    assert "the sale has no payments: the export left them out; fetch the financials with `include=payments`" \
        in errors[0]


# -- R-Series ---------------------------------------------------------------------------------

R_SOURCE = "lightspeed-retail:currency=USD,timezone=America/New_York"


@pytest.fixture(scope="module")
def r_rules():
    return load_rules(FIXTURES / "lightspeed-retail-docs.rules")


def test_r_docs_sale_books_to_its_stated_figures(r_rules):
    path = FIXTURES / "lightspeed-retail-docs.json"
    result = book_one(r_rules, path, R_SOURCE, "3064")
    # calcSubtotal 7.56 + calcTax1 0.51 = calcTotal 8.07 = calcPayments
    assert journal_figures(result, r_rules) == (D("8.07"), D("0.51"), D("7.56"), D("8.07"))


def test_r_the_sales_own_tax_category_decides_tax_inclusion(r_rules):
    path = FIXTURES / "lightspeed-retail-docs.json"
    records = read_receipts(str(path), r_rules, R_SOURCE)
    by_id = {item["id"]: item for item in records.items}
    assert by_id["3064"]["prices_include_vat"] is False  # a US sales tax category says nothing: exclusive
    assert by_id["3065"]["prices_include_vat"] is True  # its TaxCategory isTaxInclusive "true"
    result = book_one(r_rules, path, R_SOURCE, "3065")
    # 12.10 incl. 2.10 VAT, and a tip of 0.50 on top (calcTips), paid 12.60 by card
    assert journal_figures(result, r_rules) == (D("12.60"), D("2.10"), D("10.50"), D("12.60"))


def test_r_a_sale_fetched_without_its_relations_says_so(r_rules):
    result = book(r_rules, read_receipts(str(FIXTURES / "lightspeed-retail-docs.json"), r_rules, R_SOURCE))
    (error,) = result.errors
    assert error.receipt == "3066" and error.message.startswith(
        'Lightspeed Retail sale 3066: the sale has no SaleLines and no SalePayments: fetch it with '
        'load_relations=["SaleLines", "SalePayments", "SalePayments.PaymentType"]; its lines add up to 0')


def test_r_tips_must_add_up_to_calc_tips_and_cash_rounding_has_a_sign(r_rules):
    doc = json.loads((FIXTURES / "lightspeed-retail-docs.json").read_text())
    eu = doc["Sale"][1]
    eu["calcTips"] = "1.00"
    assert "its payments carry tips of 0.50 but the sale's calcTips is 1.00" in \
        _convert({"Sale": [eu]}, r_rules, "lightspeed_retail").errors[0]
    us = doc["Sale"][0]
    us["SalePayments"]["SalePayment"]["amount"] = "8.10"  # 8.07 paid with 8.10: rounding −0.03
    us["cashRoundingDelta"] = "-0.03"  # the wrong way round
    assert "its payments 8.10 do not match its total 8.07 with cash rounding -0.03" in \
        _convert({"Sale": [us]}, r_rules, "lightspeed_retail").errors[0]
    us["cashRoundingDelta"] = "0.03"
    records = _convert({"Sale": [us]}, r_rules, "lightspeed_retail")
    assert not records.errors and records.items[0]["cash_rounding"] == "-0.03"
