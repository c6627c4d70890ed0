"""`tillpost export` and `deliver`: from the ledger into the accounting package (SPEC §14)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from . import cli
from .ledger import _exit_ledger_error, client_option, db_option, ledger_errors


def _fail(message: str, code: int = 2):
    click.echo(f"tillpost: {message}", err=True)
    sys.exit(code)


def _open_existing(db: str, client: str | None):
    from ..ledger import Store
    from ..ledger.store import is_postgres

    if not is_postgres(db) and not os.path.exists(db):
        _fail(f"{db}: no ledger here yet (a `process --final` run creates it)")
    store = Store.open(db, client=client)
    store.require_client(existing=True)
    return store


def _workspace(path: str | None, required: bool):
    """The workspace named, or the one in the current folder; None when there is none (and none is required)."""
    from ..service.workspace import FILE_NAME, WorkspaceError, load_workspace

    if path is None and not Path(FILE_NAME).is_file():
        if required:
            _fail("no workspace: deliver reads the client's package from its tillpost.toml; give --workspace "
                  "(or set TILLPOST_WORKSPACE, or run it in the workspace's folder)")
        return None
    try:
        return load_workspace(path or ".")
    except WorkspaceError as e:
        _fail(str(e))


def _client_config(ws, client: str | None, store):
    name = client or store.client
    config = ws.clients.get(name)
    if config is None:
        reasons = ws.broken.get(name)
        if reasons:
            _fail(f"client '{name}' of {ws.path} cannot be used: " + "; ".join(reasons))
        _fail(f"{ws.path} has no client '{name}'; its clients: {', '.join(sorted(ws.clients)) or 'none'}")
    return config


def _rules_of(rules: str | None, workspace: str | None, client: str | None, store) -> str:
    """The rule file that renders the export: --rules, else the workspace's for the client, else the
    one the client's last final run used (as the ledger recorded it)."""
    if rules:
        return rules
    ws = _workspace(workspace, required=False)
    if ws is not None:
        return str(_client_config(ws, client, store).rules)
    row = store.query("SELECT rules FROM runs WHERE client = ? ORDER BY id DESC LIMIT 1", (store._cid(),))
    if row and row[0][0] and Path(row[0][0]).is_file():
        return row[0][0]
    _fail("which rule file renders the export? give --rules RULES, or --workspace (the client's rule file); the "
          "client's last final run used " + (repr(row[0][0]) + ", which is not there" if row else "none"))


@cli.command("export")
@db_option
@client_option
@click.option("--target", default=None, help="The target to export to (see `tillpost targets`).")
@click.option("-o", "--out", required=True,
              help="The file to write, or a folder to write it in (named CLIENT-TARGET-NNNNN.EXT). Never overwritten.")
@click.option("--rules", default=None, type=click.Path(dir_okay=False),
              help="The client's rule file (default: the workspace's for the client, else the one its last run used).")
@click.option("--workspace", default=None, envvar="TILLPOST_WORKSPACE",
              help="The workspace whose client this is (its rule file).")
@click.option("--again", "again_id", type=click.IntRange(1), default=None,
              help="Write export ID again, byte for byte, instead of a new export.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="What is printed on stdout: nothing but the summary on stderr, or the export as JSON.")
def export_cmd(db, client, target, out, rules, workspace, again_id, fmt) -> None:
    """Render every final entry not yet exported to TARGET into one file, and record it in the ledger.

    First bookings, supplements, reversals and rebookings alike, each once: which entries went
    into which export, the file, its SHA-256 and when are recorded in the same transaction.
    Nothing new: nothing is written (exit 0). Entries the target cannot express stay
    unexported and are listed (exit 1). --again ID writes a past export again, the same bytes.
    Exit 2: the ledger, the rules, the target or OUT are unusable.
    """
    from ..delivery.export import ExportError, again, export
    from ..targets import TargetError
    from .booking import compile_or_exit

    if again_id is None and not target:
        raise click.UsageError("say --target TARGET (or --again ID to write a past export again)")
    try:
        store = _open_existing(db, client)
        try:
            rules_path = _rules_of(rules, workspace, client, store)
            ruleset = compile_or_exit(rules_path)
            if again_id is not None:
                result = again(store, ruleset, rules_path, again_id, out, target)
            else:
                result = export(store, ruleset, rules_path, target, out)
        finally:
            store.close()
    except (ExportError, TargetError) as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"cannot write the export: {e}")
    except ledger_errors() as e:
        _exit_ledger_error(e)
    for error in result.errors:
        click.echo(f"error: {error}", err=True)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    click.echo(result.summary(), err=True)
    sys.exit(1 if result.unexported else 0)


@cli.command("deliver")
@db_option
@client_option
@click.option("--workspace", default=None, envvar="TILLPOST_WORKSPACE",
              help="The workspace whose tillpost.toml configures the client's package (default: this folder's).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def deliver_cmd(db, client, workspace, fmt) -> None:
    """Post the client's exported documents to its accounting package, each exactly once.

    The package (Moneybird, Exact Online), its address and where its credentials are come
    from the client's `export.deliver` in the workspace. Each answer is recorded: accepted
    with the package's id and number, or refused with its message (the document waits for
    the next delivery). A document whose answer was lost is looked up in the package by its
    reference before it is posted again. One line per document on stderr.
    Exit 0 every document delivered; 1 some refused by the package or still waiting; 2 the
    ledger, the workspace or the credentials are unusable.
    """
    from ..delivery.credentials import CredentialError, resolve
    from ..delivery.deliver import deliver

    ws = _workspace(workspace, required=True)
    try:
        store = _open_existing(db, client)
        try:
            config = _client_config(ws, client, store)
            settings = (config.export or {}).get("deliver")
            if settings is None:
                _fail(f"client '{config.name}' has no export.deliver in {ws.path}: nothing says where to deliver")
            credentials = resolve(settings.credentials, ws.secrets)
            report = deliver(store, settings, credentials, log=lambda line: click.echo(line, err=True))
        finally:
            store.close()
    except CredentialError as e:
        _fail(str(e))
    except ledger_errors() as e:
        _exit_ledger_error(e)
    for r in report.rejected:
        click.echo(f"error: refused by the package: {r['reference']} (export {r['export']} document "
                   f"{r['document']}): {r['message']}", err=True)
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    click.echo(report.summary(), err=True)
    sys.exit(report.exit_code)
