"""`tillpost fmt`, `diff` and `test`: the consultant's workflow around a repository of client folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from . import cli


def _rule_files(paths: tuple[str, ...]) -> list[Path]:
    """The rule files named; a folder stands for every *.rules file below it."""
    out = []
    for p in map(Path, paths):
        out.extend(sorted(p.rglob("*.rules")) if p.is_dir() else [p])
    return out


@cli.command("fmt")
@click.argument("rules", nargs=-1, required=True, type=click.Path())
@click.option("--check", is_flag=True, help="Change nothing; exit 1 when a file is not in canonical layout (for CI).")
def fmt_cmd(rules: tuple[str, ...], check: bool) -> None:
    """Rewrite RULES files (or every *.rules file in a folder) in place in the canonical layout.

    Exit 0 when all is formatted (or, with --check, already was), 1 with --check when a
    file is not, 2 when a file cannot be read or does not parse (it is left alone).
    """
    from ..workflow.fmt import FormatError, format_text
    from .booking import print_diagnostics

    from ..engine.diagnostics import Diagnostics
    from ..engine.rulefiles import decode_rules

    unusable = unformatted = 0
    for path in _rule_files(rules):
        try:
            data = path.read_bytes()
        except OSError as e:
            click.echo(f"{path}: cannot read: {e.strerror or e}", err=True)
            unusable += 1
            continue
        diagnostics = Diagnostics()
        text = decode_rules(data, str(path), diagnostics)
        if text is None:  # not UTF-8: said where, and left alone
            print_diagnostics(diagnostics)
            unusable += 1
            continue
        if data.startswith(b"\xef\xbb\xbf"):
            text = "\ufeff" + text  # the mark is no part of the layout: fmt drops it
        try:
            formatted = format_text(text, str(path))
        except FormatError as e:
            if e.diagnostics is not None:
                print_diagnostics(e.diagnostics)
            click.echo(str(e), err=True)
            unusable += 1
            continue
        if formatted == text:
            continue
        unformatted += 1
        if check:
            click.echo(f"{path}: not formatted (run `tillpost fmt {path}`)", err=True)
        else:
            path.write_text(formatted, encoding="utf-8")
            click.echo(f"formatted {path}", err=True)
    if unusable:
        sys.exit(2)
    if check and unformatted:
        sys.exit(1)


@cli.command("diff")
@click.argument("old")
@click.argument("new")
@click.argument("receipts", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True,
              help="markdown renders as tables in a pull request comment.")
def diff_cmd(old: str, new: str, receipts: tuple[str, ...], fmt: str) -> None:
    """The journal lines a rule change alters: book RECEIPTS with OLD and NEW rules.

    OLD and NEW are rule files, or git:REV:path for a file as it was at a git revision
    (git:HEAD:rules/acme/client.rules). RECEIPTS are receipt files or folders of them
    (a client's cases folder). Per entry, `-` lines are booked by OLD only and `+`
    lines by NEW only. Exit 0 when nothing changes, 1 when something does, 2 when a
    version does not compile or the receipts cannot be read.
    """
    from ..engine.receipts import InputError
    from ..workflow.diff import VersionError, diff_books, render_markdown, render_text
    from .booking import print_diagnostics, printable_lines, say

    try:
        result = diff_books(old, new, list(receipts))
    except VersionError as e:
        if e.diagnostics is not None:
            print_diagnostics(e.diagnostics)
        say(f"tillpost diff: {e}")
        sys.exit(2)
    except InputError as e:
        say(str(e))
        sys.exit(2)
    render = render_markdown if fmt == "markdown" else render_text
    click.echo(printable_lines(render(result.changes, result.errors)), nl=False)
    click.echo(result.summary())
    sys.exit(1 if result.changed else 0)


@cli.command("test", context_settings={"ignore_unknown_options": True})
@click.argument("path", default="rules", required=False)
@click.option("--update", is_flag=True, help="Accept the booked output as the new locked output (--snapshot-update).")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def test_cmd(path: str, update: bool, pytest_args: tuple[str, ...]) -> None:
    """Book every case of every client folder in PATH (default: rules) and compare with the locked output.

    A thin wrapper around `pytest PATH`; further arguments go to pytest
    (`tillpost test rules/acme -k weekday`). Exit code is pytest's: 0 all cases
    match, 1 some differ.
    """
    if not Path(path).exists():
        click.echo(f"tillpost test: {path}: no such folder", err=True)
        sys.exit(4)
    args = [sys.executable, "-m", "pytest", path, *pytest_args]
    if update:
        args.append("--snapshot-update")
    sys.exit(subprocess.call(args))
