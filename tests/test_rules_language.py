"""The rule language: syntax, every compile-time check of SPEC §6, and `tillpost check`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tillpost.api import compile_file, compile_text

HEADER = """
client   "Test B.V."
currency EUR
counter debtor "BALIE"
journal KAS cash  "Kas"
journal VRK sales "Verkoop"
journal MEM memo  "Memoriaal"
account kas        1000 "Kas"
account debiteuren 1300 "Debiteuren" debtors
account btw        1520 "BTW"
account voorraad   3000 "Voorraad"
account kostprijs  7000 "Kostprijs"
account omzet      8000 "Omzet"
account brood      8010 "Omzet brood"
account afronding  8990 "Afronding"
vat high 21% code "VH"
method cash turnover
"""
COMPLETE = HEADER + """
when sale                    post VRK debiteuren -> omzet
when tax                     post VRK debiteuren -> btw
when payment method=cash     post KAS kas -> debiteuren
when cost                    post MEM kostprijs -> voorraad
when rounding                post KAS afronding -> debiteuren
when difference              skip
when movement                skip
"""


def messages(text: str, severity: str = "error") -> list[str]:
    _, diagnostics = compile_text(textwrap.dedent(text), "client.rules")
    return [f"{d.pos.line}:{d.pos.col}: {d.message}" for d in diagnostics.sorted() if d.severity == severity]


def only_error(text: str) -> str:
    errors = messages(text)
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.parametrize("name", ["bakery", "exact-globe", "restaurant"])
def test_bundled_examples_compile_without_diagnostics(examples, name):
    ruleset, diagnostics = compile_file(examples / f"{name}.rules")
    assert ruleset is not None, diagnostics.format()
    assert diagnostics.items == []


def test_the_spec_bakery_example_compiles_unchanged(examples):
    # The product specification's example rule file (§6), copied into tests/fixtures/spec/: the
    # bundled bakery example is that text, unchanged, then the rules of §11 for the till closings
    # of bakery-day.json; the specification's text compiles on its own without an error (it warns
    # that no rule books the closings' facts, which §6 predates).
    spec = Path(__file__).resolve().parent / "fixtures" / "spec" / "bakery-example.rules"
    assert (examples / "bakery.rules").read_text().startswith(spec.read_text() + "\n# Till closings")
    ruleset, diagnostics = compile_file(spec)
    assert ruleset is not None and diagnostics.errors == [], diagnostics.format()


def test_keywords_are_not_reserved_words():
    ruleset, diagnostics = compile_text(HEADER + """
        account cash 1001 "Kas 2"
        account vat  1521 "BTW 2"
        account when 1522 "named when"
        method pin turnover
        account pin 1105 "PIN"
        when sale post VRK debiteuren -> omzet
        when tax post VRK debiteuren -> vat
        when payment method in (cash, pin) post KAS cash -> debiteuren
        when cost skip when rounding post KAS afronding -> debiteuren
    """)
    assert ruleset is not None, diagnostics.format()
    assert {"cash", "vat", "when", "pin"} <= set(ruleset.accounts)
    assert ruleset.rules[1].post.credit.number == "1521"


def test_attributes_spelt_like_keywords_follow_another_condition():
    # `vat` and `source` start statements elsewhere; after a condition they are attributes.
    ruleset, diagnostics = compile_text(COMPLETE + """
        when sale category=lunch vat=high source=web post VRK debiteuren -> brood
        when sale category in (a, b) vat=high post VRK debiteuren -> brood
    """)
    assert ruleset is not None, diagnostics.format()
    assert ruleset.rules[-2].conditions == {"category": {"lunch"}, "vat": {"high"}, "source": {"web"}}


def test_a_syntax_error_points_at_the_token_and_says_what_was_expected():
    _, diagnostics = compile_text(COMPLETE + "when sale category=brood post VRK debiteuren brood\n", "c.rules")
    [error] = diagnostics.errors
    text = error.format()
    line = len((COMPLETE).splitlines()) + 1
    assert text.splitlines()[0] == f"c.rules:{line}:46: error: unexpected 'brood'; expected '->'"
    assert text.splitlines()[1] == "    when sale category=brood post VRK debiteuren brood"
    assert text.splitlines()[2] == "    " + " " * 45 + "^^^^^"


def test_every_syntax_error_of_a_file_comes_in_one_run():
    errors = messages(COMPLETE + """
