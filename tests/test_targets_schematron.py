"""UBL invoices against the business rules: the EN 16931 and Peppol BIS 3 schematron
(tests/schemas/peppol-bis3) and the Dutch NLCIUS / SI-UBL 2.0 rules (nlcius-si-ubl-2.0), run
with Saxon (saxonche).

The ISO schematron skeleton is not on PyPI, so this file carries a small compiler for the subset
these rule files use: namespaces, global and rule variables (`let`), XSLT functions, includes,
abstract patterns with parameters, and patterns of rules with `assert` / `report`. Each pattern
becomes a template mode in which the first matching rule (in document order) fires for a node,
as ISO Schematron prescribes; Saxon then runs the rules as real XPath 2+ (the rules compare
decimals, which an XSLT 1 skeleton would turn into doubles and fail BR-CO-10 on exact totals).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from test_targets import (EXAMPLES, REQUIRE_TOOLS, SCHEMAS, book, load_rules, read_receipts,  # noqa: E402
                          refund_receipt, render)

SCH = "http://purl.oclc.org/dsdl/schematron"
XSL = "http://www.w3.org/1999/XSL/Transform"
S = "{%s}" % SCH


def _include(schema: etree._Element, base: Path) -> etree._Element:
    """Resolve `include`, relative to the including file."""
    for inc in list(schema.iter(S + "include")):
        path = (base / inc.get("href")).resolve()
        included = _include(etree.parse(str(path)).getroot(), path.parent)
        parent = inc.getparent()
        index = parent.index(inc)
        parent.remove(inc)
        if included.tag == S + "schema":  # an included whole schema: take its content
            for i, child in enumerate(list(included)):
                parent.insert(index + i, child)
        else:
            parent.insert(index, included)
    return schema


def _escape(value: str) -> str:
    """A parameter's text for the serialized pattern it is put into."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def _expand(schema: etree._Element, base: Path) -> etree._Element:
    """Resolve includes, then instantiate abstract patterns."""
    schema = _include(schema, base)
    abstract = {p.get("id"): p for p in schema.iter(S + "pattern") if p.get("abstract") == "true"}
    for pattern in list(schema.iter(S + "pattern")):
        if pattern.get("is-a"):
            params = {p.get("name").strip(): p.get("value") for p in pattern.findall(S + "param")}
            template = abstract[pattern.get("is-a")]
            text = etree.tostring(template, encoding="unicode")
            # ISO abstract patterns: every $name in an attribute is replaced by the parameter's text
            for name in sorted(params, key=len, reverse=True):
                text = re.sub(r"\$" + re.escape(name) + r"\b", lambda _m, v=_escape(params[name]): v,
                              text)
            concrete = etree.fromstring(text)
            concrete.attrib.pop("abstract", None)
            concrete.set("id", pattern.get("id") or "")
            pattern.getparent().replace(pattern, concrete)
    for template in abstract.values():
        if template.getparent() is not None:
            template.getparent().remove(template)
    return schema


def _message(assertion: etree._Element, out: etree._Element) -> None:
    if assertion.text:
        etree.SubElement(out, f"{{{XSL}}}text").text = assertion.text
    for child in assertion:
        if child.tag == S + "value-of":
            etree.SubElement(out, f"{{{XSL}}}value-of", select=child.get("select"))
        elif child.tag == S + "name":
            etree.SubElement(out, f"{{{XSL}}}value-of", select=f"name({child.get('path') or '.'})")
        if child.tail:
            etree.SubElement(out, f"{{{XSL}}}text").text = child.tail


