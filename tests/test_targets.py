"""Payload targets: every target renders the bundled bakery day, and its output passes the
strictest validator there is for it — the package's own schema, or the open format's own tool."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from tillpost.api import book, load_rules, read_receipts
from tillpost.targets import check_target_settings, render, targets
from tillpost.targets.checks import check_xaf

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "src" / "tillpost" / "rules" / "examples"
# The packages' own schemas, vendored with their source and licence (tests/schemas/README.md).
SCHEMAS = Path(__file__).resolve().parent / "schemas"
REQUIRE_TOOLS = bool(os.environ.get("TILLPOST_REQUIRE_TOOLS"))
HOW_TO_INSTALL = {
    "hledger": "apt-get install hledger (Debian, Ubuntu), brew install hledger, or https://hledger.org/install.html",
}


def need_tool(name: str) -> str:
    """A command-line tool a test validates with: CI (TILLPOST_REQUIRE_TOOLS=1) fails without it,
    a developer's run skips, saying how to install it."""
    path = shutil.which(name)
    if path is None:
        if REQUIRE_TOOLS:
            pytest.fail(f"{name} is required (TILLPOST_REQUIRE_TOOLS is set) but not installed")
        pytest.skip(f"{name} is not installed; install it to run this test: {HOW_TO_INSTALL.get(name, name)}")
    return path


def schema_path(*parts: str) -> Path:
    path = SCHEMAS.joinpath(*parts)
    if not path.exists():  # vendored in the repository: never a reason to skip
        pytest.fail(f"schema {path} is missing from the repository (tests/schemas/README.md)")
    return path


# -- validators: each raises AssertionError with the validator's own words ----------------


@cache
def _xsd(path: Path):
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(path)))


def validate_xsd(text: str, *schema: str):
    from lxml import etree

    xsd = _xsd(schema_path(*schema))
    doc = etree.fromstring(text.encode("utf-8"))
    assert xsd.validate(doc), "\n".join(str(e) for e in xsd.error_log)
    return doc


SNELSTART_MODELS = {
    "verkoopboekingen": "SnelStart.B2B.Api.V2.Models.VerkoopBoekingen.VerkoopBoekingModel",
    "kasboekingen": "SnelStart.B2B.Api.V2.Models.Kasboekingen.KasboekingModel",
    "memoriaalboekingen": "SnelStart.B2B.Api.V2.Models.Bankboekingen.MemoriaalboekingModel",
}


@cache
def _openapi(path: Path):
    import yaml
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Registry().with_resource("urn:spec", Resource.from_contents(spec, default_specification=DRAFT4))


def openapi_errors(instance, schema: str, *spec: str) -> list[str]:
    """Errors of `instance` against components/schemas/`schema` of an OpenAPI 3.0 document (formats checked)."""
    from openapi_schema_validator import OAS30Validator

    registry = _openapi(schema_path(*spec))
    validator = OAS30Validator({"$ref": f"urn:spec#/components/schemas/{schema}"}, registry=registry,
                               format_checker=OAS30Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def validate_snelstart(text: str) -> dict:
    import json

    doc = json.loads(text, parse_float=Decimal)
    assert set(doc) == set(SNELSTART_MODELS)
    plain = json.loads(text)  # the validator wants JSON numbers as numbers
    for key, model in SNELSTART_MODELS.items():
        for item in plain[key]:
            errors = openapi_errors(item, model, "snelstart", "snelstart-b2b-api-v2.yaml")
            assert not errors, f"{key}: {errors}"
    return doc


def validate_ubl_totals(text: str) -> None:
    """The EN 16931 sums (BR-CO-10, -13, -15, BR-S-08) in Decimal: the schematron's arithmetic."""
    from lxml import etree

    ns = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
          "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
    doc = etree.fromstring(text.encode("utf-8"))

    def total(path: str) -> Decimal:
        return sum((Decimal(v) for v in doc.xpath(f"({path})/text()", namespaces=ns)), Decimal(0))

    lines = total("cac:InvoiceLine/cbc:LineExtensionAmount | cac:CreditNoteLine/cbc:LineExtensionAmount")
    assert total("cac:LegalMonetaryTotal/cbc:LineExtensionAmount") == lines
    assert total("cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount") == lines
    tax = total("cac:TaxTotal/cbc:TaxAmount")
    assert tax == total("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount")
    assert total("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount") == lines + tax
    assert total("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount") == lines
    for sub in doc.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=ns):
        rate = Decimal(sub.findtext("cac:TaxCategory/cbc:Percent", namespaces=ns))
        taxable = Decimal(sub.findtext("cbc:TaxableAmount", namespaces=ns))
        # the VAT of a receipt is computed on its gross, so it may differ from taxable × rate by a cent a line
        assert abs(Decimal(sub.findtext("cbc:TaxAmount", namespaces=ns)) - taxable * rate / 100) <= Decimal("0.05")


