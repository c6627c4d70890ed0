"""Receipt text can hold anything a cashier can type: every target renders it into a payload its
validator accepts (escaped, one line, cut to the target's limit), and one that a spreadsheet
opens as text, never as a formula."""

from __future__ import annotations

import copy
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tillpost.api import canonical
from tillpost.targets import render, targets
from tillpost.targets.filters import text as clean

from test_targets import ALL, example_rules, validate  # noqa: E402  (tests/ is on sys.path)

NASTY = st.sampled_from([
    "&", "<", ">", '"', "'", "&amp;", "<![CDATA[", "]]>", "\n", "\r\n", "\t", "\x00", "\x1b[31m", ";", ":", "|",
    "=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "😀", "👩‍👩‍👧", "\u202e", "\ufeff", "\\", "{{ x }}", "{%",
    "%s", "  ", "é", "ß", "日本", "x" * 400,
])
TEXT = st.lists(st.one_of(NASTY, st.text(max_size=20)), max_size=8).map("".join)


@st.composite
def journals(draw):
    """The bakery day's canonical journal with receipt text in every field that comes from a receipt."""
    rules = example_rules("hledger")
    from test_targets import EXAMPLES, book, read_receipts

    base = canonical(book(rules, read_receipts(str(EXAMPLES / "bakery-day.json"), rules)), rules)
    journal = copy.deepcopy(base)
    for entry in journal["entries"]:
        entry["description"] = draw(TEXT)
        if entry["mode"] == "individual":
            rid = draw(TEXT.filter(lambda s: clean(s) != ""))
            entry["key"], entry["receipts"] = rid, [rid]
            debtor = draw(TEXT.filter(lambda s: clean(s) != ""))
            for line in entry["lines"]:
                if line["debtor"]:
                    line["debtor"] = debtor
    return journal


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(journal=journals())
def test_every_target_survives_receipt_text(journal, tmp_path_factory):
    for name in ALL:
        rules = example_rules(name)
        extra = {}
        debtors = {l["debtor"] for e in journal["entries"] for l in e["lines"] if l["debtor"]}
        if name == "snelstart":  # give every debtor the text made up a SnelStart relation id
            extra = {f"relatie-{d}": str(uuid.uuid4()) for d in debtors}
        elif name == "moneybird":
            extra = {f"contact-{d}": str(uuid.uuid4().int % 10**18) for d in debtors}
        elif name == "exact-online-rest":
            extra = {f"account-{d}": str(uuid.uuid4()) for d in debtors}
        elif name == "ubl":  # what NLCIUS requires of a Dutch customer, for every made-up debtor
            extra = {f"buyer-{field}-{d}": value for d in debtors for field, value in
                     (("street", "Dorpsstraat 12"), ("postcode", "1234 AB"), ("city", "Amsterdam"),
                      ("kvk", "87654321"))}
        rendering = render(journal, rules, name, extra)
        assert rendering.errors == [], rendering.errors
        for doc in rendering.documents:
            validate(name, doc.text, tmp_path_factory.mktemp(name), rules.targets.get(name))


def test_long_identifiers_are_cut_but_stay_distinct():
    from tillpost.targets.filters import ident

    a, b = "C" * 40 + "1", "C" * 40 + "2"
    assert len(ident(a, 20)) == 20 and ident(a, 20) != ident(b, 20)
    assert ident("20001", 20) == "20001"
    assert ident("a\nb", 20) != "a b"


def test_text_is_one_clean_line_cut_to_the_limit():
    assert clean("a\nb\r\n\tc  d") == "a b c d"
    assert clean("x\x00y\x1bz") == "xyz"
    assert clean("😀" * 100, 60) == "😀" * 60
    assert clean(None) == ""


def test_every_target_is_covered_by_the_escaping_test():
    assert set(ALL) == set(targets())


def test_rule_file_text_with_markup_and_formulas_renders_for_every_target(tmp_path):
    """Names from the rule file (client, accounts, journals) reach the payloads too."""
    from test_targets import EXAMPLES, book, load_rules, read_receipts

    for name in ALL:
        source = EXAMPLES / ({"snelstart": "bakery-snelstart.rules", "moneybird": "bakery-moneybird.rules",
                              "exact-online-rest": "bakery-exact-online-rest.rules"}.get(name, "bakery-targets.rules"))
        text = source.read_text(encoding="utf-8")
        text = text.replace('client   "Bakkerij Jansen B.V."', 'client   "Bakkerij Jansen & Zn <B.V.> \'t Hoekje; 50%"')
        text = text.replace('"Omzet brood"', '"=SUM(A1) Omzet: brood & <banket>"')
        text = text.replace('"Kasboek"', '"Kas; \'boek\' & co"')
        path = tmp_path / f"{name}.rules"
        path.write_text(text, encoding="utf-8")
        rules = load_rules(path)
        result = book(rules, read_receipts(str(EXAMPLES / "bakery-day.json"), rules), keep_bookings=True)
        rendering = render(result, rules, name)
        assert rendering.errors == [], rendering.errors
        (tmp_path / name).mkdir()
        for doc in rendering.documents:
            validate(name, doc.text, tmp_path / name, rules.targets.get(name))