def compile_schematron(path: Path) -> str:
    """The schematron file at `path` as an XSLT 3.0 stylesheet that lists the failed rules."""
    schema = _expand(etree.parse(str(path)).getroot(), path.parent)
    nsmap = {"xsl": XSL, "xs": "http://www.w3.org/2001/XMLSchema"}
    nsmap.update({ns.get("prefix"): ns.get("uri") for ns in schema.iter(S + "ns")})
    nsmap.update({k: v for k, v in schema.nsmap.items() if k and k not in nsmap and v != SCH})
    sheet = etree.Element(f"{{{XSL}}}stylesheet", nsmap=nsmap, version="3.0")
    for child in schema:
        if child.tag == S + "let":
            etree.SubElement(sheet, f"{{{XSL}}}variable", name=child.get("name"), select=child.get("value"))
        elif isinstance(child.tag, str) and child.tag.startswith(f"{{{XSL}}}"):
            sheet.append(child)  # xsl:function and the like, copied as they are
    root = etree.SubElement(sheet, f"{{{XSL}}}template", match="/")
    results = etree.SubElement(root, "results")
    patterns = [p for p in schema.iter(S + "pattern")]
    for i, pattern in enumerate(patterns):
        mode = f"p{i}"
        etree.SubElement(results, f"{{{XSL}}}apply-templates", select="/", mode=mode)
        for let in pattern.findall(S + "let"):
            etree.SubElement(sheet, f"{{{XSL}}}variable", name=let.get("name"), select=let.get("value"))
        rules = pattern.findall(S + "rule")
        for j, rule in enumerate(rules):
            template = etree.SubElement(sheet, f"{{{XSL}}}template", match=rule.get("context"), mode=mode,
                                        priority=str(len(rules) - j + 1))
            for let in rule.findall(S + "let"):
                etree.SubElement(template, f"{{{XSL}}}variable", name=let.get("name"), select=let.get("value"))
            for check in rule:
                if check.tag not in (S + "assert", S + "report"):
                    continue
                test = check.get("test")
                condition = f"not({test})" if check.tag == S + "assert" else f"({test})"
                when = etree.SubElement(template, f"{{{XSL}}}if", test=condition)
                failed = etree.SubElement(when, "failed", id=check.get("id") or "", flag=check.get("flag") or "error")
                location = etree.SubElement(failed, f"{{{XSL}}}attribute", name="location")
                etree.SubElement(location, f"{{{XSL}}}value-of", select="path()")
                _message(check, failed)
            etree.SubElement(template, f"{{{XSL}}}apply-templates", select="@*|*", mode=mode)
        fallthrough = etree.SubElement(sheet, f"{{{XSL}}}template", match="@*|node()", mode=mode, priority="-1")
        etree.SubElement(fallthrough, f"{{{XSL}}}apply-templates", select="@*|*", mode=mode)
    return etree.tostring(sheet, encoding="unicode")


@cache
def _processor():
    if REQUIRE_TOOLS:
        from saxonche import PySaxonProcessor
    else:
        PySaxonProcessor = pytest.importorskip(
            "saxonche", reason="saxonche is not installed; install it to run this test: pip install -e '.[test]'"
        ).PySaxonProcessor

    return PySaxonProcessor(license=False)


@cache
def _executable(*parts: str):
    path = SCHEMAS.joinpath(*parts)
    if not path.exists():  # vendored in the repository: never a reason to skip
        pytest.fail(f"schematron {path} is missing from the repository (tests/schemas/README.md)")
    xslt = _processor().new_xslt30_processor()
    return xslt.compile_stylesheet(stylesheet_text=compile_schematron(path))


def failed_rules(text: str, *schematron: str) -> dict[str, str]:
    """The rules of a schematron the document fails, fatal ones only: id → message."""
    executable = _executable(*schematron)
    document = _processor().parse_xml(xml_text=text)
    out = etree.fromstring(executable.transform_to_string(xdm_node=document).encode("utf-8"))
    return {f.get("id"): " ".join((f.text or "").split()) for f in out.iter("failed")
            if f.get("flag") in ("fatal", "error")}


CEN = ("peppol-bis3", "sch", "CEN-EN16931-UBL.sch")
PEPPOL = ("peppol-bis3", "sch", "PEPPOL-EN16931-UBL.sch")
NLCIUS = ("nlcius-si-ubl-2.0", "schematron", "si-ubl-2.0.sch")


