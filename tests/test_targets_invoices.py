"""UBL invoices for real customers: the goods sold, totals that add up exactly, the fixed debtor
named, a partly paid invoice, and customers that lack what the profile requires reported by
`check` and `book` instead of written as an invalid invoice."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from test_targets import (EXAMPLES, book, load_rules, read_receipts, render, run_cli,  # noqa: E402
                          validate, variant)
from test_targets_schematron import CEN, NLCIUS, PEPPOL, failed_rules  # noqa: E402

NS = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
D = Decimal
MANIFEST = yaml.safe_load((EXAMPLES.parents[1] / "targets" / "ubl" / "manifest.yaml").read_text())


@pytest.fixture(scope="module")
def mixed_rules(tmp_path_factory):
    """The bakery with invoices that take a PIN deposit with them."""
    return load_rules(variant(tmp_path_factory.mktemp("rules"), "bakery-targets.rules",
                              "method invoice   individual", "method invoice   individual with pin"))


def receipt(rid, payments, customer=None, lines=None):
    r = {"id": rid, "number": rid[-4:], "source": "lightspeed-retail", "store": "AMS01", "register": "K2",
         "date": "2026-11-21", "status": "completed", "currency": "EUR", "prices_include_vat": True,
         "lines": lines or [{"sku": "TA-01", "description": "Taart & <gebak>", "category": "banket",
                             "quantity": "3", "unit_price": "18.95", "vat": "low"},
                            {"sku": "KO-01", "description": "Koffie", "quantity": "4", "unit_price": "2.80",
                             "vat": "high"}],
         "payments": [{"method": m, "amount": a} for m, a in payments]}
    if customer:
        r["customer"] = customer
    return r


JANSEN = {"id": "C123", "debtor": "20001", "name": "Jansen Catering"}
PRIVATE = {"id": "C900", "debtor": "30900", "name": "Piet Particulier"}


def rendered(rules, receipts, profile="nlcius"):
    result = book(rules, receipts, keep_bookings=True)
    assert not result.errors, result.errors
    rendering = render(result, rules, "ubl", {"profile": profile})
    assert not rendering.errors, rendering.errors
    return [doc.text for doc in rendering.documents]


def values(text, path):
    return [e.text for e in etree.fromstring(text.encode()).xpath(path, namespaces=NS)]


def test_invoice_lines_are_the_goods_sold(mixed_rules):
    (text,) = rendered(mixed_rules, [receipt("AMS01-K2-6001", [("invoice", "68.05")], JANSEN)])
    assert values(text, "//cac:InvoiceLine/cac:Item/cbc:Name") == ["Taart & <gebak>", "Koffie"]
    assert values(text, "//cac:InvoiceLine/cbc:InvoicedQuantity") == ["3", "4"]
    # 3 × 18.95 = 56.85 incl. 9%: 52.16 net; 4 × 2.80 = 11.20 incl. 21%: 9.26 net
    assert values(text, "//cac:InvoiceLine/cbc:LineExtensionAmount") == ["52.16", "9.26"]
    assert values(text, "//cac:InvoiceLine/cac:Price/cbc:PriceAmount") == ["17.387", "2.315"]
    assert values(text, "//cac:InvoiceLine/cac:Item/cac:SellersItemIdentification/cbc:ID") == ["TA-01", "KO-01"]
    assert values(text, "//cac:TaxSubtotal/cbc:TaxableAmount") == ["52.16", "9.26"]
    assert values(text, "//cac:TaxSubtotal/cbc:TaxAmount") == ["4.69", "1.94"]
    assert values(text, "//cac:LegalMonetaryTotal/cbc:PayableAmount") == ["68.05"]
    assert not values(text, "//cac:LegalMonetaryTotal/cbc:PrepaidAmount")


def test_a_partly_paid_invoice_states_the_deposit_and_passes_every_validator(mixed_rules, tmp_path):
    """A deposit of 20.00 by PIN: the invoice is for 68.05, of which 48.05 is still to pay."""
    for profile, schematron in (("nlcius", NLCIUS), ("peppol", PEPPOL)):
        (text,) = rendered(mixed_rules, [receipt("AMS01-K2-6002", [("pin", "20.00"), ("invoice", "48.05")], JANSEN)],
                           profile)
        assert values(text, "//cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount") == ["68.05"]
        assert values(text, "//cac:LegalMonetaryTotal/cbc:PrepaidAmount") == ["20.00"]
        assert values(text, "//cac:LegalMonetaryTotal/cbc:PayableAmount") == ["48.05"]
        validate("ubl", text, tmp_path)
        assert failed_rules(text, *CEN) == {}
        assert failed_rules(text, *schematron) == {}


def test_a_partly_refunded_invoice_is_a_credit_note_that_passes(mixed_rules, tmp_path):
    lines = [{"description": "Retour taart", "quantity": "-1", "unit_price": "18.95", "vat": "low"}]
    (text,) = rendered(mixed_rules, [receipt("AMS01-K2-6003", [("pin", "-5.00"), ("invoice", "-13.95")], JANSEN,
                                             lines)])
    assert text.splitlines()[1].startswith("<CreditNote ")
    assert values(text, "//cac:CreditNoteLine/cbc:CreditedQuantity") == ["1"]
    assert values(text, "//cac:LegalMonetaryTotal/cbc:PrepaidAmount") == ["5.00"]
    assert values(text, "//cac:LegalMonetaryTotal/cbc:PayableAmount") == ["13.95"]
    validate("ubl", text, tmp_path)
    assert failed_rules(text, *CEN) == {}
    assert failed_rules(text, *NLCIUS) == {}


def test_a_fixed_debtors_invoice_names_that_debtor_not_the_private_customer(mixed_rules, tmp_path):
    (text,) = rendered(mixed_rules, [receipt("AMS01-K2-6004", [("deliveroo", "68.05")], PRIVATE)])
    party = etree.tostring(etree.fromstring(text.encode()).xpath("cac:AccountingCustomerParty", namespaces=NS)[0],
                           encoding="unicode")
    assert "Piet" not in party and "30900" not in party
    assert values(text, "//cac:AccountingCustomerParty//cbc:RegistrationName") == ["Deliveroo Netherlands B.V."]
    assert values(text, "//cac:AccountingCustomerParty//cac:PartyIdentification/cbc:ID") == ["20017"]
    validate("ubl", text, tmp_path)
    for schematron in (CEN, NLCIUS):
        assert failed_rules(text, *schematron) == {}
    (peppol,) = rendered(mixed_rules, [receipt("AMS01-K2-6004", [("deliveroo", "68.05")], PRIVATE)], "peppol")
    assert failed_rules(peppol, *PEPPOL) == {}


# -- totals that add up, whatever the receipt ------------------------------------------------------


@st.composite
def invoiced_receipts(draw):
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        qty = draw(st.sampled_from(["1", "2", "3", "7", "12", "0.5", "1.25", "-1"]))
        price = D(draw(st.integers(1, 50_000))) / 100
        discount = D(draw(st.integers(0, 100))) / 100 if draw(st.booleans()) else D(0)
        lines.append({"description": "x", "quantity": qty, "unit_price": str(price), "discount": str(discount),
                      "vat": draw(st.sampled_from(["low", "high"]))})
    incl = draw(st.booleans())
    r = receipt("AMS01-K2-7001", [], JANSEN, lines)
    r["prices_include_vat"] = incl
    return r


RATES = {"low": D(9), "high": D(21)}


def _total(r) -> Decimal:
    """The receipt's total by SPEC §5: line gross rounded; VAT on the sum per VAT name when excl."""
    from decimal import ROUND_HALF_UP

    nets: dict[str, Decimal] = {}
    for ln in r["lines"]:
        gross = (D(ln["quantity"]) * D(ln["unit_price"]) - D(ln["discount"])).quantize(D("0.01"), ROUND_HALF_UP)
        nets[ln["vat"]] = nets.get(ln["vat"], D(0)) + gross
    total = sum(nets.values(), D(0))
    if not r["prices_include_vat"]:
        total += sum(((n * RATES[v] / 100).quantize(D("0.01"), ROUND_HALF_UP) for v, n in nets.items()), D(0))
    return total