TARGETS = ROOT / "src" / "tillpost" / "targets"


def validate_twinfield(text: str):
    """Our XSD (Twinfield publishes none), then the balance Twinfield checks: debit = credit with the
    detail lines' VAT counted on their own side."""
    from lxml import etree

    xsd = _xsd(TARGETS / "twinfield" / "transactions.xsd")
    doc = etree.fromstring(text.encode("utf-8"))
    assert xsd.validate(doc), "\n".join(str(e) for e in xsd.error_log)
    for tr in doc.iter("transaction"):
        net = Decimal(0)
        for line in tr.iter("line"):
            sign = 1 if line.findtext("debitcredit") == "debit" else -1
            net += sign * (Decimal(line.findtext("value")) + Decimal(line.findtext("vatvalue") or 0))
        assert net == 0, f"transaction {tr.findtext('header/freetext1')} is off by {net}"
        assert len(tr.findall("lines/line[@type='total']")) <= 1
    return doc


def validate_moneybird(text: str) -> dict:
    """Our JSON Schema (Moneybird publishes none), then the balance of every journal document."""
    import json

    import jsonschema

    schema = json.loads((TARGETS / "moneybird" / "schema.json").read_text(encoding="utf-8"))
    doc = json.loads(text)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors, errors
    for item in doc["general_journal_documents"]:
        lines = item["general_journal_document"]["general_journal_document_entries_attributes"]
        assert sum(Decimal(l["debit"]) - Decimal(l["credit"]) for l in lines) == 0
    return doc


def validate_exact_online_rest(text: str) -> list:
    """Our JSON Schema (Exact publishes none for REST), amounts with two decimals, and every
    general journal entry in balance."""
    import json

    import jsonschema

    schema = json.loads((TARGETS / "exact-online-rest" / "schema.json").read_text(encoding="utf-8"))
    doc = json.loads(text)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors, errors
    exact = json.loads(text, parse_float=Decimal)
    for request in exact:
        body = request["body"]
        lines = body.get("SalesEntryLines") or body.get("CashEntryLines") or body["GeneralJournalEntryLines"]
        for line in lines:
            for key in ("AmountFC", "VATAmountFC"):
                if key in line:
                    assert Decimal(line[key]).as_tuple().exponent >= -2, line
        if "GeneralJournalEntryLines" in body:
            assert sum(Decimal(l["AmountFC"]) for l in lines) == 0
    return exact