account bad "1" Naam
journal X cash "X
when sale category=a post VRK debiteuren omzet
vat low 9 code "VL"
""")
    assert len(errors) == 4, errors
    assert "unexpected 'Naam'" in errors[0]
    assert "unterminated string" in errors[1]
    assert "expected '->'" in errors[2]
    assert "expected a VAT rate such as 21%" in errors[3]


def test_no_message_shows_an_anonymous_terminal_name():
    for text in ["when sale x=", "account a 1 (", "vat v 21% code", "group turnover by date,", "when sale x in (a b)"]:
        for m in messages(COMPLETE + text):
            assert "__ANON" not in m and "$END" not in m, m


def test_undeclared_names_are_errors_with_a_suggestion():
    errors = messages(COMPLETE.replace("when cost                    post MEM kostprijs -> voorraad",
                                       "when cost post MEMO kostprys -> voorad"))
    assert "undeclared journal 'MEMO'; did you mean 'MEM'?" in errors[0]
    assert "undeclared account 'kostprys'; did you mean 'kostprijs'?" in errors[1]
    assert "undeclared account 'voorad'" in errors[2]


def test_undeclared_vat_or_method_in_a_condition_is_an_error():
    assert "undeclared VAT name 'low'" in only_error(COMPLETE + "when tax vat=low skip")
    assert "undeclared method 'pin'" in only_error(COMPLETE + "when payment method=pin skip")


def test_duplicate_declarations_are_errors_naming_the_first():
    error = only_error(COMPLETE + 'account kas 1001 "Kas 2"')
    assert "duplicate account 'kas'; first declared at client.rules:8:9" in error
    assert "duplicate journal 'KAS'" in only_error(COMPLETE + 'journal KAS memo "x"')
    assert "duplicate VAT name 'high'" in only_error(COMPLETE + 'vat high 9%')
    assert "duplicate method 'cash'" in only_error(COMPLETE + 'method cash individual')
    assert "'currency' is given twice" in only_error(COMPLETE + 'currency EUR')


def test_a_condition_on_an_attribute_the_fact_kind_lacks_is_an_error():
    error = only_error(COMPLETE + "when sale method=cash post VRK debiteuren -> omzet")
    assert "sale facts have no attribute 'method'" in error


def test_a_misspelt_attribute_is_caught_not_silently_unmatched():
    error = only_error(COMPLETE + "when sale categroy=brood post VRK debiteuren -> brood")
    assert "unknown attribute 'categroy'; did you mean 'category'?" in error


def test_a_free_form_attribute_is_usable_once_declared():
    assert "attribute channel" in only_error(COMPLETE + "when sale channel=web post VRK debiteuren -> brood")
    ruleset, d = compile_text(COMPLETE + "attribute channel\nwhen sale channel=web post VRK debiteuren -> brood")
    assert ruleset is not None, d.format()


def test_ambiguous_rules_name_both_lines_and_an_example_fact():
    text = COMPLETE + """
when sale category=brood   post VRK debiteuren -> brood
when sale store=WEB        post VRK debiteuren -> omzet
"""
    error = only_error(text)
    n = len(COMPLETE.splitlines())
    assert error.startswith(f"{n + 3}:1: ambiguous rules: this rule and the rule at client.rules:{n + 2}")
    assert "`sale category=brood store=WEB`" in error


def test_the_most_specific_rule_is_not_ambiguous():
    ruleset, d = compile_text(COMPLETE + """
when sale category=brood             post VRK debiteuren -> brood
when sale category=brood store=WEB   post VRK debiteuren -> omzet
when sale category in (brood, banket) post VRK debiteuren -> brood
""")
    assert ruleset is not None, d.format()


def test_rules_that_cannot_meet_one_fact_are_not_ambiguous():
    # A method fixes the mode: an invoice payment is never a turnover payment.
    base = COMPLETE.replace("method cash turnover", 'method cash turnover\nmethod invoice individual debtor "1"')
    base = base.replace("when payment method=cash     post KAS kas -> debiteuren", "")
    ruleset, d = compile_text(base + """
when payment method=invoice skip
when payment mode=turnover post KAS kas -> debiteuren
""")
    assert ruleset is not None, d.format()
    error = only_error(base + """
