"""`tillpost check`, `book` and `explain`: compile rules, book receipts, show why."""

from __future__ import annotations

import sys

import click

from . import cli
from ..api import book, compile_file, explain_receipt, read_receipts, render_table, to_json
from ..engine.diagnostics import Diagnostics
from ..engine.receipts import InputError


def print_diagnostics(diagnostics: Diagnostics, fmt: str = "text") -> None:
    if fmt == "json":
        import json

        click.echo(json.dumps([d.as_dict() for d in diagnostics.sorted()], indent=2), err=True)
    elif diagnostics.items:
        click.echo(diagnostics.format(), err=True)
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
    try:
        return read_receipts(path, ruleset, source)
    except InputError as e:
        click.echo(str(e), err=True)
        sys.exit(2)


def write_out(text: str, out: str | None) -> None:
    if out and out != "-":
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        click.echo(text, nl=False)


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
    try:
        # A target renders invoices with what the receipts say of their customers.
        result = book(ruleset, records, keep_bookings=bool(target))
    except InputError as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    if target:
        from ..targets import render_to

        render_to(result, ruleset, target, out)
    elif fmt == "table":
        write_out(render_table(result, ruleset), out)
    else:
        write_out(to_json(result, ruleset), out)
    for err in result.errors:
        click.echo(f"error: receipt {err.receipt}: {err.message}", err=True)
    for err in result.closing_errors:
        click.echo(f"error: closing {err.closing}: {err.message}", err=True)
    sys.exit(0 if result.ok else 1)


@cli.command()
@click.argument("rules", type=click.Path(dir_okay=False))
@click.argument("receipts")
@click.option("--receipt", "receipt_id", required=True,
              help="The id of the receipt (or till closing) to explain.")
@click.option("--source", default=None, help="The source adapter that reads RECEIPTS.")
def explain(rules: str, receipts: str, receipt_id: str, source: str | None) -> None:
    """Show, for one receipt, each fact, the rule (file:line) that matched it, and the lines it produced.

    For a till closing also how it reconciles with the receipts of its register in RECEIPTS."""
    ruleset = compile_or_exit(rules)
    records = read_or_exit(receipts, ruleset, source)
    try:
        text, found = explain_receipt(ruleset, records, receipt_id)
    except InputError as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    click.echo(text, nl=False)
    if not found:
        sys.exit(1)
