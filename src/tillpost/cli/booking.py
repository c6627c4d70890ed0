"""`tillpost check`, `book` and `explain`: compile rules, book receipts, show why."""

from __future__ import annotations

import sys
from collections.abc import Iterable

import click

from . import cli
from ..api import book, compile_file, iter_json, read_receipts, render_table
from ..engine.diagnostics import Diagnostics
from ..engine.gcpause import gc_paused
from ..engine.receipts import InputError
from ..engine.terminal import printable, printable_lines


def say(text: str) -> None:
    """One message for a person on stderr: whatever a receipt's text holds is shown, never obeyed."""
    click.echo(printable(text), err=True)


def report_errors(errors) -> None:
    """`error: receipt ID (where): message` per receipt in error, on stderr."""
    for err in errors:
        where = f" ({err.where})" if getattr(err, "where", None) else ""
        say(f"error: receipt {err.receipt}{where}: {err.message}")


def print_diagnostics(diagnostics: Diagnostics, fmt: str = "text") -> None:
    if fmt == "json":
        import json

        click.echo(json.dumps([d.as_dict() for d in diagnostics.sorted()], indent=2), err=True)
    elif diagnostics.items:
        click.echo(printable_lines(diagnostics.format()), err=True, nl=False)
        n_err, n_warn = diagnostics.count("error"), diagnostics.count("warning")
        click.echo(f"{n_err} error(s), {n_warn} warning(s)", err=True)


def compile_or_exit(rules: str):
    """Compile RULES; print diagnostics; exit 2 when the rules are unusable."""
    ruleset, diagnostics = compile_file(rules)
    print_diagnostics(diagnostics)
    if ruleset is None:
        sys.exit(2)
    return ruleset


def read_or_exit(path: str, ruleset, source: str | None = None):
    """Read RECEIPTS; exit 2 when the input as a whole is unusable. An input without a single
    receipt is no error (a closed shop's day), but it is said, on stderr."""
    try:
        records = read_receipts(path, ruleset, source)
    except InputError as e:
        say(str(e))
        sys.exit(2)
    if not len(records) and not getattr(records, "closings", None):
        say(f"tillpost: warning: no receipts in {'<stdin>' if path == '-' else path}")
    return records


def write_out(text: str | Iterable[str], out: str | None) -> None:
    """Write TEXT (or its chunks, as they come) to the file OUT, or to stdout."""
    chunks = [text] if isinstance(text, str) else text
    if out and out != "-":
        with open(out, "w", encoding="utf-8") as f:
            for chunk in chunks:
                f.write(chunk)
    else:
        for chunk in chunks:
            click.echo(chunk, nl=False)


@cli.command()
@click.argument("rules", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              help="Diagnostics as text, or as JSON for editors and CI annotations.")
@click.option("--cases", "cases", multiple=True, type=click.Path(exists=True),
              help="Receipt files or folders (a client's cases/): book them, report each receipt that cannot be "
                   "booked as an error, and warn about rules no case matches and facts only a catch-all rule "
                   "caught. Repeatable.")
def check(rules: str, fmt: str, cases: tuple[str, ...]) -> None:
    """Compile RULES and report every problem; exit 0 (warnings only) or 2 (errors).

    Besides the compiler's diagnostics, lint warnings: accounts declared in RULES that
    no rule books on, and with --cases, rules no case matches and facts only a
    catch-all rule caught. With --cases, a case receipt that cannot be booked is an error.
    """
    from ..api import compile_file
    from ..workflow.diff import receipt_files
    from ..workflow.lint import case_errors, lint

    from ..targets import check_target_settings

    ruleset, diagnostics = compile_file(rules)
    if ruleset is not None:
        check_target_settings(ruleset, diagnostics)
        try:
            lint(ruleset, rules, diagnostics, receipt_files(list(cases)))
            case_errors(ruleset, receipt_files(list(cases)), diagnostics)
        except InputError as e:
            print_diagnostics(diagnostics, fmt)
            click.echo(str(e), err=True)
            sys.exit(2)
    print_diagnostics(diagnostics, fmt)
    if ruleset is None or diagnostics.errors:
        sys.exit(2)
    if fmt == "text":
        click.echo(f"{rules}: ok: {len(ruleset.rules)} rules, {len(ruleset.accounts)} accounts, "
                   f"{len(ruleset.journals)} journals", err=True)


@cli.command("book")
@click.argument("rules", type=click.Path(dir_okay=False))
@click.argument("receipts")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True)
@click.option("--source", default=None, help="The source adapter that reads RECEIPTS (see `tillpost sources`).")
@click.option("--target", default=None, help="Render for an accounting package (see `tillpost targets`).")
@click.option("-o", "--out", default=None, help="Write to this file (or folder, for targets that write several).")
def book_cmd(rules: str, receipts: str, fmt: str, source: str | None, target: str | None, out: str | None) -> None:
    """Book RECEIPTS (JSON, JSON Lines, or - for stdin) with RULES and print the journal.

    Exit 0 when every receipt is booked, 1 when some are in `errors` (the rest is
    booked and printed), 2 when the rules or the input as a whole are unusable.
    """
    ruleset = compile_or_exit(rules)
    records = read_or_exit(receipts, ruleset, source)
    # The whole run under one pause of the collector (engine/gcpause.py), and the day's
    # entries let go before it resumes: it would otherwise rescan them all once, for nothing.
    with gc_paused():
        try:
            # A target renders invoices with what the receipts say of their customers.
            result = book(ruleset, records, keep_bookings=bool(target))
        except InputError as e:
            say(str(e))
            sys.exit(2)
        if target:
            from ..targets import render_to

            render_to(result, ruleset, target, out)
        elif fmt == "table":
            write_out(render_table(result, ruleset), out)
        else:
            write_out(iter_json(result, ruleset), out)  # streamed: a day's journal is never held whole
        report_errors(result.errors)
        for err in result.closing_errors:
            say(f"error: closing {err.closing}: {err.message}")
        ok = result.ok
        del result
    sys.exit(0 if ok else 1)


@cli.command()
@click.argument("rules", type=click.Path(dir_okay=False))
@click.argument("receipts")
@click.option("--receipt", "receipt_ids", required=True, multiple=True,
              help="The id of a receipt (or till closing) to explain (repeatable, or comma-separated).")
@click.option("--source", default=None, help="The source adapter that reads RECEIPTS.")
def explain(rules: str, receipts: str, receipt_ids: tuple[str, ...], source: str | None) -> None:
    """Show, for each receipt named, each fact, the rule (file:line) that matched it, and the lines it produced.

    For a till closing also how it reconciles with the receipts of its register in RECEIPTS.
    Exit 1 when a receipt named is not in RECEIPTS (the others are still explained).
    """
    from ..api import explain_receipts

    ruleset = compile_or_exit(rules)
    records = read_or_exit(receipts, ruleset, source)
    wanted = list(dict.fromkeys(v for value in receipt_ids for v in value.split(",") if v))
    if not wanted:
        raise click.UsageError("--receipt needs the id of a receipt in RECEIPTS")
    try:
        text, missing = explain_receipts(ruleset, records, wanted)
    except InputError as e:
        say(str(e))
        sys.exit(2)
    click.echo(printable_lines(text), nl=False)
    for rid in missing:
        say(f"tillpost: receipt {rid}: not in {'<stdin>' if receipts == '-' else receipts}")
    if missing:
        sys.exit(1)

