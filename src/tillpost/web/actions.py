"""What an operator can do from the dashboard, each ending where the command line would:

    retry   the receipts in error of a client, a day (and store) or a reason, from the content
            the ledger kept, with the client's rules as they are now:
            `tillpost process RULES --db DB --client NAME --final --retry-errors [--receipt ID …]`
    trial   what a final run of each file now in the client's inbox would book, written nowhere:
            `tillpost process RULES FILE --db DB --client NAME --trial` per file
    final   book the client's inbox now, as its worker would: `tillpost worker` for that client

The run records who asked for it (`ran_by`: the user, via the dashboard).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ..engine.receipts import InputError
from ..ledger.process import RunResult, Selection, process, run_info
from ..ledger.store import LedgerError, Store
from ..ledger.watch import pending
from ..service.worker import Service
from ..service.workspace import WorkspaceError
from . import views


class ActionError(Exception):
    """The action cannot be done (no rules, rules that do not compile, nothing to do): said in words."""


@dataclass
class TrialFile:
    name: str
    result: RunResult | None
    problem: str | None = None


def _rules(service: Service, client: str):
    try:
        config = service.client(client)
    except WorkspaceError as e:
        raise ActionError(str(e)) from None
    if config is None:
        raise ActionError(f"'{client}' is not a usable client of the workspace ({service.workspace().path}): "
                          "its rules and inbox are unknown here")
    ruleset, problem = service.ruleset(config)
    if ruleset is None:
        raise ActionError(f"{config.rules}: {problem}")
    return config, ruleset


def retry(service: Service, db: str, client: str, user: str, date: str | None = None, shop: str | None = None,
          group: str | None = None) -> RunResult:
    """Retry the receipts in error (all of the client's; of a day and store; of a reason group)."""
    config, ruleset = _rules(service, client)
    receipts: tuple[str, ...] = ()
    if date or shop or group:
        store = Store.open(db, readonly=True, client=client)
        try:
            store.require_client(existing=True)
            store.begin_read()
            try:
                receipts = tuple(views.error_ids(store, date, shop, group))
            finally:
                store.end_read()
        finally:
            store.close()
        if not receipts:
            raise ActionError("no receipts in error there (any more): nothing to retry")
    selection = Selection(retry_errors=True, receipts=receipts)
    info = run_info("process --final", str(config.rules), [], selection)
    info["ran_by"] = f"{user} (dashboard)@{socket.gethostname()}"
    store = Store.open(db, client=client)
    try:
        return process(ruleset, store, [], selection, final=True, info=info)
    finally:
        store.close()


def trial(service: Service, db: str, client: str) -> list[TrialFile]:
    """A trial run of each file waiting in the client's inbox, against the ledger as it is."""
    from ..api import read_receipts

    config, ruleset = _rules(service, client)
    files = pending(config.inbox)
    if not files:
        raise ActionError(f"no files wait in {config.inbox}: a final run would book nothing")
    selection = Selection(config.stores, config.registers)
    out = []
    store = Store.open(db, readonly=True, client=client)
    try:
        for path in files:
            try:
                records = read_receipts(str(path), ruleset, config.source)
                out.append(TrialFile(path.name, process(ruleset, store, [records], selection, final=False)))
            except InputError as e:
                out.append(TrialFile(path.name, None, f"{e} — a final run moves this file to failed/"))
            except OSError as e:
                out.append(TrialFile(path.name, None, f"cannot be read: {e.strerror or e}"))
    finally:
        store.close()
    return out


def final(service: Service, client: str):
    """Book every file now in the client's inbox, one final run each (the worker's `book_client`)."""
    config, _ = _rules(service, client)
    try:
        run = service.book_client(client)
    except LedgerError as e:
        raise ActionError(str(e)) from None
    if run is None:
        raise ActionError(f"no files wait in {config.inbox}: nothing to book")
    if run.problem:
        raise ActionError(run.problem)
    return run