@settings(max_examples=150, deadline=None)
@given(invoiced_receipts(), st.integers(0, 100))
def test_every_invoice_adds_up_exactly_by_the_en16931_rules(mixed_rules, r, deposit_pct):
    total = _total(r)
    if not total:
        return
    deposit = (total * deposit_pct / 100).quantize(D("0.01"))
    r["payments"] = [{"method": "pin", "amount": str(deposit)}, {"method": "invoice", "amount": str(total - deposit)}]
    (text,) = rendered(mixed_rules, [r])
    doc = etree.fromstring(text.encode())
    credit = doc.tag.endswith("CreditNote")
    line_tag = "cac:CreditNoteLine" if credit else "cac:InvoiceLine"

    def dec(path, node=doc):
        return [D(v) for v in node.xpath(path + "/text()", namespaces=NS)]

    nets = {}
    for line in doc.xpath(line_tag, namespaces=NS):
        (q,) = dec("(cbc:InvoicedQuantity|cbc:CreditedQuantity)", line)
        (net,) = dec("cbc:LineExtensionAmount", line)
        (price,) = dec("cac:Price/cbc:PriceAmount", line)
        (rate,) = dec("cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", line)
        assert price >= 0  # BR-27
        assert abs(q * price - net) <= D("0.01")  # PEPPOL-EN16931-R120 allows 0.02
        assert net == net.quantize(D("0.01"))  # BR-DEC-23
        nets[rate] = nets.get(rate, D(0)) + net
    for sub in doc.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=NS):
        (taxable,), (tax,), (rate,) = dec("cbc:TaxableAmount", sub), dec("cbc:TaxAmount", sub), \
            dec("cac:TaxCategory/cbc:Percent", sub)
        assert taxable == nets.pop(rate)  # BR-S-08, exactly
        assert abs(tax - (taxable * rate / 100).quantize(D("0.01"))) < 1  # BR-S-09
    assert not nets
    (lines_total,), (exclusive,), (inclusive,), (payable,) = (
        dec(f"cac:LegalMonetaryTotal/cbc:{n}") for n in ("LineExtensionAmount", "TaxExclusiveAmount",
                                                        "TaxInclusiveAmount", "PayableAmount"))
    prepaid = sum(dec("cac:LegalMonetaryTotal/cbc:PrepaidAmount"), D(0))
    assert lines_total == exclusive == sum(dec(f"{line_tag}/cbc:LineExtensionAmount"), D(0))  # BR-CO-10, -13
    assert inclusive == exclusive + sum(dec("cac:TaxTotal/cbc:TaxAmount"), D(0))  # BR-CO-15
    assert inclusive == abs(total) and payable == inclusive - prepaid  # BR-CO-16
    assert payable == abs(total - deposit)


