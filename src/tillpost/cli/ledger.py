"""`tillpost process`, `status` and `watch`: the processing ledger (SPEC §9)."""

from __future__ import annotations

import sqlite3
import sys

import click

from . import cli
from .booking import compile_or_exit, printable_lines, read_or_exit, report_errors, say, write_out
from ..engine.postings import ReceiptError
from ..engine.receipts import InputError


def _exit_ledger_error(e: Exception) -> None:
    from ..ledger import LedgerError

    if not isinstance(e, LedgerError):
        e = f"the ledger database cannot be used: {str(e).strip() or type(e).__name__}"
    say(f"tillpost: {e}")
    sys.exit(2)


def ledger_errors() -> tuple:
    """What opening or using the ledger may raise that is the ledger's problem, not a bug."""
    from ..ledger import LedgerError

    errors: tuple = (LedgerError, sqlite3.Error)
    try:
        import psycopg

        errors += (psycopg.Error,)
    except ImportError:
        pass
    return errors


def db_option(f):
    return click.option("--db", required=True, envvar="TILLPOST_DB", show_envvar=True,
                        help="The ledger: an SQLite file (created by the first final run) or a postgresql:// URL.")(f)


def client_option(f):
    return click.option("--client", default=None,
                        help="The client whose books these are (a ledger holding one client needs no name).")(f)


def valid_date(ctx, param, value):
    import datetime as _dt

    if value is None:
        return None
    try:
        return _dt.date.fromisoformat(value).isoformat() if len(value) == 10 else _bad_date(value)
    except ValueError:
        _bad_date(value)


def _bad_date(value):
    raise click.BadParameter(f"'{value}' is not a day: expected YYYY-MM-DD, e.g. 2026-11-20")


def _progress_reporter():
    """A rich progress bar on a terminal; plain log lines (every tenth) otherwise."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        # On stderr: stdout carries the run's JSON.
        bar = Progress(TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       transient=True, console=Console(stderr=True))
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if not tasks:
                bar.start()
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        return report, bar.stop
    marks: dict[str, int] = {}

    def log(stage: str, done: int, total: int) -> None:
        if total < 10000:
            return
        tenth = done * 10 // total
        if tenth > marks.get(stage, 0):
            marks[stage] = tenth
            click.echo(f"{stage} {done}/{total} receipts", err=True)

    return log, lambda: None


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v for value in values for v in value.split(",") if v)


@cli.command("process")
@click.argument("rules", type=click.Path(dir_okay=False))
@click.argument("receipts", required=False)
@db_option
@client_option
@click.option("--trial/--final", "trial", default=None,
              help="--trial shows what would be booked and writes nothing; --final books it, for good.")
@click.option("--store", "stores", multiple=True, help="Only receipts of this store (repeatable).")
@click.option("--register", "registers", multiple=True, help="Only receipts of this register (repeatable).")
@click.option("--receipt", "receipt_ids", multiple=True, help="Only this receipt id (repeatable, or comma-separated).")
@click.option("--retry-errors", is_flag=True, help="Retry only the receipts in error (RECEIPTS may give fixed ones).")
@click.option("--source", default=None, help="The source adapter that reads RECEIPTS (see `tillpost sources`).")
@click.option("--format", "fmt", type=click.Choice(["json", "table", "summary"]), default="json", show_default=True,
              help="What the run prints: the entries and receipt statuses, readable tables, or the summary only.")
@click.option("-o", "--out", default=None, help="Write the output to this file.")
def process_cmd(rules, receipts, db, client, trial, stores, registers, receipt_ids, retry_errors, source, fmt,
                out) -> None:
    """Book RECEIPTS into the ledger DB: --trial shows what --final would book.

    A final run is one transaction: it books everything or nothing, and running it
    again books nothing twice. A late receipt goes into a supplementary entry for its
    day; a booked receipt that comes again changed is reversed and booked anew.
    Exit 0 all selected receipts booked (or waiting as open/voided), 1 some are in
    error or a --receipt is not in RECEIPTS (the rest is booked), 2 the rules, the
    input or the ledger are unusable.
    """
    from ..ledger import Selection, Store, process, run_info
    from ..ledger.render import render

    if trial is None:
        raise click.UsageError("say --trial (show what would be booked) or --final (book it)")
    if receipts is None and not retry_errors:
        raise click.UsageError("missing argument RECEIPTS (only --retry-errors may go without)")
    selection = Selection(_split(stores), _split(registers), _split(receipt_ids), retry_errors)
    ruleset = compile_or_exit(rules)
    inputs = [read_or_exit(receipts, ruleset, source)] if receipts else []
    report, done = _progress_reporter()
    try:
        store = Store.open(db, readonly=trial, client=client)
        try:
            missing = _not_selectable(selection, inputs, store)
            info = run_info("process --final", rules, [receipts] if receipts else [], selection)
            result = process(ruleset, store, inputs, selection, final=not trial, info=info, progress=report,
                             details=fmt != "summary", keep_input=False)
        finally:
            done()
            store.close()
    except InputError as e:
        say(str(e))
        sys.exit(2)
    except ledger_errors() as e:
        _exit_ledger_error(e)
    if fmt != "summary":
        text = render(result, ruleset, fmt)
        write_out(text if fmt == "json" else printable_lines(text), out)
    report_errors([ReceiptError(item["receipt"], item["message"]) for item in result.receipts()["error"]])
    for item in result.receipts("closing")["error"]:
        say(f"error: closing {item['closing']}: {item['message']}")
    for rid in missing:
        where = "in RECEIPTS" + (" or among the ledger's receipts in error" if selection.retry_errors else "")
        say(f"tillpost: --receipt {rid}: no receipt with this id {where}")
    click.echo(result.summary(), err=True)
    sys.exit(1 if result.counts["error"] or result.counts["closing_errors"] or missing else 0)


def _not_selectable(selection, inputs, store) -> list[str]:
    """The ids selected with --receipt that no receipt or till closing of the input (or, with
    --retry-errors, of the ledger's error queue) has: a mistyped id is said, never silently ignored."""
    from ..engine.closings import closing_id
    from ..engine.receipts import receipt_id

    if not selection.receipts:
        return []
    wanted = set(selection.receipts)
    for records in inputs:
        for i in range(len(records)):
            wanted.discard(receipt_id(records.get(i), records.position(i)))
            if not wanted:
                return []
        for item in records.closings:
            wanted.discard(closing_id(item.decoded(), item.position))
    if selection.retry_errors and wanted:
        wanted -= set(store.receipts_in_status("error"))
        wanted -= set(store.receipts_in_status("error", kind="closing"))
    return [rid for rid in selection.receipts if rid in wanted]


@cli.command("status")
@db_option
@client_option
@click.option("--date", "day", default=None, callback=valid_date, help="Only this business day (YYYY-MM-DD).")
@click.option("--store", "shop", default=None, help="Only this store.")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="table", show_default=True)
@click.option("--check", is_flag=True, help="Exit 1 when a day shown is not complete (for a scheduler's alert).")
def status_cmd(db, client, day, shop, fmt, check) -> None:
    """Per business day and store: booked / late / changed / open / voided / errors, the gaps in each
    register's receipt numbers, and the payments per method against what was booked.

    A day is complete when nothing is open or in error, no receipt number is missing,
    every payment is booked and the counter debtor nets to zero; a day on which
    nothing arrived is not complete.
    """
    import json
    import os

    from ..ledger import Store
    from ..ledger.status import status, to_table
    from ..ledger.store import is_postgres

    if db and not is_postgres(db) and not os.path.exists(db):
        click.echo(f"tillpost: {db}: no ledger here yet (a `process --final` run creates it)", err=True)
        sys.exit(2)
    try:
        store = Store.open(db, readonly=True, client=client)
        try:
            report = status(store, day, shop)
        finally:
            store.close()
    except ledger_errors() as e:
        _exit_ledger_error(e)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(printable_lines(to_table(report)), nl=False)
    if check and not report["complete"]:
        sys.exit(1)