def validate_hledger(text: str, tmp_path: Path) -> None:
    exe = need_tool("hledger")
    path = tmp_path / "out.journal"
    path.write_text(text, encoding="utf-8")
    # --strict: every account and commodity declared; ordereddates: entries in date order.
    run = subprocess.run([exe, "check", "--strict", "ordereddates", "-f", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    bal = subprocess.run([exe, "balance", "-f", str(path), "--flat", "-N", "-O", "csv"], capture_output=True, text=True)
    assert bal.returncode == 0, bal.stderr


def validate_beancount(text: str, tmp_path: Path) -> None:
    from beancount import loader

    _, errors, _ = loader.load_string(text)
    assert not errors, "\n".join(str(e.message) for e in errors)
    exe = shutil.which("bean-check") or str(Path(os.sys.executable).parent / "bean-check")
    if Path(exe).exists():
        path = tmp_path / "out.beancount"
        path.write_text(text, encoding="utf-8")
        run = subprocess.run([exe, str(path)], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr


def validate_csv(text: str, decimal: str = "point") -> list[dict]:
    assert text.startswith("\ufeff")
    sep = ";" if decimal == "comma" else ","
    rows = list(csv.DictReader(io.StringIO(text[1:], newline=""), delimiter=sep, strict=True))
    totals: dict[tuple, Decimal] = {}
    for row in rows:
        assert None not in row and None not in row.values(), f"ragged row {row}"
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@")), f"formula cell {cell!r}"
        debit, credit = (Decimal(row[k].replace(",", ".")) for k in ("debit", "credit"))
        key = (row["journal"], row["entry"], row["mode"])
        totals[key] = totals.get(key, Decimal(0)) + debit - credit
    assert all(v == 0 for v in totals.values()), totals
    return rows


def validate(target: str, text: str, tmp_path: Path, settings: dict | None = None) -> None:
    """Validate one document of `target` with the strictest validator for it."""
    if target == "hledger":
        validate_hledger(text, tmp_path)
    elif target == "beancount":
        validate_beancount(text, tmp_path)
    elif target == "csv":
        validate_csv(text, (settings or {}).get("decimal", "point"))
    elif target == "exact-globe":
        validate_xsd(text, "exact-globe", "eExact-Schema.xsd")
    elif target == "exact-online":
        validate_xsd(text, "exact-online-xml", "eExact-XML.xsd")
    elif target == "ubl":
        kind = "CreditNote" if "<CreditNote " in text[:300] else "Invoice"
        validate_xsd(text, "ubl21", "xsdrt", "maindoc", f"UBL-{kind}-2.1.xsd")
        validate_ubl_totals(text)
    elif target == "snelstart":
        validate_snelstart(text)
    elif target == "twinfield":
        validate_twinfield(text)
    elif target == "moneybird":
        validate_moneybird(text)
    elif target == "exact-online-rest":
        validate_exact_online_rest(text)
    elif target == "xaf":
        validate_xsd(text, "xaf32", "XmlAuditfileFinancieel3.2.xsd")
        assert check_xaf(text) == []
    else:
        raise AssertionError(f"no validator for target {target}")


# -- the bundled example -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    """Payloads that state their creation date (XAF) state 2026-11-21 in the tests."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795219200")


@pytest.fixture(scope="module")
def rules():
    return load_rules(EXAMPLES / "bakery-targets.rules")


# Targets that need the package's own ids of accounts, journals and customers have their own example.
EXAMPLE_RULES = {"snelstart": "bakery-snelstart.rules", "moneybird": "bakery-moneybird.rules",
                 "exact-online-rest": "bakery-exact-online-rest.rules"}


@cache
def example_rules(target: str):
    return load_rules(EXAMPLES / EXAMPLE_RULES.get(target, "bakery-targets.rules"))


@pytest.fixture(scope="module")
def day(rules):
    # keep_bookings: the UBL invoices name the customer as the receipt does
    return book(rules, read_receipts(str(EXAMPLES / "bakery-day.json"), rules), keep_bookings=True)


ALL = sorted(targets())


@pytest.mark.parametrize("example", sorted({"bakery-targets.rules", *EXAMPLE_RULES.values()}))
def test_example_rules_have_valid_target_settings(example):
    diagnostics = check_target_settings(load_rules(EXAMPLES / example))
    assert not diagnostics.items, diagnostics.format()


@pytest.mark.parametrize("name", ALL)
def test_target_renders_the_bakery_day_and_validates(name, day, tmp_path, snapshot):
    rules = example_rules(name)
    rendering = render(day, rules, name)
    assert rendering.errors == []
    assert rendering.documents
    for doc in rendering.documents:
        validate(name, doc.text, tmp_path, rules.targets.get(name))
    assert {d.name: d.text for d in rendering.documents} == snapshot


def test_canonical_dict_renders_like_the_book_result(rules, day):
    from tillpost.api import canonical

    assert render(canonical(day, rules), rules, "hledger").text == render(day, rules, "hledger").text


def test_hledger_balances_match_the_entries(rules, day, tmp_path):
    exe = need_tool("hledger")
    path = tmp_path / "day.journal"
    path.write_text(render(day, rules, "hledger").text, encoding="utf-8")
    run = subprocess.run([exe, "balance", "-f", str(path), "--flat", "-N", "^8000"], capture_output=True, text=True)
    # Omzet brood: 5.96 turnover + 29.82 on Jansen Catering's invoice, both credit.
    assert "-35.78 EUR" in run.stdout


def test_csv_decimal_comma_and_point(rules, day):
    comma = validate_csv(render(day, rules, "csv").text, "comma")
    point = validate_csv(render(day, rules, "csv", {"decimal": "point"}).text, "point")
    assert len(comma) == len(point) == sum(len(e.lines) for e in day.entries)
    # the day's first line: cash, net out of the drawer (deposit, payout and shortage exceed the takings)
    assert comma[0]["credit"] == "96,45" and point[0]["credit"] == "96.45"


def test_exact_globe_journal_types(rules, day):
    doc = validate_xsd(render(day, rules, "exact-globe").text, "exact-globe", "eExact-Schema.xsd")
    types = {j.get("code"): j.get("type") for j in doc.iter("Journal")}
    assert types == {"KAS": "K", "MEM": "M", "VRK": "V"}


def test_exact_globe_manual_example(tmp_path):
    """The Exact Globe manual's sale: KAS 1000/1300 25, VRK 1300 25 / 1520 5 / 8090 20, MEM 7000/3000 18."""
    rules = load_rules(EXAMPLES / "exact-globe.rules")
    result = book(rules, read_receipts(str(EXAMPLES / "exact-globe.json"), rules))
    doc = validate_xsd(render(result, rules, "exact-globe").text, "exact-globe", "eExact-Schema.xsd")
    lines = [(e.find("Journal").get("code"), l.find("GLAccount").get("code"), l.findtext("Amount/Debit"),
              l.findtext("Amount/Credit")) for e in doc.iter("GLEntry") for l in e.iter("FinEntryLine")]
    assert lines == [
        ("KAS", "1000", "25.00", "0.00"), ("KAS", "1300", "0.00", "25.00"),
        ("MEM", "3000", "0.00", "18.00"), ("MEM", "7000", "18.00", "0.00"),
        ("VRK", "1300", "25.00", "0.00"), ("VRK", "1520", "0.00", "5.00"), ("VRK", "8090", "0.00", "20.00"),
    ]


# -- settings and what a target cannot express --------------------------------------------


def variant(tmp_path: Path, example: str, old: str, new: str) -> Path:
    """An example rule file with one change, written to tmp_path."""
    text = (EXAMPLES / example).read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / f"variant-{example}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def book_the_day(rules):
    return book(rules, read_receipts(str(EXAMPLES / "bakery-day.json"), rules))


def refund_receipt(customer: str) -> dict:
    """A returned loaf, invoiced to a customer: booked individually, rendered as a credit note."""
    return {"id": "AMS01-K2-5003", "number": "5003", "source": "lightspeed-retail", "store": "AMS01",
            "register": "K2", "date": "2026-11-21", "status": "completed", "currency": "EUR",
            "prices_include_vat": True, "customer": {"id": "C9", "debtor": "20001", "name": customer},
            "lines": [{"description": "Retour", "quantity": "-1", "unit_price": "6.50", "vat": "low"}],
            "payments": [{"method": "invoice", "amount": "-6.50"}]}


def _compile(tmp_path: Path, extra: str):
    from tillpost.api import compile_file

    path = tmp_path / "client.rules"
    path.write_text((EXAMPLES / "bakery.rules").read_text(encoding="utf-8") + extra, encoding="utf-8")
    return compile_file(str(path))


def test_unknown_target_and_setting_are_diagnostics_with_positions(tmp_path):
    ruleset, _ = _compile(tmp_path, '\ntarget exact-glob division "1"\ntarget csv decimals comma\n'
                                    'target csv decimal "dot"\n')
    messages = [(d.pos.line, d.message) for d in check_target_settings(ruleset).items]
    n = len((EXAMPLES / "bakery.rules").read_text().splitlines())
    assert messages[0][0] == n + 2 and "unknown target 'exact-glob'" in messages[0][1]
    assert messages[1][0] == n + 3 and "has no setting 'decimals'" in messages[1][1]
    assert messages[2][0] == n + 4 and "one of point, comma, not 'dot'" in messages[2][1]
    assert "^" in check_target_settings(ruleset).format()


def test_vat_without_code_is_an_error_naming_entry_and_target(tmp_path):
    from tillpost.api import compile_text

    rules = load_rules(variant(tmp_path, "bakery.rules", ' code "VL"', ""))
    rendering = render(book_the_day(rules), rules, "exact-globe")
    assert rendering.errors
    assert rendering.errors[0].startswith("target exact-globe: entry VRK 2026-11-20/AMS01 (Dagomzet 2026-11-20 AMS01)")
    assert "VAT low has no code" in rendering.errors[0]
    # what it can express is still rendered, and valid
    validate_xsd(rendering.text, "exact-globe", "eExact-Schema.xsd")
    assert compile_text  # the API exports it


# -- the command line ---------------------------------------------------------------------


def run_cli(*args: str):
    from click.testing import CliRunner

    from tillpost.cli import cli, main  # noqa: F401  (main registers the commands)
    from tillpost.cli import booking, targets as _targets  # noqa: F401

    return CliRunner().invoke(cli, list(args))


def test_targets_command_lists_every_target():
    result = run_cli("targets", "--settings")
    assert result.exit_code == 0
    for name in ALL:
        assert any(line.startswith(name + " ") for line in result.output.splitlines())
    assert 'target csv decimal "…"' in result.output


def test_book_with_target_to_stdout_and_file(tmp_path):
    rules, day = str(EXAMPLES / "bakery-targets.rules"), str(EXAMPLES / "bakery-day.json")
    out = run_cli("book", rules, day, "--target", "hledger")
    assert out.exit_code == 0, out.output
    assert "2026-11-20 * (KAS) Dagomzet 2026-11-20 AMS01" in out.output
    path = tmp_path / "day.xml"
    out = run_cli("book", rules, day, "--target", "exact-globe", "-o", str(path))
    assert out.exit_code == 0, out.output
    validate_xsd(path.read_text(encoding="utf-8"), "exact-globe", "eExact-Schema.xsd")


def test_book_with_unknown_target_exits_2():
    out = run_cli("book", str(EXAMPLES / "bakery.rules"), str(EXAMPLES / "bakery-day.json"), "--target", "exakt")
    assert out.exit_code == 2
    assert "unknown target 'exakt'" in out.output


def test_exact_online_sales_lines_carry_vat_type_and_code(rules, day):
    doc = validate_xsd(render(day, rules, "exact-online").text, "exact-online-xml", "eExact-XML.xsd")
    sales = [t for t in doc.iter("GLTransaction") if t.find("Journal").get("type") == "20"]
    assert [t.find("Account").get("code") for t in sales] == ["BALIE", "BALIE", "20001", "20017"]
    invoice = sales[2]
    lines = {l.find("GLAccount").get("code"): (l.findtext("VATType"),
             l.find("Amount/VAT").get("code") if l.find("Amount/VAT") is not None else None)
             for l in invoice.iter("GLTransactionLine")}
    assert lines == {"1300": (None, None), "1520": ("A", "VH"), "1521": ("A", "VL"), "8000": ("V", "VL"),
                     "8090": ("V", "VH")}
    assert {l.get("type") for l in invoice.iter("GLTransactionLine")} == {"20"}


def test_xaf_checks_catch_what_the_xsd_does_not(rules, day):
    text = render(day, rules, "xaf").text
    broken = text.replace("<accID>8000</accID>", "<accID>8001</accID>", 1).replace(
        "<custSupID>BALIE</custSupID>", "<custSupID>BALIE2</custSupID>", 1)
    broken = broken.replace("<linesCount>33</linesCount>", "<linesCount>34</linesCount>")
    validate_xsd(broken, "xaf32", "XmlAuditfileFinancieel3.2.xsd")  # the XSD lets it through
    problems = check_xaf(broken)
    assert any("account 8000 is not declared" in p for p in problems)
    assert any("customer BALIE is not declared" in p for p in problems)
    assert "linesCount 34 but 33 lines" in problems


def test_snelstart_sales_booking_and_missing_ids(day, tmp_path):
    rules = example_rules("snelstart")
    doc = validate_snelstart(render(day, rules, "snelstart").text)
    invoice = doc["verkoopboekingen"][2]
    assert invoice["factuurnummer"] == "AMS01-K2-5001" and invoice["factuurbedrag"] == Decimal("46.50")
    assert sum(r["bedrag"] for r in invoice["boekingsregels"]) + sum(b["btwBedrag"] for b in invoice["btw"]) \
        == invoice["factuurbedrag"]
    assert {b["btwSoort"] for b in invoice["btw"]} == {"VerkopenHoog", "VerkopenLaag"}
    # without ids the entries are errors that say which ids they lack; the settings to add are one list
    rendering = render(day, load_rules(EXAMPLES / "bakery-targets.rules"), "snelstart")
    assert len(rendering.errors) == len(day.entries)
    assert ("no snelstart id for journal KAS, account 1000, account 1110, account 1300, debtor BALIE, account 4310, "
            "account 4990, account 8990") in rendering.errors[0]
    assert 'target snelstart grootboek-1000 "…"' in rendering.missing
    assert sorted(set(rendering.missing)) == rendering.missing  # each once
    validate_snelstart(rendering.text)  # an empty document is still a valid one


def test_ubl_one_invoice_per_individual_receipt_and_credit_note_for_refund(rules, day, tmp_path):
    rendering = render(day, rules, "ubl")
    assert [d.name for d in rendering.documents] == ["AMS01-K2-5001.xml", "AMS01-K2-5002.xml"]
    assert "<cbc:Name>Jansen Catering</cbc:Name>" in rendering.documents[0].text
    result = book(rules, [refund_receipt("Jansen & Zn <BV>")], keep_bookings=True)
    assert not result.errors, result.errors
    (doc,) = render(result, rules, "ubl").documents
    assert doc.text.splitlines()[1].startswith("<CreditNote ")
    validate("ubl", doc.text, tmp_path)
    assert "<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>" in doc.text
    assert "<cbc:Name>Jansen &amp; Zn &lt;BV&gt;</cbc:Name>" in doc.text
    assert '<cbc:PayableAmount currencyID="EUR">6.50</cbc:PayableAmount>' in doc.text


def test_ubl_needs_the_seller_settings(day):
    import pytest as _pytest

    from tillpost.targets import TargetError

    with _pytest.raises(TargetError) as raised:
        render(day, load_rules(EXAMPLES / "bakery.rules"), "ubl")
    # every missing setting at once, as lines to paste into the rule file
    message = str(raised.value)
    assert message.startswith("target 'ubl' needs 6 settings the rule file does not give; add:\n")
    for setting in ("kvk", "vat-number", "street", "postcode", "city", "iban"):
        assert f'\n  target ubl {setting} "…"' in message


def test_book_with_per_invoice_target_writes_a_folder(tmp_path):
    rules, day = str(EXAMPLES / "bakery-targets.rules"), str(EXAMPLES / "bakery-day.json")
    out = run_cli("book", rules, day, "--target", "ubl")
    assert out.exit_code == 2 and "give a folder with -o" in out.output
    out = run_cli("book", rules, day, "--target", "ubl", "-o", str(tmp_path / "invoices"))
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in (tmp_path / "invoices").iterdir()) == ["AMS01-K2-5001.xml", "AMS01-K2-5002.xml"]


def test_twinfield_sales_invoice_has_a_total_line_and_vat_on_detail_lines(rules, day):
    doc = validate_twinfield(render(day, rules, "twinfield").text)
    invoice = [t for t in doc.iter("transaction") if t.findtext("header/invoicenumber") == "AMS01-K2-5001"][0]
    total = invoice.find("lines/line[@type='total']")
    assert (total.findtext("dim1"), total.findtext("dim2"), total.findtext("value")) == ("1300", "20001", "46.50")
    details = [(l.findtext("dim1"), l.findtext("value"), l.findtext("vatcode"), l.findtext("vatvalue"))
               for l in invoice.iter("line") if l.get("type") == "detail"]
    assert details == [("8000", "29.82", "VL", "2.68"), ("8090", "11.57", "VH", "2.43")]


def test_moneybird_invoice_prices_keep_the_receipt_total(day, tmp_path):
    rules = example_rules("moneybird")
    doc = validate_moneybird(render(day, rules, "moneybird").text)
    invoice = doc["external_sales_invoices"][2]["external_sales_invoice"]
    assert invoice["reference"] == "AMS01-K2-5001"
    assert sum(Decimal(d["price"]) for d in invoice["details_attributes"]) == Decimal("46.50")
    # a VAT name without its Moneybird tax rate id: the invoices using it are errors naming the setting
    text = (EXAMPLES / "bakery-moneybird.rules").read_text(encoding="utf-8")
    path = tmp_path / "no-low.rules"
    path.write_text("\n".join(l for l in text.splitlines() if "taxrate-low" not in l), encoding="utf-8")
    rendering = render(day, load_rules(path), "moneybird")
    assert len(rendering.errors) == 4
    assert all(e.endswith("no moneybird id for VAT low") for e in rendering.errors)
    assert rendering.missing == ['target moneybird taxrate-low "…"']


def test_exact_online_rest_sales_entry_keeps_the_receipt_vat(day):
    requests = validate_exact_online_rest(render(day, example_rules("exact-online-rest"), "exact-online-rest").text)
    assert [r["path"].rsplit("/", 1)[1] for r in requests] == [
        "CashEntries", "GeneralJournalEntries", "GeneralJournalEntries", "GeneralJournalEntries",
        "SalesEntries", "SalesEntries", "SalesEntries", "SalesEntries"]
    invoice = requests[6]["body"]
    assert invoice["YourRef"] == "AMS01-K2-5001"
    lines = invoice["SalesEntryLines"]
    assert sum(l["AmountFC"] + l["VATAmountFC"] for l in lines) == Decimal("46.50")
    assert [(l["VATCode"], l["VATAmountFC"]) for l in lines] == [("VL", Decimal("2.68")), ("VH", Decimal("2.43"))]
    # cash entry: what came in on the offset accounts — to the bank (kruisposten), debtor BALIE, the window
    # cleaner, the counted shortage, rounding — never the cash account itself, so that Exact's opening
    # balance + the lines is the closing balance of the cash account: here 96.45 less than it opened with
    cash = requests[0]["body"]["CashEntryLines"]
    assert [l["AmountFC"] for l in cash] == [Decimal("-100.00"), Decimal("24.03"), Decimal("-18.50"), Decimal("-2.00"),
                                              Decimal("0.02")]
    kas = next(l for e in day.entries if e.journal == "KAS" for l in e.lines if l.account == "1000")
    assert sum(l["AmountFC"] for l in cash) == kas.debit - kas.credit == Decimal("-96.45")


def test_debtor_line_for_a_target_without_debtors_is_an_error_naming_entry_and_target(rules, day):
    import dataclasses

    from tillpost.targets import get_target

    no_debtors = dataclasses.replace(get_target("hledger"), debtors=False)
    rendering = render(day, rules, no_debtors)
    # the debtor-free MEM entry of receipt 5001 is rendered, every entry with a debtor line is not
    assert len(rendering.errors) == len(day.entries) - 1
    assert rendering.errors[0] == ("target hledger: entry KAS 2026-11-20/AMS01 (Dagomzet 2026-11-20 AMS01): "
                                   "it has a debtor line and this target books no debtors")
    assert "Bon 5001 Jansen Catering" in rendering.text


def test_book_with_target_reports_entries_it_cannot_express_and_exits_1(tmp_path):
    path = variant(tmp_path, "bakery-targets.rules", ' code "VL"', "")
    out = run_cli("book", str(path), str(EXAMPLES / "bakery-day.json"), "--target", "exact-globe",
                  "-o", str(tmp_path / "day.xml"))
    assert out.exit_code == 1
    assert "error: target exact-globe: entry VRK 2026-11-20/AMS01" in out.output
    validate_xsd((tmp_path / "day.xml").read_text(encoding="utf-8"), "exact-globe", "eExact-Schema.xsd")


def test_python_api_renders_a_target(rules, day):
    from tillpost.api import render_target

    rendering = render_target(day, rules, "csv", {"decimal": "point"})
    assert rendering.errors == [] and rendering.text == render(day, rules, "csv", {"decimal": "point"}).text


def test_long_debtor_codes_stay_distinct_customers_in_the_audit_file(rules, day):
    from tillpost.api import canonical

    journal = canonical(day, rules)
    long_codes = iter(["K" * 40 + "1", "K" * 40 + "2"])
    for entry in journal["entries"]:
        if entry["mode"] == "individual" and entry["journal"] == "VRK":
            code = next(long_codes)
            for line in entry["lines"]:
                if line["debtor"]:
                    line["debtor"] = code
    text = render(journal, rules, "xaf").text
    validate_xsd(text, "xaf32", "XmlAuditfileFinancieel3.2.xsd")
    assert check_xaf(text) == []
    assert text.count("<custSupTp>C</custSupTp>") == 3  # BALIE and the two long codes


def test_missing_required_setting_and_bad_id_are_diagnostics(tmp_path):
    ruleset, _ = _compile(tmp_path, '\ntarget ubl city "Amsterdam"\ntarget snelstart grootboek-8000 "not-a-uuid"\n')
    messages = [d.message for d in check_target_settings(ruleset).items]
    assert any("target 'ubl' needs setting 'kvk'" in m for m in messages)
    assert any("setting 'grootboek-8000' of target 'snelstart': 'not-a-uuid' is not" in m for m in messages)


def test_vat_code_longer_than_the_package_takes_is_an_error(tmp_path):
    rules = load_rules(variant(tmp_path, "bakery-targets.rules", 'code "VH"', 'code "HOOG"'))
    result = book_the_day(rules)
    rendering = render(result, rules, "exact-online")
    assert len(rendering.errors) == 2  # the sales entries of AMS01 and of Jansen Catering
    assert "VAT code HOOG is longer than the 3 characters exact-online takes" in rendering.errors[0]
    assert render(result, rules, "twinfield").errors == []


def test_journal_code_longer_than_exact_globe_takes_is_an_error_not_a_cut(tmp_path):
    rules = load_rules(variant(tmp_path, "bakery-targets.rules", "KAS", "KASSA"))
    rendering = render(book_the_day(rules), rules, "exact-globe")
    assert rendering.errors == ["target exact-globe: entry KASSA 2026-11-20/AMS01 (Dagomzet 2026-11-20 AMS01): "
                                "journal KASSA is longer than the 3 characters exact-globe takes"]


@pytest.mark.parametrize("name", ALL)
def test_an_entry_of_a_till_closing_alone_renders_and_validates(name, tmp_path):
    """The closings of the bakery day without its receipts (they came in another batch): cash entries
    that hold a shortage, a payout and a deposit and no receipt render in every target and validate."""
    import json

    rules = example_rules(name)
    day = [r for r in json.loads((EXAMPLES / "bakery-day.json").read_text(encoding="utf-8"))
           if r.get("type") == "closing"]
    result = book(rules, day, keep_bookings=True)
    assert result.ok and [e.receipts for e in result.entries] == [()]
    rendering = render(result, rules, name)
    assert rendering.errors == []
    for doc in rendering.documents:
        validate(name, doc.text, tmp_path, rules.targets.get(name))
    if name != "ubl":  # UBL renders invoices only
        assert "18.50" in rendering.text or "18,50" in rendering.text  # the window cleaner, paid from the till
