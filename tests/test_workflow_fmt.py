"""`tillpost fmt`: one canonical layout, comments kept, meaning never changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tillpost.api import compile_file, compile_text
from tillpost.cli import cli
from tillpost.cli import workflow  # noqa: F401  (registers the commands)
from tillpost.workflow.fmt import FormatError, _parse_with_comments, _tokens, format_text

RULES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules"
EXAMPLES = RULES / "examples"
SHIPPED = [RULES / "common" / "rgs.rules", RULES / "fietsen-devries" / "client.rules",
           RULES / "bistro-zuid" / "client.rules"]


def meaning(ruleset) -> dict:
    """What a compiled rule file says, without where it says it."""
    def plain(obj):
        return {k: v for k, v in vars(obj).items() if k != "pos"}

    return {
        "client": ruleset.client, "currency": ruleset.currency, "counter": ruleset.counter_debtor,
        "group": ruleset.group_by, "describe": ruleset.describe, "attributes": ruleset.attributes,
        "journals": {k: plain(v) for k, v in ruleset.journals.items()},
        "accounts": {k: plain(v) for k, v in ruleset.accounts.items()},
        "vats": {k: plain(v) for k, v in ruleset.vats.items()},
        "methods": {k: plain(v) for k, v in ruleset.methods.items()},
        "rules": [(r.kind, r.conditions, r.text, r.post and (r.post.journal.name, r.post.debit.name, r.post.credit.name))
                  for r in ruleset.rules],
        "targets": ruleset.targets,
        "sources": [plain(s) for s in ruleset.sources],
    }


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_the_bakery_in_canonical_layout(snapshot):
    text = (EXAMPLES / "bakery.rules").read_text()
    assert format_text(text) == snapshot


def test_shipped_rule_files_are_formatted_and_fmt_check_says_so():
    result = run("fmt", "--check", *map(str, SHIPPED))
    assert result.exit_code == 0, result.output
    for path in SHIPPED:
        assert format_text(path.read_text()) == path.read_text()


def test_formatting_a_client_with_includes_compiles_to_the_same_rules(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES / "common", rules / "common")
    shutil.copytree(RULES / "bistro-zuid", rules / "bistro-zuid")
    client = rules / "bistro-zuid" / "client.rules"
    def mess(line: str) -> str:  # more whitespace between the words, comments untouched
        code, hash_, comment = line.partition("#")
        return "   " + code.replace(" ", " \t  ", 1) + hash_ + comment

    messy = "\n".join(mess(line) for line in client.read_text().splitlines())
    client.write_text(messy)
    before, _ = compile_file(client)
    assert run("fmt", str(rules)).exit_code == 0
    after, _ = compile_file(client)
    assert client.read_text() == (RULES / "bistro-zuid" / "client.rules").read_text()
    assert meaning(after) == meaning(before)


def test_layout_one_statement_a_line_comments_kept_blank_lines_collapsed():
    text = ('# head\n\n\n\ncurrency EUR client "X" # on the line of two statements\n'
            "journal K cash  journal MEMO memo \"Memoriaal\"\n"
            "account kas 1000\n  account debiteuren 1300 \"Debiteuren\" debtors   # receivables\n"
            "vat high 21%\nvat low 9% code \"VL\"\n"
            "method cash turnover\n"
            "when payment # inside a statement\n   method = cash\n post K kas->debiteuren\n")
    assert format_text(text) == (
        "# head\n"
        "\n"
        "currency EUR\n"
        'client "X"                                    # on the line of two statements\n'
        "journal K    cash\n"
        'journal MEMO memo "Memoriaal"\n'
        "account kas        1000\n"
        'account debiteuren 1300 "Debiteuren" debtors  # receivables\n'
        "vat high 21%\n"
        'vat low   9% code "VL"\n'
        "method cash turnover\n"
        "# inside a statement\n"
        "when payment method=cash post K kas -> debiteuren\n")


def test_a_file_that_does_not_parse_is_left_alone_with_its_diagnostics(tmp_path):
    path = tmp_path / "broken.rules"
    text = "currency EUR\naccount kas\nwhen sale post VRK a ->\n"
    path.write_text(text)
    result = run("fmt", str(path))
    assert result.exit_code == 2
    assert f"{path}:3:1: error: unexpected end of file" not in result.output  # the parse error names a line
    assert f"{path}:3:1: error:" in result.output or f"{path}:2:12: error:" in result.output
    assert "does not parse; not formatted" in result.output
    assert path.read_text() == text
    with pytest.raises(FormatError):
        format_text(text)


def test_fmt_check_exits_1_and_changes_nothing_then_fmt_rewrites(tmp_path):
    path = tmp_path / "a.rules"
    text = "currency   EUR\n"
    path.write_text(text)
    result = run("fmt", "--check", str(path))
    assert result.exit_code == 1
    assert f"{path}: not formatted" in result.output
    assert path.read_text() == text
    assert run("fmt", str(path)).exit_code == 0
    assert path.read_text() == "currency EUR\n"
    assert run("fmt", "--check", str(path)).exit_code == 0


# -- the property: any layout of the same words formats to the same fixed point -----

def _statement_tokens(text: str) -> list[list[str]]:
    tree, _ = _parse_with_comments(text)
    return [[t.value for t in _tokens(s)] for s in tree.children]


WITHIN = st.sampled_from([" ", "  ", "\t", "\n", " \n   ", "\n\n"])
BETWEEN = st.sampled_from(["\n", "\n\n", " ", "\n\n\n", "  \n\t"])
COMMENT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12).map(lambda s: "#" + s)


@st.composite
def relaid(draw, statements):
    """The same statements with other whitespace between their words, and comments sprinkled in."""
    out = []
    for words in statements:
        for i, word in enumerate(words):
            out.append(word)
            sep = draw(WITHIN if i < len(words) - 1 else BETWEEN)
            if draw(st.integers(0, 9)) == 0:
                sep = " " + draw(COMMENT) + "\n" + sep
            out.append(sep)
    return "".join(out)


@pytest.mark.parametrize("example", ["bakery.rules", "exact-globe.rules"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fmt_is_idempotent_and_keeps_meaning_and_comments(example, data):
    original = (EXAMPLES / example).read_text()
    text = data.draw(relaid(_statement_tokens(original)))
    once = format_text(text)
    assert format_text(once) == once
    before, _ = compile_text(text)
    after, _ = compile_text(once)
    assert before is not None and after is not None
    assert meaning(after) == meaning(before)
    comments = [c.value.rstrip() for c in _parse_with_comments(text)[1]]
    assert [c.value for c in _parse_with_comments(once)[1]] == comments


def test_fmt_keeps_the_meaning_of_every_shipped_rule_file(tmp_path):
    """Every rule file in src/tillpost/rules, formatted in a copy, compiles to the same rules."""
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.json", "*.ambr", "*.py"))
    files = sorted(copy.rglob("*.rules"))
    assert len(files) >= 5
    originals = {path: compile_file(path)[0] for path in files}
    for path in files:
        path.write_text(format_text(path.read_text(), str(path)))
    for path in files:
        before, after = originals[path], compile_file(path)[0]
        if before is not None:  # an example still being written may not compile yet
            assert meaning(after) == meaning(before), path
