"""The pytest plugin: client folders' cases are snapshot-locked tests; and the lint of `check`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tillpost.cli import cli
from tillpost.cli import booking, workflow  # noqa: F401  (they register the commands)
from tillpost.workflow.cases import book_case, case_files, is_client_folder, locked_path

RULES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules"


@pytest.fixture
def repo(tmp_path) -> Path:
    """A consultancy's repository: rules/ with the two example clients and their locked output."""
    for name in ("common", "fietsen-devries", "bistro-zuid"):
        shutil.copytree(RULES / name, tmp_path / "rules" / name)
    return tmp_path


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=folder,
                          capture_output=True, text=True, timeout=120)


def test_client_folders_and_their_cases():
    assert is_client_folder(RULES / "bistro-zuid")
    assert not is_client_folder(RULES / "common")
    assert not is_client_folder(RULES / "examples")
    assert [p.name for p in case_files(RULES / "bistro-zuid")] == [
        "awkward-day.json", "friday-evening.json", "thuisbezorgd.json"]
    assert locked_path(RULES / "bistro-zuid" / "cases" / "awkward-day.json") == RULES / "bistro-zuid" / "locked" / "awkward-day.ambr"


def test_every_case_is_an_item_named_client_case_and_passes_against_its_lock(repo):
    done = pytest_in(repo, "rules", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    for item in ["rules/bistro-zuid::awkward-day", "rules/bistro-zuid::friday-evening",
                 "rules/bistro-zuid::thuisbezorgd", "rules/fietsen-devries::business-invoices",
                 "rules/fietsen-devries::cash-rounding", "rules/fietsen-devries::refund-void-open",
                 "rules/fietsen-devries::weekday"]:
        assert f"{item} PASSED" in done.stdout
    assert "7 passed" in done.stdout
    assert "18 snapshots passed" in done.stdout  # json + table per case, plus exact-online for fietsen


def test_rules_that_do_not_compile_fail_their_clients_cases_with_diagnostics_not_a_traceback(repo):
    client = repo / "rules" / "bistro-zuid" / "client.rules"
    client.write_text(client.read_text().replace("-> omzet_keuken", "-> omzet_kuken"))
    broken_case = repo / "rules" / "fietsen-devries" / "cases" / "weekday.json"
    broken_case.write_text('[{"id": "x",')
    done = pytest_in(repo, "rules")
    assert done.returncode == 1
    out = done.stdout
    assert "4 failed, 3 passed" in out  # the restaurant's three, and the unreadable case
    assert "rules/bistro-zuid/client.rules does not compile, so no case of this client can be booked:" in out
    assert "error: undeclared account 'omzet_kuken'; did you mean 'omzet_keuken'?" in out
    assert "rules/fietsen-devries/cases/weekday.json: cannot be read:" in out
    assert "Traceback" not in out and "tillpost/workflow/plugin.py" not in out


def test_a_change_fails_with_the_changed_lines_and_snapshot_update_accepts_it(repo):
    client = repo / "rules" / "bistro-zuid" / "client.rules"
    client.write_text(client.read_text().replace('account fooien          1610', 'account fooien          1620'))
    done = pytest_in(repo, "rules", "-k", "friday")
    assert done.returncode == 1
    out = done.stdout
    assert "rules/bistro-zuid::friday-evening: the booked output differs from the locked output in" in out
    assert '-           "account": "1610",\n' in out and '+           "account": "1620",\n' in out
    assert "- │ 1610    │ Te betalen fooien" in out and "+ │ 1620    │ Te betalen fooien" in out
    assert "1 failed" in out
    assert pytest_in(repo, "rules", "--snapshot-update").returncode == 0
    assert "1620" in (repo / "rules" / "bistro-zuid" / "locked" / "friday-evening.ambr").read_text()
    assert pytest_in(repo, "rules").returncode == 0


def test_a_new_case_fails_until_accepted_and_a_deleted_cases_lock_goes_with_update(repo):
    cases = repo / "rules" / "bistro-zuid" / "cases"
    shutil.copy(cases / "friday-evening.json", cases / "saturday.json")
    (cases / "awkward-day.json").unlink()
    done = pytest_in(repo, "rules")
    assert done.returncode == 1
    assert "Snapshot 'saturday[json]' does not exist!" in done.stdout
    assert "unused" in done.stdout  # the lock of the deleted case
    assert pytest_in(repo, "rules", "--snapshot-update").returncode == 0
    locked = repo / "rules" / "bistro-zuid" / "locked"
    assert (locked / "saturday.ambr").is_file()
    assert not (locked / "awkward-day.ambr").exists()
    assert pytest_in(repo, "rules").returncode == 0


def test_tillpost_test_wraps_pytest(repo, monkeypatch):
    done = subprocess.run([sys.executable, "-c", "from tillpost.cli import main; main()", "test", "rules", "-q"],
                          cwd=repo, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 passed" in done.stdout


def test_the_locked_output_is_what_booking_the_case_gives():
    """The shipped locks hold the json and table of book_case, nothing else."""
    from tillpost.api import load_rules

    ruleset = load_rules(RULES / "bistro-zuid" / "client.rules")
    output = book_case(ruleset, RULES / "bistro-zuid" / "cases" / "thuisbezorgd.json")
    assert [name for name, _ in output.parts()] == ["json", "table"]
    payload = json.loads(output.json)
    assert [e["key"] for e in payload["entries"]] == ["2026-11-20/ZUID", "2026-11-20/ZUID", "ZUID-W1-3101",
                                                      "ZUID-W1-3102", "ZUID-W1-3104"]


# -- lint warnings in `tillpost check` ----------------------------------------------

def check(*args):
    return CliRunner().invoke(cli, ["check", *args])


def test_check_with_cases_warns_about_facts_only_the_catch_all_caught():
    rules = str(RULES / "fietsen-devries" / "client.rules")
    cases = RULES / "fietsen-devries" / "cases"
    result = check(rules, "--cases", str(cases))
    assert (f"{rules}:28:1: warning: only this catch-all rule booked sale facts with `category=\"\"` "
            "(weekday.json UTR01-K2-5004 and 1 more); `category=accessoires` (cash-rounding.json AMS02-K1-7101 "
            "and 1 more); give them a rule of their own if they are not meant to land here") in result.output
    # The awkward cases hold receipts `book` refuses: check says so, as book would, and fails.
    assert result.exit_code == 2
    assert (f"{cases / 'cash-rounding.json'}:62:9: error: case receipt AMS02-K1-7103 cannot be booked: "
            "payment method 'ideal' is not declared in the rule file") in result.output
    assert "2 error(s), 1 warning(s)" in result.output  # 5204 is booked since `with pin` (bb1bfd0)


def test_check_json_diagnostics_carry_the_lint_warnings_with_their_lines(tmp_path):
    rules = tmp_path / "rules" / "bistro-zuid"
    shutil.copytree(RULES / "bistro-zuid", rules)
    shutil.copytree(RULES / "common", tmp_path / "rules" / "common")
    client = rules / "client.rules"
    client.write_text(client.read_text().replace(
        'account fooien          1610 "Te betalen fooien"',
        'account fooien          1610 "Te betalen fooien"\naccount statiegeld 1630 "Statiegeld"'))
    result = check(str(client), "--format", "json", "--cases", str(rules / "cases" / "friday-evening.json"))
    assert result.exit_code == 0
    diagnostics = json.loads(result.output[: result.output.rindex("]") + 1])
    assert {(d["line"], d["severity"], d["message"]) for d in diagnostics} == {
        (15, "warning", "account 'statiegeld' (1630) is declared but no rule books on it"),
        (25, "warning", "no fact of the cases matches this rule (31 facts of 6 receipt(s)); add a case that needs it, or remove it"),
        (32, "warning", "no fact of the cases matches this rule (31 facts of 6 receipt(s)); add a case that needs it, or remove it"),
    }
    lines = client.read_text().splitlines()
    assert lines[24].startswith("when sale     category=keuken mode=individual")
    assert lines[31].startswith("when payment  method=thuisbezorgd")
    assert lines[32].startswith("when cost")  # `when cost skip` says there are none: not reported


def test_check_without_cases_reports_only_unused_accounts_of_the_file_itself():
    # The shared chart declares accounts the restaurant never uses (pin is used, voorraad is not).
    result = check(str(RULES / "bistro-zuid" / "client.rules"))
    assert result.exit_code == 0
    assert "warning" not in result.output


def test_check_with_unreadable_cases_exits_2(tmp_path):
    bad = tmp_path / "day.json"
    bad.write_text("{")
    result = check(str(RULES / "bistro-zuid" / "client.rules"), "--cases", str(bad))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
