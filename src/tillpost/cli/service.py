"""`tillpost clients` and `worker`: a workspace of many clients, run unattended (SPEC §12)."""

from __future__ import annotations

import json
import sys

import click

from . import cli
from .ledger import _exit_ledger_error, db_option, ledger_errors


def _load_or_exit(workspace: str):
    from ..service.workspace import WorkspaceError, load_workspace

    try:
        return load_workspace(workspace)
    except WorkspaceError as e:
        click.echo(str(e), err=True)
        sys.exit(2)


@cli.command("clients")
@click.argument("workspace", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def clients_cmd(workspace: str, fmt: str) -> None:
    """List the clients of WORKSPACE (a folder with tillpost.toml) and compile each rule file.

    Exit 0 when every client can run, 1 when some cannot (each is reported, the
    others run), 2 when the workspace file is unusable as a whole.
    """
    from ..engine.compiler import compile_file

    ws = _load_or_exit(workspace)
    rows = []
    for name, config in sorted(ws.clients.items()):
        ruleset, diagnostics = compile_file(config.rules)
        errors = diagnostics.errors
        state = (f"compiles: {len(ruleset.rules)} rules" if ruleset is not None
                 else f"does not compile: {len(errors)} error(s)")
        rows.append({"client": name, "rules": str(config.rules), "inbox": str(config.inbox),
                     "interval": config.interval, "source": config.source,
                     "export": config.export["target"] if config.export else None,
                     "ok": ruleset is not None, "state": state,
                     "diagnostics": [d.format() for d in diagnostics.sorted()]})
    for name, reasons in sorted(ws.broken.items()):
        rows.append({"client": name, "ok": False, "state": "not usable: " + "; ".join(reasons), "diagnostics": []})
    if fmt == "json":
        click.echo(json.dumps({"workspace": str(ws.path), "clients": rows}, indent=2))
    else:
        if ws.diagnostics.items:
            click.echo(ws.diagnostics.format(), err=True)
        for row in rows:
            where = f"  {row['rules']}  every {row['interval']} min" if row.get("rules") else ""
            click.echo(f"{row['client']}: {row['state']}{where}")
            for d in row["diagnostics"]:
                click.echo("    " + d.replace("\n", "\n    "))
    sys.exit(0 if all(r["ok"] for r in rows) else 1)


@cli.command("worker")
@click.argument("workspace", type=click.Path())
@db_option
@click.option("--until-idle", is_flag=True, help="Book what is in the inboxes now, then exit (for cron and tests).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Client runs at once in this worker (PostgreSQL ledgers; an SQLite ledger has one).")
@click.option("--heartbeat", type=click.FloatRange(0.5, 300), default=10.0, hidden=True)
@click.option("--stalled-after", type=click.FloatRange(1, 3600), default=30.0, hidden=True)
def worker_cmd(workspace: str, db: str, until_idle: bool, concurrency: int, heartbeat: float,
               stalled_after: float) -> None:
    """Book every client of WORKSPACE on its interval: each new inbox file a final run.

    With a postgresql:// ledger, any number of workers on any number of machines
    share the clients through the database's job queue; with an SQLite file one
    worker books them in turn. One log line per run; SIGINT or SIGTERM stops the
    worker after the runs in progress.
    """
    from ..ledger.store import LedgerError, is_postgres
    from ..service.worker import run_worker

    _load_or_exit(workspace)
    if concurrency > 1 and not is_postgres(db):
        raise click.UsageError("--concurrency needs a PostgreSQL ledger: an SQLite file has one writer")
    try:
        run_worker(workspace, db, until_idle, concurrency, log=lambda line: click.echo(line),
                   heartbeat=heartbeat, stalled_after=stalled_after)
    except ledger_errors() as e:
        _exit_ledger_error(e)
    except LedgerError as e:
        _exit_ledger_error(e)
    click.echo("worker stopped", err=True)