when payment method=invoice skip
when payment mode=individual store=X skip
when payment mode=turnover post KAS kas -> debiteuren
""")
    assert "`payment method=invoice mode=individual store=X`" in error


def test_two_rules_with_the_same_conditions_are_a_duplicate():
    error = only_error(COMPLETE + "when tax post VRK debiteuren -> omzet")
    assert "duplicate rule: same fact kind and conditions as the rule at client.rules:" in error


def test_coverage_method_without_payment_rule_points_at_the_declaration():
    error = only_error(COMPLETE + "method pin turnover")
    assert error.startswith(f"{len(COMPLETE.splitlines()) + 1}:8: method 'pin' has no payment rule")


def test_coverage_vat_without_tax_rule_points_at_the_declaration():
    text = COMPLETE.replace("when tax                     post VRK debiteuren -> btw", "when tax vat=high post VRK debiteuren -> btw")
    error = only_error(text + "vat low 9%")
    assert "VAT 'low' has no tax rule" in error


def test_a_fact_kind_without_rules_is_a_warning_not_an_error():
    text = COMPLETE.replace("when cost                    post MEM kostprijs -> voorraad", "")
    ruleset, diagnostics = compile_text(text)
    assert ruleset is not None
    [warning] = diagnostics.warnings
    assert "no rule books cost facts" in warning.message and "`when cost skip`" in warning.message


def test_a_debtors_account_on_turnover_needs_a_counter_debtor():
    error = only_error(COMPLETE.replace('counter debtor "BALIE"', ""))
    assert "'debiteuren' is a debtors account" in error and "counter debtor" in error


def test_a_fixed_debtor_is_only_for_individual_methods():
    assert "a fixed debtor is for individual methods" in only_error(COMPLETE + 'method pin turnover debtor "1"\nwhen payment method=pin post KAS kas -> debiteuren')


def test_describe_placeholders_are_checked():
    error = only_error(COMPLETE + 'describe turnover "Omzet {date} {register}"')
    assert "unknown placeholder {register}" in error
    ruleset, d = compile_text(COMPLETE + 'group turnover by date, register\ndescribe turnover "Omzet {date} {register}"')
    assert ruleset is not None, d.format()


def test_bad_values_for_fixed_attributes_and_names():
    assert "'refund' is yes or no, never 'ja'" in only_error(COMPLETE + "when sale refund=ja skip")
    assert "unknown fact kind 'sales'" in only_error(COMPLETE + "when sales skip")
    assert "unknown journal type 'bank'" in only_error(COMPLETE + 'journal BNK bank "Bank"')
    assert "cannot group by 'week'" in only_error(COMPLETE + "group turnover by date, week")
    assert "must be digits or a quoted string" in only_error(COMPLETE + "account x 10.5")
    assert "unknown currency 'EURO'" in only_error(COMPLETE.replace("currency EUR", "currency EURO"))
    assert "no currency declared" in only_error(COMPLETE.replace("currency EUR", ""))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_include_pulls_in_a_shared_chart_relative_to_the_including_file(tmp_path):
    rules = tmp_path / "rules"
    write(rules, "common/chart.rules", HEADER.replace("client   \"Test B.V.\"", ""))
    main = write(rules, "acme/client.rules", 'client "Acme"\ninclude "../common/chart.rules"\n' + COMPLETE[len(HEADER):])
    ruleset, d = compile_file(main)
    assert ruleset is not None, d.format()
    assert ruleset.accounts["kas"].pos.file.endswith("common/chart.rules")


def test_include_cycles_and_paths_outside_the_rules_folder_are_errors(tmp_path):
    rules = tmp_path / "rules"
    write(tmp_path, "outside.rules", "")
    write(rules, "a/one.rules", 'include "two.rules"')
    write(rules, "a/two.rules", 'include "one.rules"\ninclude "../../outside.rules"')
    _, d = compile_file(rules / "a" / "one.rules")
    text = "\n".join(x.message for x in d.errors)
    assert "include cycle: one.rules -> two.rules -> one.rules" in text
    assert "is outside the client's rules folder" in text


def run_cli(*args, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "tillpost", *args], capture_output=True, text=True, input=stdin)


def test_check_exits_0_with_warnings_and_2_with_errors(tmp_path):
    ok = write(tmp_path, "ok.rules", COMPLETE.replace("when cost                    post MEM kostprijs -> voorraad", ""))
    result = run_cli("check", str(ok))
    assert result.returncode == 0
    assert f"{ok}:1:1: warning: no rule books cost facts" in result.stderr
    bad = write(tmp_path, "bad.rules", COMPLETE + "when sale post VRK nowhere -> omzet\n")
    result = run_cli("check", str(bad))
    assert result.returncode == 2
    assert f"{bad}:" in result.stderr and "error: undeclared account 'nowhere'" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_of_a_missing_file_is_a_diagnostic_not_a_traceback(tmp_path):
    result = run_cli("check", str(tmp_path / "nope.rules"))
    assert result.returncode == 2
    assert "no such rule file" in result.stderr and "Traceback" not in result.stderr


def test_check_reports_target_settings_the_target_does_not_have(tmp_path, examples):
    rules = tmp_path / "client.rules"
    rules.write_text((examples / "exact-globe.rules").read_text() + 'target exact-globe colour "blue"\n')
    result = run_cli("check", str(rules))
    assert result.returncode == 2
    line = len(rules.read_text().splitlines())
    assert f"{rules}:{line}:20: error: target 'exact-globe' has no setting 'colour'" in result.stderr
