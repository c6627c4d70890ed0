"""`tillpost diff OLD NEW RECEIPTS…`: the journal lines a rule change alters."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tillpost.cli import cli
from tillpost.cli import workflow  # noqa: F401  (registers the commands)

RULES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules"


@pytest.fixture
def rules(tmp_path, monkeypatch) -> Path:
    """A consultancy's rules folder with the two example clients; the current folder is its parent."""
    folder = tmp_path / "rules"
    for name in ("common", "fietsen-devries", "bistro-zuid"):
        shutil.copytree(RULES / name, folder / name)
    monkeypatch.chdir(tmp_path)
    return folder


def edited(path: Path, old: str, new: str, to: Path | None = None) -> Path:
    text = path.read_text()
    assert old in text
    target = to or path
    target.write_text(text.replace(old, new))
    return target


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_renumbering_an_account_shows_exactly_the_lines_that_move(rules):
    client = rules / "fietsen-devries" / "client.rules"
    new = edited(client, 'omzet_overig     8090 "Omzet overig"', 'omzet_overig     8095 "Omzet overig"',
                 to=rules / "fietsen-devries" / "new.rules")
    result = run("diff", "rules/fietsen-devries/client.rules", "rules/fietsen-devries/new.rules",
                 "rules/fietsen-devries/cases")
    assert result.exit_code == 1
    assert result.output == """\
rules/fietsen-devries/cases/cash-rounding.json · VRK · 2026-11-23 · Dagomzet 2026-11-23 AMS02
     account  name          debtor  vat   debit  credit
  -  8090     Omzet overig          high           6.60
  +  8095     Omzet overig          high           6.60

rules/fietsen-devries/cases/weekday.json · VRK · 2026-11-20 · Dagomzet 2026-11-20 AMS02
     account  name          debtor  vat  debit  credit
  -  8090     Omzet overig          low           8.21
  +  8095     Omzet overig          low           8.21

rules/fietsen-devries/cases/weekday.json · VRK · 2026-11-20 · Dagomzet 2026-11-20 UTR01
     account  name          debtor  vat   debit  credit
  -  8090     Omzet overig          high          14.88
  -  8090     Omzet overig          low            8.21
  +  8095     Omzet overig          high          14.88
  +  8095     Omzet overig          low            8.21

3 entries changed (8 line(s) -/+), 0 receipt error line(s) changed, in 4 receipt file(s)
"""
    assert new.exists()


def test_the_same_rules_change_nothing_and_exit_0(rules):
    client = "rules/bistro-zuid/client.rules"
    result = run("diff", client, client, "rules/bistro-zuid/cases/friday-evening.json")
    assert result.exit_code == 0
    assert result.output == "no journal line changes in 1 receipt file(s)\n"


def test_booking_costs_that_were_skipped_adds_entries_and_markdown_renders_them(rules):
    client = rules / "bistro-zuid" / "client.rules"
    edited(client, "when cost                                     skip",
           "when cost post MEM kostprijs -> voorraad", to=rules / "bistro-zuid" / "new.rules")
    result = run("diff", str(client), "rules/bistro-zuid/new.rules", "rules/bistro-zuid/cases/thuisbezorgd.json",
                 "--format", "markdown")
    assert result.exit_code == 1, result.output
    assert "(new entry)" in result.output
    assert "| + | 7000 | Kostprijs omzet |  |  | 5.80 |  |" in result.output
    assert "| + | 3000 | Voorraad handelsgoederen |  |  |  | 5.80 |" in result.output
    assert "| - |" not in result.output  # nothing booked before is gone


def test_a_method_dropped_from_the_rules_turns_receipts_into_errors(rules):
    client = rules / "fietsen-devries" / "client.rules"
    new = rules / "fietsen-devries" / "new.rules"
    edited(client, "method creditcard turnover\n", "", to=new)
    edited(new, "method in (pin, creditcard)", "method=pin")
    result = run("diff", str(client), str(new), "rules/fietsen-devries/cases/weekday.json")
    assert result.exit_code == 1
    assert "rules/fietsen-devries/cases/weekday.json · receipts in errors\n" \
           "  + UTR01-K2-5004: payment method 'creditcard' is not declared in the rule file\n" in result.output
    assert "(entry gone)" not in result.output


def test_a_new_version_that_does_not_compile_exits_2_with_its_diagnostics(rules):
    client = rules / "fietsen-devries" / "client.rules"
    new = edited(client, "-> omzet_fietsen", "-> omzet_fietsn", to=rules / "fietsen-devries" / "new.rules")
    result = run("diff", str(client), str(new), "rules/fietsen-devries/cases")
    assert result.exit_code == 2
    assert "error: undeclared account 'omzet_fietsn'; did you mean 'omzet_fietsen'?" in result.output
    assert f"tillpost diff: {new} does not compile" in result.output


def _git(*args, cwd):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


@pytest.mark.skipif(shutil.which("git") is None and not os.environ.get("TILLPOST_REQUIRE_TOOLS"), reason="git is not installed; install it to run this test (apt-get install git)")
def test_git_revision_reads_the_rules_folder_as_it_was_includes_too(rules, tmp_path):
    _git("init", "-q", "-b", "main", cwd=tmp_path)
    _git("add", "rules", cwd=tmp_path)
    _git("commit", "-q", "-m", "clients", cwd=tmp_path)
    # The change is in the shared chart, not in the client's own file.
    edited(rules / "common" / "rgs.rules", 'account kas        1000 "Kas"', 'account kas        1001 "Kas"')
    result = run("diff", "git:HEAD:rules/bistro-zuid/client.rules", "rules/bistro-zuid/client.rules",
                 "rules/bistro-zuid/cases/friday-evening.json")
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[:4] == [
        "rules/bistro-zuid/cases/friday-evening.json · KAS · 2026-11-20 · Dagomzet 2026-11-20 ZUID",
        "     account  name  debtor  vat  debit  credit",
        "  -  1000     Kas                84.50",
        "  +  1001     Kas                84.50",
    ]
    missing = run("diff", "git:HEAD:rules/bistro-zuid/nothing.rules", "rules/bistro-zuid/client.rules",
                  "rules/bistro-zuid/cases")
    assert missing.exit_code == 2
    assert "'rules/bistro-zuid/nothing.rules' does not exist at HEAD" in missing.output
    bad_rev = run("diff", "git:no-such-rev:rules/bistro-zuid/client.rules", "rules/bistro-zuid/client.rules",
                  "rules/bistro-zuid/cases")
    assert bad_rev.exit_code == 2
    assert "Traceback" not in bad_rev.output
