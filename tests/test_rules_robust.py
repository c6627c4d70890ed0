"""The rule language on valid input that once crashed, and on bad input that once got a bad answer.

Each test names the class of problem it guards: defaults checked like what is written,
the most specific rule settling an overlap, nothing left open on the counter debtor, a
template that cannot fail, includes and file bytes that are no exception, parser recovery
that says one thing per slip, diagnostics in proportion to the file, a parser built once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tillpost.api import book, compile_file, compile_text, load_rules
from tillpost.cli import cli
from tillpost.cli import booking  # noqa: F401  (registers the commands)
from tillpost.engine.diagnostics import MAX_REPEATS, SHOWN_LINE
from tillpost.engine.rulefiles import MAX_INCLUDE_DEPTH

CHART = """
currency EUR
counter debtor "BALIE"
journal KAS cash "Kas"
journal VRK sales "Verkoop"
account kas 1000 "Kas"
account debiteuren 1300 "Debiteuren" debtors
account btw 1520 "BTW"
account omzet 8000 "Omzet"
account brood 8010 "Omzet brood"
account web 8020 "Omzet web"
account afronding 8990 "Afronding"
vat high 21%
method cash turnover
when tax post VRK debiteuren -> btw
when payment post KAS kas -> debiteuren
when cost skip
when rounding post KAS afronding -> debiteuren
"""


def errors(text: str, file: str = "client.rules") -> list[str]:
    _, diagnostics = compile_text(textwrap.dedent(text), file)
    return [f"{d.pos.line}:{d.pos.col}: {d.message}" for d in diagnostics.sorted() if d.severity == "error"]


def receipt(rid: str, store: str = "AMS", register: str = "K1", category: str = "", price: str = "12.10",
            method: str = "cash", date: str = "2026-11-20") -> dict:
    return {"id": rid, "number": rid, "store": store, "register": register, "date": date, "status": "completed",
            "currency": "EUR", "prices_include_vat": True,
            "lines": [{"category": category, "quantity": "1", "unit_price": price, "vat": "high"}],
            "payments": [{"method": method, "amount": price}]}


# -- defaults pass the checks an explicit statement gets ------------------------------------

@pytest.mark.parametrize("fields, description", [
    ("date", "Dagomzet 2026-11-20"),
    ("date, register", "Dagomzet 2026-11-20 K1"),
    ("store", "Dagomzet AMS"),
    ("date, store, register", "Dagomzet 2026-11-20 AMS K1"),
])
def test_the_default_turnover_description_names_the_fields_turnover_is_grouped_by(fields, description):
    ruleset, d = compile_text(CHART + f"group turnover by {fields}\nwhen sale post VRK debiteuren -> omzet\n")
    assert ruleset is not None, d.format()
    result = book(ruleset, [receipt("R1"), receipt("R2", store="UTR")])
    assert result.errors == []
    assert description in {e.description for e in result.entries}


# -- the most specific rule settles an overlap ----------------------------------------------

OVERLAP = CHART + """
when sale category=brood post VRK debiteuren -> brood
when sale store=WEB      post VRK debiteuren -> web
when sale                post VRK debiteuren -> omzet
"""


def test_a_rule_for_exactly_the_overlap_of_two_rules_settles_it_and_books_the_overlap():
    assert "ambiguous rules" in errors(OVERLAP)[0]
    ruleset, d = compile_text(OVERLAP + "when sale category=brood store=WEB post VRK debiteuren -> omzet\n")
    assert ruleset is not None, d.format()
    result = book(ruleset, [receipt("R1", "WEB", category="brood"), receipt("R2", "WEB", category="taart"),
                            receipt("R3", "AMS", category="brood")])
    revenue = {(e.key, l.account) for e in result.entries for l in e.lines if l.vat and l.account != "1520"}
    assert revenue == {("2026-11-20/WEB", "8000"), ("2026-11-20/WEB", "8020"), ("2026-11-20/AMS", "8010")}


def test_rules_that_cover_the_overlap_together_settle_it():
    text = OVERLAP + """
    when sale category=brood store=WEB refund=yes post VRK debiteuren -> omzet
    when sale category=brood store=WEB refund=no  post VRK debiteuren -> omzet
    """
    ruleset, d = compile_text(textwrap.dedent(text))
    assert ruleset is not None, d.format()


def test_a_rule_covering_part_of_the_overlap_leaves_the_rest_ambiguous_and_names_a_fact_of_it():
    [error] = errors(OVERLAP + "when sale category=brood store=WEB register=K1 post VRK debiteuren -> omzet\n")
    assert ("both match `sale category=brood register=<not K1> store=WEB` and neither is more specific; add a rule "
            "for their overlap (`when sale category=brood store=WEB …`) or a condition to one of them") in error
    [error] = errors(OVERLAP + "when sale category=brood store=WEB refund=yes post VRK debiteuren -> omzet\n")
    assert "`sale category=brood refund=no store=WEB`" in error


def test_long_in_lists_on_many_attributes_are_compared_without_their_product():
    values = lambda p: "(" + ", ".join(f"{p}{i}" for i in range(60)) + ")"  # 60**4 combinations
    wide = f"store in {values('s')} register in {values('r')} category in {values('c')} sku in {values('k')}"
    ruleset, d = compile_text(CHART + f"""
