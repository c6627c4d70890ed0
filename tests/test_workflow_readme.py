"""The README's "Your first client in ten minutes", followed to the letter in a scratch folder.

The walk-through's blocks are its steps, in order:
- ```sh: commands, run with bash (a failing command does not stop the walk: the
  first `pytest rules/` is meant to fail);
- ```rules PATH / ```json PATH: write the file;
- ```diff PATH: change the `-` lines of the file into the `+` lines;
- ```text: what the commands just run print: each line appears, in order,
  `…` standing for anything.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Your first client in ten minutes"
BLOCK = re.compile(r"```(\w+)( [^\n]*)?\n(.*?)```", re.S)


def walkthrough() -> list[tuple[str, str, str]]:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return [(m.group(1), (m.group(2) or "").strip(), m.group(3)) for m in BLOCK.finditer(text[start:end])]


def apply_diff(path: Path, diff: str) -> None:
    removed = [l[1:] for l in diff.splitlines() if l.startswith("-")]
    added = [l[1:] for l in diff.splitlines() if l.startswith("+")]
    text = path.read_text(encoding="utf-8")
    old, new = "\n".join(removed) + "\n", "\n".join(added) + "\n"
    assert text.count(old) == 1, f"the README's change does not apply to {path}: {old!r}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def assert_shows(expected: str, output: str) -> None:
    lines = output.splitlines()
    at = 0
    for want in expected.splitlines():
        if want.strip() in ("", "…"):
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("…")))
        for i in range(at, len(lines)):
            if pattern.search(lines[i]):
                at = i + 1
                break
        else:
            raise AssertionError(f"the README says the output shows\n  {want}\nbut it was:\n{output}")


def test_the_walkthrough_works_to_the_letter(tmp_path):
    steps = walkthrough()
    assert [s[0] for s in steps].count("sh") >= 5
    env = {**os.environ,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "GIT_AUTHOR_NAME": "Consultant", "GIT_AUTHOR_EMAIL": "consultant@example.org",
           "GIT_COMMITTER_NAME": "Consultant", "GIT_COMMITTER_EMAIL": "consultant@example.org",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "COLUMNS": "80",
           "PYTEST_ADDOPTS": "-p no:cacheprovider"}
    env.pop("TILLPOST_DEBUG", None)
    cwd = tmp_path
    output = ""
    for lang, name, body in steps:
        if lang == "sh":
            script = f"{body}\npwd > {tmp_path / '.cwd'}\n"
            done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=300)
            output = done.stdout  # stdout and stderr as a terminal shows them
            assert "Traceback" not in output, output
            cwd = Path((tmp_path / ".cwd").read_text().strip())
        elif lang == "text":
            assert_shows(body, output)
        elif lang == "diff":
            apply_diff(cwd / name, body)
        elif name:
            (cwd / name).parent.mkdir(parents=True, exist_ok=True)
            (cwd / name).write_text(body, encoding="utf-8")
    # Where the walk ends: the lock holds the new account, committed, and the cases pass.
    assert cwd.name == "shop-books"
    assert '"account": "8010"' in (cwd / "rules" / "acme" / "locked" / "monday.ambr").read_text()
    log = subprocess.run(["git", "log", "--format=%s"], cwd=cwd, env=env, capture_output=True, text=True).stdout
    assert log.splitlines() == ["Acme Koffie: coffee revenue on 8010", "Acme Koffie: rules and a first case"]
    status = subprocess.run(["git", "status", "--porcelain", "rules"], cwd=cwd, env=env, capture_output=True, text=True)
    assert status.stdout == ""


@pytest.mark.parametrize("fmt", ["rules"])
def test_the_walkthroughs_rule_file_is_formatted(fmt):
    from tillpost.workflow.fmt import format_text

    rules = next(body for lang, name, body in walkthrough() if lang == fmt)
    assert format_text(rules) == rules
