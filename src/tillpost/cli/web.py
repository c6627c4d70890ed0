"""`tillpost serve` and `tillpost users`: the operator's dashboard (SPEC §13)."""

from __future__ import annotations

import json
import sys

import click

from . import cli
from .ledger import _exit_ledger_error, db_option, ledger_errors


@cli.command("serve")
@click.argument("workspace", type=click.Path())
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (127.0.0.1: this machine only; put a TLS proxy in front for others).")
@click.option("--port", type=click.IntRange(1, 65535), default=8150, show_default=True)
@click.option("--https-only", is_flag=True, help="Send the session cookie over HTTPS only (behind a TLS proxy).")
def serve_cmd(workspace: str, db: str, host: str, port: int, https_only: bool) -> None:
    """Serve the operator's dashboard over WORKSPACE and the ledger DB.

    Every client at a glance, each client's calendar of days, each day per store, each
    receipt, the errors and the runs; operators retry errors and run clients. Users sign
    in (`tillpost users add`). Every page has a JSON twin under /api/.
    """
    from ..service.workspace import WorkspaceError
    from ..web.app import create_app

    try:
        app = create_app(workspace, db, https_only=https_only)
    except WorkspaceError as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    except ledger_errors() as e:
        _exit_ledger_error(e)
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"tillpost: serving on {host}: reachable from other machines; without a TLS proxy in front, "
                   "passwords and sessions cross the network in clear text", err=True)
    click.echo(f"tillpost dashboard on http://{host}:{port}/ (Ctrl-C stops it)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False, proxy_headers=False)


@cli.group("users")
def users_group() -> None:
    """The dashboard's users: who may sign in, as a viewer or an operator, to which clients."""


def _store(db: str, create: bool = False):
    import os

    from ..ledger import LedgerError, Store
    from ..ledger.store import is_postgres

    if not create and not is_postgres(db) and not os.path.exists(db):
        raise LedgerError(f"{db}: no ledger here (`tillpost users add` creates one)")
    return Store.open(db)


def _run(fn):
    from ..web.users import UserError

    try:
        return fn()
    except UserError as e:
        click.echo(f"tillpost: {e}", err=True)
        sys.exit(2)
    except ledger_errors() as e:
        _exit_ledger_error(e)


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "operator"]), required=True,
              help="viewer: sees; operator: also retries errors and runs clients.")
@click.option("--clients", default=None, help="Only these clients (comma-separated); without it, every client.")
@click.option("--replace", is_flag=True, help="Give an existing user a new password, role and clients.")
@db_option
def users_add(name: str, role: str, clients: str | None, replace: bool, db: str) -> None:
    """Add a user; the password is read as one line on stdin and stored as an argon2 hash."""
    from ..web.users import add_user, check_password, parse_clients

    def do():
        granted = parse_clients(clients)
        if sys.stdin.isatty():
            import getpass

            password = getpass.getpass(f"password for {name}: ")
        else:
            password = sys.stdin.readline()
        password = check_password(password)
        store = _store(db, create=True)
        try:
            user = add_user(store, name, role, granted, password, replace=replace)
            known = set(store.clients())
        finally:
            store.close()
        unknown = [c for c in granted or () if c not in known]
        shown = ", ".join(granted) if granted is not None else "every client"
        click.echo(f"{'replaced' if replace else 'added'} {user.name}: {user.role} of {shown}", err=True)
        if unknown:
            click.echo(f"note: the ledger has no books of {', '.join(unknown)} yet", err=True)

    _run(do)


@users_group.command("list")
@db_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def users_list(db: str, fmt: str) -> None:
    """The users: name, role, the clients granted, when added."""
    from ..web.users import list_users

    def do():
        import os

        from ..ledger import Store
        from ..ledger.store import is_postgres

        if not is_postgres(db) and not os.path.exists(db):
            return []
        store = Store.open(db, readonly=True)
        try:
            return list_users(store)
        finally:
            store.close()

    users = _run(do)
    if fmt == "json":
        click.echo(json.dumps([u.as_dict() for u in users], indent=2))
        return
    if not users:
        click.echo("no users yet: tillpost users add NAME --role operator --db DB", err=True)
    for u in users:
        shown = ", ".join(u.clients) if u.clients is not None else "every client"
        click.echo(f"{u.name}\t{u.role}\t{shown}\t{u.created}")


@users_group.command("remove")
@click.argument("name")
@db_option
def users_remove(name: str, db: str) -> None:
    """Remove a user; their sessions end at their next request."""
    from ..web.users import remove_user

    def do():
        store = _store(db)
        try:
            remove_user(store, name)
        finally:
            store.close()
        click.echo(f"removed {name}", err=True)

    _run(do)