when sale {wide} post VRK debiteuren -> brood
when sale {wide} source=web post VRK debiteuren -> web
when sale post VRK debiteuren -> omzet
""")
    assert ruleset is not None, d.format()
    [error] = errors(CHART + f"when sale {wide} post VRK debiteuren -> brood\nwhen sale store=s7 source=web post VRK "
                             "debiteuren -> web\nwhen sale post VRK debiteuren -> omzet\n")
    assert "ambiguous rules" in error


# -- nothing left open on the counter debtor ------------------------------------------------

def test_skipping_turnover_payments_is_refused_with_the_account_to_post_them_to():
    text = CHART.replace("when payment post KAS kas -> debiteuren", "when payment method=cash skip")
    [error] = errors(text + "when sale post VRK debiteuren -> omzet\n")
    line = text.splitlines().index("when payment method=cash skip") + 1
    assert error == (f"{line}:26: turnover payments (method cash) cannot be skipped: turnover receipts are booked "
                     "against the counter debtor on debtors account 'debiteuren' (1300), which would stay open by "
                     "their amount; post them against it: `when payment method=cash post JOURNAL ACCOUNT -> debiteuren`")


def test_skipping_cash_rounding_of_turnover_receipts_is_refused():
    text = CHART.replace("when rounding post KAS afronding -> debiteuren", "when rounding skip")
    [error] = errors(text + "when sale post VRK debiteuren -> omzet\n")
    assert "the cash rounding of turnover receipts cannot be skipped" in error


def test_skipping_sales_or_vat_of_turnover_receipts_is_refused_but_a_vat_of_0_percent_books_nothing_anyway():
    [error] = errors(CHART + "when sale category=fooi skip\nwhen sale post VRK debiteuren -> omzet\n")
    assert error.endswith("the sales of turnover receipts cannot be skipped: turnover receipts are booked against the "
                          "counter debtor on debtors account 'debiteuren' (1300), which would stay open by their "
                          "amount; post them against it: `when sale category=fooi post JOURNAL debiteuren -> ACCOUNT`")
    text = CHART + "vat none 0%\nwhen tax vat=none skip\nwhen sale post VRK debiteuren -> omzet\n"
    ruleset, d = compile_text(text)
    assert ruleset is not None, d.format()
    [error] = errors(text.replace("when tax vat=none skip", "when tax vat in (none, high) mode=turnover skip"))
    assert "the VAT of turnover receipts cannot be skipped" in error


def test_a_skip_that_no_turnover_payment_reaches_is_fine():
    # an individual method paid later; a catch-all skip under rules for every turnover method;
    # a turnover skip where the sales are booked straight on the cash account
    ok = [
        CHART + 'method invoice individual debtor "20001"\nwhen payment method=invoice skip\n'
                "when sale post VRK debiteuren -> omzet\n",
        CHART.replace("when payment post KAS kas -> debiteuren", "when payment method=cash post KAS kas -> debiteuren\n"
                      "when payment skip") + "when sale post VRK debiteuren -> omzet\n",
        CHART.replace("when payment post KAS kas -> debiteuren", "when payment skip")
             .replace("when tax post VRK debiteuren -> btw", "when tax post KAS kas -> btw")
             .replace("when rounding post KAS afronding -> debiteuren", "when rounding skip")
        + "when sale post KAS kas -> omzet\n",
    ]
    for text in ok:
        ruleset, d = compile_text(text)
        assert ruleset is not None, d.format()


def test_a_catch_all_skip_that_still_catches_a_turnover_method_is_refused():
    text = CHART.replace("when payment post KAS kas -> debiteuren", "method pin turnover\n"
                         "when payment method=cash post KAS kas -> debiteuren\nwhen payment skip")
    [error] = errors(text + "when sale post VRK debiteuren -> omzet\n")
    assert "turnover payments (method pin) cannot be skipped" in error


# -- description templates that cannot fail ---------------------------------------------------

@pytest.mark.parametrize("template, message", [
    ("{date:%Y}", "{date:%Y} in the turnover description: a placeholder takes no format (:%Y); write {date}"),
    ("{date!z}", "{date!z} in the turnover description: a placeholder takes no conversion (!z); write {date}"),
    ("{date!r}", "{date!r} in the turnover description: a placeholder takes no conversion (!r); write {date}"),
    ("{date.x}", "{date.x} in the turnover description: a placeholder is a plain name, without . or [ ]; write {date}"),
    ("{date[0]}", "{date[0]} in the turnover description: a placeholder is a plain name, without . or [ ]; write {date}"),
    ("{0}", "{0} in the turnover description names no field: a placeholder is a name in braces, one of {date}, {store}"),
    ("{}", "{} in the turnover description names no field: a placeholder is a name in braces, one of {date}, {store}"),
    ("{stroe}", "unknown placeholder {stroe} in the turnover description; expected one of {date}, {store} "
                "(turnover entries are grouped by date, store); did you mean {store}?"),
])
def test_a_template_that_would_fail_at_booking_is_refused_at_its_position(template, message):
    text = CHART + f'describe turnover "Omzet {template}"\nwhen sale post VRK debiteuren -> omzet\n'
    line = len(text.splitlines()) - 1
    assert errors(text) == [f"{line}:19: {message}"]


# -- includes and file bytes ---------------------------------------------------------------------

def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def compile_errors(path: Path) -> list[str]:
    ruleset, d = compile_file(path)
    assert ruleset is None
    return [d.format() for d in d.sorted() if d.severity == "error"]


def test_a_file_included_through_two_paths_is_read_once(tmp_path):
    rules = tmp_path / "rules"
    write(rules / "common" / "chart.rules", CHART)
    write(rules / "common" / "a.rules", 'include "chart.rules"\naccount a 8100 "A"\n')
    write(rules / "common" / "b.rules", 'include "chart.rules"\naccount b 8200 "B"\n')
    main = write(rules / "acme" / "client.rules", 'include "../common/a.rules"\ninclude "../common/b.rules"\n'
                 "when sale category=a post VRK debiteuren -> a\nwhen sale post VRK debiteuren -> b\n")
    ruleset, d = compile_file(main)
    assert ruleset is not None, d.format()
    assert len(ruleset.files) == 4


def test_include_paths_the_system_refuses_are_diagnostics_at_the_include(tmp_path):
    rules = tmp_path / "rules"
    (rules / "loop").parent.mkdir(parents=True)
    os.symlink(rules / "loop", rules / "loop")
    (rules / "folder").mkdir()
    main = write(rules / "client.rules", b'include "a\x00b.rules"\ninclude "loop"\ninclude "folder"\n' + CHART.encode())
    found = compile_errors(main)
    assert found[0].startswith(f"{main}:1:9: error: include 'a\\0b.rules': a path cannot contain a NUL character")
    assert found[0].splitlines()[1] == '    include "a␀b.rules"'  # a control character is shown, not sent
    assert found[1].startswith(f"{main}:2:9: error: include 'loop': a symbolic link on the way loops back on itself")
    assert found[2].startswith(f"{main}:3:9: error: include 'folder' is a folder, not a rule file")


def test_a_thousand_nested_includes_are_a_diagnostic_not_a_crash(tmp_path):
    rules = tmp_path / "rules"
    for i in range(1000):
        write(rules / f"f{i}.rules", f'include "f{i + 1}.rules"\n')
    write(rules / "f1000.rules", CHART)
    [error] = [e for e in compile_errors(rules / "f0.rules") if "nests" in e]
    deepest = rules / f"f{MAX_INCLUDE_DEPTH - 1}.rules"
    assert error.startswith(f"{deepest}:1:9: error: include 'f{MAX_INCLUDE_DEPTH}.rules' nests includes more than "
                            f"{MAX_INCLUDE_DEPTH} files deep")


def test_a_byte_order_mark_is_no_part_of_the_file(tmp_path):
    main = write(tmp_path / "client.rules", b"\xef\xbb\xbf" + (CHART + "when sale post VRK debiteuren -> omzet\n").encode())
    ruleset, d = compile_file(main)
    assert ruleset is not None, d.format()
    _, d = compile_text("\ufeffcurrency EURO\n", "bom.rules")
    assert d.errors[0].format().splitlines()[:2] == [
        "bom.rules:1:10: error: unknown currency 'EURO'; expected an ISO 4217 code such as EUR; did you mean 'EUR'?",
        "    currency EURO"]


def test_a_file_that_is_not_utf8_is_a_diagnostic_at_its_first_bad_byte(tmp_path):
    main = write(tmp_path / "client.rules", CHART.encode() + 'account cafe 8300 "Caf\xe9"\n'.encode("cp1252"))
    [error] = compile_errors(main)
    line = len(CHART.splitlines()) + 1
    assert error.splitlines()[0] == (f"{main}:{line}:23: error: the rule file is not UTF-8 text (byte 0xe9 here is "
                                     "no UTF-8); save it as UTF-8")
    assert error.splitlines()[2] == "    " + " " * 22 + "^"


# -- parser recovery: one error per slip ----------------------------------------------------

def test_an_unfinished_rule_is_one_error_where_the_next_rule_starts():
    text = CHART + "when sale post\n" + "".join(f"when sale category=c{i} post VRK debiteuren -> omzet\n"
                                                 for i in range(8)) + "when sale post VRK debiteuren -> omzet\n"
    line = len(CHART.splitlines()) + 2
    assert errors(text) == [f"{line}:1: unexpected 'when'; expected a name"]


def test_a_misspelt_keyword_is_one_error_that_suggests_the_keyword_and_keeps_the_line_before():
    text = CHART + "when sale post VRK debiteuren -> omzet\nacount extra 8300\n"
    line = len(CHART.splitlines()) + 2
    assert errors(text) == [f"{line}:1: unexpected 'acount'; did you mean 'account'?"]
    assert errors(CHART + "when sale post VRK debiteuren -> omzet\nAccount extra 8300\n") == [
        f"{line}:1: unexpected 'Account'; did you mean 'account'?"]
    assert errors(CHART + "when sale pst VRK debiteuren -> omzet\n") == [
        f"{line - 1}:11: 'pst' is not a condition (attribute=value); did you mean 'post'?"]


def test_a_keyword_word_on_a_line_of_its_own_inside_a_statement_is_no_new_statement():
    text = CHART + "when sale category=brood\n  vat=high post VRK debiteuren -> brood\nwhen sale post VRK debiteuren -> omzet\n"
    ruleset, d = compile_text(text)
    assert ruleset is not None, d.format()


@pytest.mark.parametrize("text, suggestion", [
    ("when payment method=CASH post KAS kas -> debiteuren", "undeclared method 'CASH'; did you mean 'cash'?"),
    ("when sale vat=High post VRK debiteuren -> omzet", "undeclared VAT name 'High'; did you mean 'high'?"),
    ("when sale post vrk debiteuren -> omzet", "undeclared journal 'vrk'; did you mean 'VRK'?"),
    ("when sales post VRK debiteuren -> omzet", "unknown fact kind 'sales'; expected sale, tax, payment, cost, "
                                                "rounding, difference or movement; did you mean 'sale'?"),
    ("journal MEM Memo", "unknown journal type 'Memo'; expected cash, memo or sales; did you mean 'memo'?"),
    ("when sale refund=Yes skip", "'refund' is yes or no, never 'Yes'; did you mean 'yes'?"),
    ("currency eur", "unknown currency 'eur'; expected an ISO 4217 code such as EUR; did you mean 'EUR'?"),
])
def test_did_you_mean_ignores_case(text, suggestion):
    base = CHART.replace("currency EUR", "") if text.startswith("currency") else CHART
    assert any(suggestion in e for e in errors(base + "when sale post VRK debiteuren -> omzet\n" + text + "\n"))


# -- diagnostics in proportion to the file --------------------------------------------------

def test_a_message_repeated_in_a_file_is_shown_a_few_times_and_then_counted():
    _, d = compile_text(CHART + "when sale " + "store=A " * 5000 + "post VRK debiteuren -> omzet\n", "big.rules")
    shown = d.format()
    assert shown.count("'store' is constrained twice in one rule") == MAX_REPEATS + 1
    assert f"big.rules:{len(CHART.splitlines()) + 1}:" in shown
    assert f"{4999 - MAX_REPEATS} more like this in big.rules not shown: 'store' is constrained twice" in shown
    assert d.count("error") == 4999
    assert len(shown) < 20 * (SHOWN_LINE + 200)  # each quoted line cut to the part around its caret


def test_check_counts_the_left_out_errors_too(tmp_path):
    rules = write(tmp_path / "big.rules", CHART + "when sale " + "store=A " * 30 + "post VRK debiteuren -> omzet\n")
    result = CliRunner().invoke(cli, ["check", str(rules)])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == "29 error(s), 0 warning(s)"


# -- check --cases books the cases ------------------------------------------------------------

def test_check_with_cases_reports_each_receipt_book_would_refuse(tmp_path):
    rules = write(tmp_path / "client.rules", CHART + "when sale category=brood post VRK debiteuren -> brood\n")
    case = tmp_path / "cases" / "day.json"
    case.parent.mkdir()
    case.write_text(json.dumps([receipt("R1", category="brood"), receipt("R2", category="taart")], indent=1))
    result = CliRunner().invoke(cli, ["check", str(rules), "--cases", str(case.parent)])
    assert result.exit_code == 2
    line = case.read_text().splitlines().index('  "id": "R2",') + 1
    assert (f"{case}:{line}:9: error: case receipt R2 cannot be booked: no rule matches the fact sale 10.00 "
            "(lines[0]) category=taart") in result.output
    assert "\n1 error(s), " in result.output
    assert "ok:" not in result.output


# -- lint: a sale or tax rule the wrong way round ---------------------------------------------

def test_a_sale_or_tax_rule_that_credits_the_debtors_or_cash_account_is_a_lint_warning(tmp_path):
    text = CHART.replace("when tax post VRK debiteuren -> btw", "when tax post VRK btw -> kas")
    rules = write(tmp_path / "client.rules", text + "when sale post VRK omzet -> debiteuren\n")
    result = CliRunner().invoke(cli, ["check", str(rules)])
    assert result.exit_code == 0, result.output
    assert ("warning: this sale rule credits 'debiteuren' (a debtors account) and debits 'omzet': its sides look "
            "swapped, which books the revenue as a debit; write `post VRK debiteuren -> omzet`") in result.output
    assert ("warning: this tax rule credits 'kas' (the account payments are booked on) and debits 'btw'"
            in result.output)


# -- targets: every missing setting at once, missing ids once -----------------------------------

def test_book_with_a_target_names_every_missing_setting_and_each_missing_id_once(tmp_path, examples):
    day = str(examples / "bakery-day.json")
    out = CliRunner().invoke(cli, ["book", str(examples / "bakery.rules"), day, "--target", "ubl", "-o", str(tmp_path)])
    assert out.exit_code == 2
    assert out.output.startswith("tillpost: target 'ubl' needs 6 settings the rule file does not give; add:\n"
                                 '  target ubl kvk "…"         # the seller\'s Chamber of Commerce number')
    out = CliRunner().invoke(cli, ["book", str(examples / "bakery-targets.rules"), day, "--target", "snelstart"])
    assert out.exit_code == 1
    listed = [l.strip() for l in out.output.split("add:\n", 1)[1].splitlines() if l.startswith("  target ")]
    rules = load_rules(examples / "bakery-targets.rules")
    from tillpost.api import read_receipts, render_target

    assert listed == render_target(book(rules, read_receipts(day)), rules, "snelstart").missing
    assert len(listed) == len(set(listed)) > 10
    assert out.output.count('target snelstart grootboek-1300 "…"') == 1


def test_check_suggests_the_target_and_setting_a_typo_meant(tmp_path, examples):
    text = (examples / "bakery.rules").read_text(encoding="utf-8")
    rules = write(tmp_path / "client.rules", text + 'target twinfeld office "1"\ntarget exact-online-rest divison "1"\n')
    result = CliRunner().invoke(cli, ["check", str(rules)])
    assert "error: unknown target 'twinfeld'; expected one of:" in result.output
    assert "; did you mean 'twinfield'?" in result.output
    assert "target 'exact-online-rest' has no setting 'divison'" in result.output
    assert "; did you mean 'division'?" in result.output


# -- the parser is built once and kept ----------------------------------------------------------

def run_check(rules: Path, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    import tillpost

    env["PYTHONPATH"] = os.pathsep.join([str(Path(tillpost.__file__).parents[1]), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "tillpost", "check", str(rules)], capture_output=True, text=True,
                          env=env)


def test_the_built_parser_is_kept_in_the_cache_folder_and_used(tmp_path):
    rules = write(tmp_path / "client.rules", CHART + "when sale post VRK debiteuren -> omzet\n")
    first = run_check(rules, tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    [kept] = (tmp_path / "cache" / "tillpost").iterdir()
    assert kept.name.startswith("rules-parser-") and kept.stat().st_size > 1000
    kept.write_bytes(b"damaged")  # a damaged cache is built again, not believed
    second = run_check(rules, tmp_path / "cache")
    assert (second.returncode, second.stderr) == (0, first.stderr)
    assert kept.stat().st_size > 1000


def test_a_cache_folder_that_cannot_be_written_only_costs_time(tmp_path):
    rules = write(tmp_path / "client.rules", CHART + "when sale post VRK debiteuren -> omzet\n")
    (tmp_path / "a-file").write_text("")
    result = run_check(rules, tmp_path / "a-file")  # its cache folder would be inside a file
    assert result.returncode == 0
    assert result.stderr == run_check(rules, tmp_path / "cache").stderr
    assert result.stderr.endswith(f"{rules}: ok: 5 rules, 7 accounts, 2 journals\n")


def test_fmt_says_where_a_file_is_not_utf8_and_drops_a_byte_order_mark(tmp_path):
    from tillpost.cli import workflow  # noqa: F401  (registers fmt)

    bad = write(tmp_path / "bad.rules", b'currency EUR\naccount cafe 8300 "Caf\xe9"\n')
    result = CliRunner().invoke(cli, ["fmt", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2:23: error: the rule file is not UTF-8 text (byte 0xe9 here is no UTF-8)" in result.output
    marked = write(tmp_path / "marked.rules", b"\xef\xbb\xbfcurrency EUR\n")
    assert CliRunner().invoke(cli, ["fmt", "--check", str(marked)]).exit_code == 1
    assert CliRunner().invoke(cli, ["fmt", str(marked)]).exit_code == 0
    assert marked.read_bytes() == b"currency EUR\n"


def test_coverage_hints_without_a_debtors_account_say_skip():
    # the sales booked straight on cash: no counter debtor to settle, so a missing kind may be skipped
    ruleset, d = compile_text("""currency EUR journal KAS cash account kas 1000 account btw 1520 account omzet 8000
        vat high 21% method cash turnover
        when sale post KAS kas -> omzet when tax post KAS kas -> btw when payment skip when rounding skip""")
    assert ruleset is not None, d.format()
    assert any(w.message.endswith("write `when cost skip` to book none") for w in d.warnings)