# -- customers that lack what the profile requires ---------------------------------------------------


def bare_rules(tmp_path, profile="nlcius"):
    """The bakery's UBL settings without any customer details."""
    text = (EXAMPLES / "bakery-targets.rules").read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if "buyer-" not in line)
    text += f'\ntarget ubl profile {profile}\n'
    path = tmp_path / f"bare-{profile}.rules"
    path.write_text(text, encoding="utf-8")
    return path


def test_book_reports_a_customer_without_the_details_the_profile_requires_and_writes_no_invoice(tmp_path):
    path = bare_rules(tmp_path)
    out = run_cli("book", str(path), str(EXAMPLES / "bakery-day.json"), "--target", "ubl", "-o",
                  str(tmp_path / "invoices"))
    assert out.exit_code == 1, out.output
    assert not list((tmp_path / "invoices").iterdir())
    assert ("error: target ubl: entry VRK AMS01-K2-5001 (Bon 5001 Jansen Catering): customer 20001 lacks what "
            "NLCIUS (SI-UBL 2.0) requires of it: street and postcode and city (BR-NL-4), kvk (BR-NL-10); add "
            '`target ubl buyer-street-20001 "…"`, `target ubl buyer-postcode-20001 "…"`, '
            '`target ubl buyer-city-20001 "…"`, `target ubl buyer-kvk-20001 "…"`') in out.output
    peppol = run_cli("book", str(bare_rules(tmp_path, "peppol")), str(EXAMPLES / "bakery-day.json"), "--target",
                     "ubl", "-o", str(tmp_path / "peppol"))
    assert peppol.exit_code == 1
    assert ("customer 20017 lacks what Peppol BIS Billing 3.0 requires of it: endpoint (PEPPOL-EN16931-R010), "
            "street and postcode and city (NL-R-004)") in peppol.output


