"""docs/rules.md shows the diagnostics `tillpost check` really gives.

Every ```rules block followed by a ```console block whose first line is
`$ tillpost check …` is written to a scratch folder (as the file the command
names, next to the chart the examples include) and checked; the console block
must be exactly what the command prints. After changing a message in the
compiler, regenerate the blocks with

    TILLPOST_UPDATE_DOCS=1 pytest tests/test_workflow_docs.py

and read the diff of docs/rules.md before committing it.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from tillpost.cli import cli
from tillpost.cli import booking, workflow  # noqa: F401  (they register the commands)

DOC = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
BLOCK = re.compile(r"```(\w+)( [^\n]*)?\n(.*?)```", re.S)  # ```lang [file name]
HOME = "/home/consultant"  # where the examples' rules folder is shown to be
FILE_NAMED = re.compile(r"^# (\S+\.rules)\s*$")  # a rules block whose first line names its file


def _examples(text: str):
    """(rules files written so far, console block match) pairs, in document order."""
    files: dict[str, str] = {}
    last_rules = None
    for m in BLOCK.finditer(text):
        lang, name, body = m.group(1), (m.group(2) or "").strip(), m.group(3)
        if name:  # ```json cases/day.json: a file the examples after it use
            files[name] = body
        elif lang == "rules":
            first = body.split("\n", 1)[0]
            named = FILE_NAMED.match(first)
            if named:  # a shared file (the chart) stays for the examples after it
                files[named.group(1)] = body
                last_rules = None
            else:
                last_rules = body
        elif lang == "console" and body.startswith("$ tillpost check") and last_rules is not None:
            yield dict(files), last_rules, m
            last_rules = None


def _run(files: dict[str, str], rules: str, command: str, folder: Path) -> str:
    args = shlex.split(command)[1:]  # after `tillpost`
    for name, body in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(body, encoding="utf-8")
    (folder / "acme.rules").write_text(rules, encoding="utf-8")  # the examples' file is always acme.rules
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(cli, args)
    finally:
        os.chdir(cwd)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    # A message naming a folder names it absolutely: show a consultant's home, not the scratch folder.
    output = result.output.replace(str(folder.parent.resolve()), HOME)
    return f"$ {' '.join(['tillpost', *args])}\n{output}"


def _expected_and_actual(tmp_path: Path):
    text = DOC.read_text(encoding="utf-8")
    for i, (files, rules, m) in enumerate(_examples(text)):
        folder = tmp_path / f"example{i}" / "rules"  # a client's rules folder, which includes may not leave
        folder.mkdir(parents=True)
        command = m.group(3).split("\n", 1)[0][2:]
        yield m, m.group(3), _run(files, rules, command, folder)


def test_the_language_reference_shows_the_diagnostics_check_gives(tmp_path):
    results = list(_expected_and_actual(tmp_path))
    assert len(results) >= 30, "docs/rules.md lost its examples"
    if os.environ.get("TILLPOST_UPDATE_DOCS"):
        text = DOC.read_text(encoding="utf-8")
        for m, _, actual in reversed(results):
            text = text[: m.start(3)] + actual + text[m.end(3):]
        DOC.write_text(text, encoding="utf-8")
        pytest.skip("docs/rules.md regenerated; review its diff")
    for _, expected, actual in results:
        assert actual == expected


def test_every_compiler_message_is_documented():
    """Each kind of diagnostic the compiler can give appears in the reference."""
    doc = DOC.read_text(encoding="utf-8")
    for phrase in ["unexpected", "unterminated string", "is given twice", "unknown currency", "cannot group by",
                   "unknown placeholder", "unknown journal type", "must be digits or a quoted string",
                   "is also declared as", "duplicate account", "must be below 100%", "a fixed debtor is for individual",
                   "is a built-in fact attribute", "cannot map a source's", "unknown fact kind", "facts have no attribute",
                   "unknown attribute", "is constrained twice", "undeclared VAT name", "undeclared method", "never '",
                   "undeclared journal", "undeclared account", "this rule books nothing", "no currency declared",
                   "is a debtors account and turnover entries need a debtor", "has no payment rule", "has no tax rule",
                   "no rule books", "duplicate rule", "ambiguous rules", "is outside the client's rules folder",
                   "include cycle", "no such file", "is declared but no rule books on it",
                   "no fact of the cases matches this rule", "only this catch-all rule booked",
                   "of target", "unknown mode", "`with` is for individual methods", "is this method itself",
                   "is individual too", "must credit a debtors account", "in an individual receipt",
                   "a till closing has no debtor", "of a till closing always have",
                   "a movement is payin, payout or deposit", "a till closing with one will be an error",
                   # the diagnostics of issue 10: templates, skips, includes, bytes, recovery, repeats, lint
                   "a placeholder takes no format", "names no field", "a placeholder is a plain name",
                   "cannot be skipped", "is a folder, not a rule file", "a path cannot contain a NUL character",
                   "loops back on itself", "nests includes more than", "is not UTF-8 text", "did you mean 'account'?",
                   "is not a condition (attribute=value)", "more like this in", "its sides look swapped",
                   "case receipt", "add a rule for their overlap", "did you mean 'twinfield'?"]:
        assert phrase in doc, phrase