@cli.command("watch")
@click.argument("rules", type=click.Path(dir_okay=False))
@click.argument("inbox", type=click.Path(file_okay=False))
@db_option
@client_option
@click.option("--interval", type=click.IntRange(0, 720), required=True,
              help="Minutes between runs, 0–720; 0 books files as soon as they arrive.")
@click.option("--source", default=None, help="The source adapter that reads the files.")
@click.option("--once", is_flag=True, help="Run once over the files now in INBOX, then stop.")
@click.option("--max-runs", type=click.IntRange(1), default=None, hidden=True)
@click.option("--receipt", "--store", "--register", "selection", multiple=True, hidden=True)
def watch_cmd(rules, inbox, db, client, interval, source, once, max_runs, selection) -> None:
    """Book the receipt files that appear in INBOX every --interval minutes.

    Each file is booked in its own final run and moved to INBOX/done/; a file that
    is unusable as a whole goes to INBOX/failed/ with a .reason file. One log line
    per run. SIGINT or SIGTERM stops it after the file in progress.
    """
    import os

    from ..ledger.watch import Watcher

    if selection:
        raise click.UsageError("watch books whole files and cannot be combined with a receipt selection "
                               "(--receipt, --store, --register); use `tillpost process` for that")
    if not os.path.isdir(inbox):
        click.echo(f"tillpost: {inbox}: no such folder", err=True)
        sys.exit(2)
    ruleset = compile_or_exit(rules)
    watcher = Watcher(ruleset, rules, inbox, db, interval, source, log=lambda line: click.echo(line), client=client)
    try:
        runs = watcher.run(max_runs=max_runs, once=once)
    except ledger_errors() as e:
        _exit_ledger_error(e)
    click.echo(f"watch stopped after {runs} run(s)", err=True)