def _invoices(profile: str) -> list[str]:
    rules = load_rules(EXAMPLES / "bakery-targets.rules")
    day = book(rules, read_receipts(str(EXAMPLES / "bakery-day.json"), rules), keep_bookings=True)
    credit = book(rules, [refund_receipt("Jansen & Zn")], keep_bookings=True)
    settings = {"profile": profile}
    documents = render(day, rules, "ubl", settings).documents + render(credit, rules, "ubl", settings).documents
    assert "<CreditNote " in documents[-1].text
    return [d.text for d in documents]


@pytest.fixture(scope="module")
def invoices():
    return _invoices("nlcius")


@pytest.fixture(scope="module")
def peppol_invoices():
    return _invoices("peppol")


def test_the_compiled_rules_fire(invoices):
    """A broken total, a missing seller VAT number, a missing KvK: each is caught by its rule."""
    broken = invoices[0].replace('<cbc:PayableAmount currencyID="EUR">46.50', '<cbc:PayableAmount currencyID="EUR">46.51')
    assert "BR-CO-16" in failed_rules(broken, *CEN)
    no_vat = re.sub(r"<cac:PartyTaxScheme>.*?</cac:PartyTaxScheme>", "", invoices[0], count=1, flags=re.S)
    assert "BR-S-02" in failed_rules(no_vat, *CEN)
    no_kvk = invoices[0].replace('<cbc:CompanyID schemeID="0106">12345678</cbc:CompanyID>', "")
    assert "BR-NL-1" in failed_rules(no_kvk, *NLCIUS)


def test_peppol_example_passes_the_compiled_rules():
    example = (SCHEMAS / "peppol-bis3" / "examples" / "base-example.xml").read_text(encoding="utf-8")
    assert failed_rules(example, *CEN) == {}
    assert failed_rules(example, *PEPPOL) == {}


def test_ubl_invoices_and_credit_notes_pass_the_en16931_rules(invoices, peppol_invoices):
    for text in invoices + peppol_invoices:
        assert failed_rules(text, *CEN) == {}


def test_nlcius_invoices_and_credit_notes_pass(invoices):
    for text in invoices:
        assert failed_rules(text, *NLCIUS) == {}


def test_peppol_invoices_pass_and_credit_notes_lack_only_the_original_invoice(peppol_invoices):
    for text in peppol_invoices:
        # a Dutch credit note names the invoice it corrects (NL-R-001); a refund receipt does not know it
        expected = {"NL-R-001"} if "<CreditNote " in text else set()
        assert set(failed_rules(text, *PEPPOL)) == expected


def test_a_customer_without_address_is_reported_with_exactly_the_customer_data_rules():
    """A receipt knows its customer's name and debtor number; NLCIUS and Peppol also want a Dutch
    customer's address, KvK number and Peppol address (the `buyer-*` settings). An invoice that
    lacks them is reported with the rules it would fail, and not written (tests/test_targets_invoices.py
    shows each rule is the schematron's)."""
    rules = load_rules(EXAMPLES / "bakery-targets.rules")
    day = book(rules, read_receipts(str(EXAMPLES / "bakery-day.json"), rules), keep_bookings=True)
    bare = {k: v for k, v in rules.targets["ubl"].items() if not k.startswith("buyer-")}
    rules.targets = {**rules.targets, "ubl": bare}
    for profile, expected in (("nlcius", {"BR-NL-4", "BR-NL-10"}), ("peppol", {"NL-R-004", "PEPPOL-EN16931-R010"})):
        rendering = render(day, rules, "ubl", {"profile": profile})
        assert rendering.documents == [] and len(rendering.errors) == 2
        for error in rendering.errors:
            assert set(re.findall(r"\((BR-NL-\d+|NL-R-\d+|PEPPOL-EN16931-R\d+)\)", error)) == expected