def test_a_customer_abroad_needs_no_dutch_address(tmp_path):
    path = bare_rules(tmp_path)
    path.write_text(path.read_text() + 'target ubl buyer-country-20001 "BE"\ntarget ubl buyer-country-20017 "DE"\n')
    rules = load_rules(path)
    result = book(rules, read_receipts(str(EXAMPLES / "bakery-day.json"), rules), keep_bookings=True)
    rendering = render(result, rules, "ubl")
    assert not rendering.errors and len(rendering.documents) == 2
    for doc in rendering.documents:
        assert failed_rules(doc.text, *NLCIUS) == {}


def test_check_reports_the_known_customers_that_lack_details(tmp_path):
    path = bare_rules(tmp_path)
    path.write_text(path.read_text() + 'target ubl buyer-street-20001 "Dorpsstraat 12"\n')
    out = run_cli("check", str(path))
    assert out.exit_code == 2
    lines = path.read_text().splitlines()
    deliveroo = next(i for i, l in enumerate(lines, 1) if l.startswith("method deliveroo"))
    street = len(lines)
    assert (f"{path}:{deliveroo}:8: error: target 'ubl': customer 20017 lacks what NLCIUS (SI-UBL 2.0) requires "
            "of it: street and postcode and city (BR-NL-4), kvk (BR-NL-10)") in out.output
    assert (f"{path}:{street}:12: error: target 'ubl': customer 20001 lacks what NLCIUS (SI-UBL 2.0) requires of "
            'it: postcode and city (BR-NL-4), kvk (BR-NL-10); add `target ubl buyer-postcode-20001 "…"`') in out.output
    # the example's settings are complete
    assert run_cli("check", str(EXAMPLES / "bakery-targets.rules")).exit_code == 0


ELEMENTS = {  # the element a buyer-FIELD setting becomes, in the customer party
    "street": "cac:PostalAddress/cbc:StreetName", "postcode": "cac:PostalAddress/cbc:PostalZone",
    "city": "cac:PostalAddress/cbc:CityName", "kvk": "cac:PartyLegalEntity/cbc:CompanyID",
    "endpoint": "cbc:EndpointID",
}


@pytest.mark.parametrize("profile, schematron", [("nlcius", NLCIUS), ("peppol", PEPPOL)])
def test_what_the_manifest_requires_of_a_customer_is_what_the_schematron_rejects_without(profile, schematron):
    """Each demand of `buyer_requires`: the invoice without that element fails exactly that rule."""
    rules = load_rules(EXAMPLES / "bakery-targets.rules")
    result = book(rules, read_receipts(str(EXAMPLES / "bakery-day.json"), rules), keep_bookings=True)
    text = render(result, rules, "ubl", {"profile": profile}).documents[0].text
    assert failed_rules(text, *schematron) == {}
    for demand in MANIFEST["buyer_requires"][profile]:
        doc = etree.fromstring(text.encode())
        (element,) = doc.xpath(f"cac:AccountingCustomerParty/cac:Party/{ELEMENTS[demand['field']]}", namespaces=NS)
        element.getparent().remove(element)
        without = etree.tostring(doc, encoding="unicode")
        assert demand["rule"] in failed_rules(without, *schematron), demand
        assert re.search(r"\bBR-NL-|NL-R-|PEPPOL", demand["rule"])
