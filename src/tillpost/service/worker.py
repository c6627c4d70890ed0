"""Workers: every client of a workspace booked on its interval, unattended (SPEC §12).

    tillpost worker WORKSPACE --db DB [--until-idle] [--concurrency N]

A worker books each client's new inbox files as final runs, the way `watch`
does for one client (`ledger.watch.book_file`: a file is one run, moved to
done/ or failed/ with its reason, booked once by content).

With a PostgreSQL ledger, work is claimed through the database by procrastinate,
a PostgreSQL job queue, so any number of workers on any number of machines
share the load:

- `book_client(client)` books one client's inbox. Its procrastinate `lock` is the
  client: one job per client runs at a time, so a client's files are booked in
  arrival order by one worker; its `queueing_lock` is the client too, so at most
  one job per client waits, however often it is asked for.
- `tick` is a periodic task (every few seconds, deferred once per timestamp
  however many workers run): it defers `book_client` for each client that has
  files waiting and whose interval has passed since its last run. It also puts
  back the jobs of a worker that stopped sending heartbeats (killed, or its
  machine gone), so another worker takes them over.
- A killed worker leaves nothing half-booked: its final run was one transaction,
  which PostgreSQL rolls back when the connection dies; a file whose run did
  commit is recognised by its content and only moved.

With an SQLite ledger, one worker runs the same per-client booking in-process,
client after client.

Each run logs one line: client, files, booked, late, changed, open, errors, seconds.
SIGINT and SIGTERM stop a worker after the runs in progress.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import signal
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.diagnostics import Diagnostics
from ..ledger.process import Selection
from ..ledger.store import LedgerError, Store, is_postgres
from ..ledger.watch import FileOutcome, book_file, counts_text, pending, summarize
from .workspace import ClientConfig, Workspace, WorkspaceError, load_workspace

TICK_SECONDS = 5
RETRY_WAIT = 10  # seconds before a failed client run is tried again (doubling)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


@dataclass
class ClientRun:
    client: str
    outcomes: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0
    problem: str | None = None  # why the client could not run (its rules, its ledger)
    export: str | None = None  # what its export (and delivery) after the runs did (§14)

    def line(self) -> str:
        stamp = _now().isoformat(timespec="seconds")
        if self.problem:
            return f"{stamp} {self.client}: not run: {self.problem}"
        files, counts = summarize(self.outcomes)
        line = f"{stamp} {self.client}: {files}: {counts_text(counts)}; {self.seconds:.2f} s"
        return line + (f"; {self.export}" if self.export else "")


class Service:
    """The workspace and the ledger a worker serves, with each client's compiled rules cached."""

    def __init__(self, workspace_path: str | Path, db: str, log: Callable[[str], None] = print):
        self.workspace_path = workspace_path
        self.db = db
        self.log = log
        self._workspace: Workspace | None = None
        self._stamp: float | None = None
        self._rules: dict[str, tuple] = {}  # client → (stamp of its rule files, ruleset | None, diagnostics)

    # -- the workspace, read again when it changes ----------------------------------------------

    def workspace(self) -> Workspace:
        from .workspace import workspace_file

        file = workspace_file(self.workspace_path)
        try:
            stamp = file.stat().st_mtime_ns
        except OSError:
            stamp = None
        if self._workspace is None or stamp != self._stamp:
            ws = load_workspace(self.workspace_path)
            if self._workspace is not None or ws.broken:
                for client, reasons in ws.broken.items():
                    self.log(f"{_now().isoformat(timespec='seconds')} {client}: skipped: " + "; ".join(reasons))
            self._workspace, self._stamp = ws, stamp
        return self._workspace

    def client(self, name: str) -> ClientConfig | None:
        return self.workspace().clients.get(name)

    def ruleset(self, config: ClientConfig):
        """The client's compiled rules, compiled again when a rule file changes; (None, reason) when
        they do not compile."""
        from ..engine.compiler import compile_file

        cached = self._rules.get(config.name)
        if cached is not None and cached[0] == _stamp(cached[3]) and cached[4] == config.rules:
            return cached[1], cached[2]
        ruleset, diagnostics = compile_file(config.rules)
        problem = None
        if ruleset is None:
            first = diagnostics.errors[0].format().splitlines()[0] if diagnostics.errors else "no rules"
            problem = f"its rules do not compile ({len(diagnostics.errors)} error(s); first: {first})"
        files = tuple(ruleset.files) if ruleset is not None else (str(config.rules),)
        self._rules[config.name] = (_stamp(files), ruleset, problem, files, config.rules)
        return ruleset, problem

    # -- one client's run ----------------------------------------------------------------------

    def has_work(self, config: ClientConfig) -> bool:
        return bool(pending(config.inbox))

    def book_client(self, name: str, stopping: Callable[[], bool] = lambda: False) -> ClientRun | None:
        """Book every file now in the client's inbox, one final run each; None when nothing waited."""
        config = self.client(name)
        if config is None:
            return ClientRun(name, problem="not a usable client of the workspace (see its diagnostics)")
        files = pending(config.inbox)
        if not files:
            return None
        ruleset, problem = self.ruleset(config)
        if ruleset is None:
            return ClientRun(name, problem=problem)
        started = time.perf_counter()
        run = ClientRun(name)
        selection = Selection(config.stores, config.registers)
        store = Store.open(self.db, client=name)
        try:
            for path in files:
                if stopping():
                    break
                run.outcomes.append(book_file(ruleset, str(config.rules), store, path, config.source,
                                              command="worker", selection=selection))
            if config.export is not None and run.outcomes and store.client_id is not None:
                from ..delivery.service import export_and_deliver

                try:
                    run.export = export_and_deliver(store, ruleset, str(config.rules), config.export,
                                                    self.workspace().secrets, self.log)
                except LedgerError as e:  # the files are booked; the next run exports what this one did not
                    run.export = f"not exported: {e}"
        finally:
            store.close()
        run.seconds = time.perf_counter() - started
        return run

    def due(self, config: ClientConfig, last: _dt.datetime | None, now: _dt.datetime) -> bool:
        """A client with files waiting runs when its interval has passed since its last run."""
        if config.interval == 0 or last is None:
            return True
        return now - last >= _dt.timedelta(minutes=config.interval)


def _stamp(files) -> tuple:
    out = []
    for f in files:
        try:
            out.append(os.stat(f).st_mtime_ns)
        except OSError:
            out.append(None)
    return tuple(out)


# -- SQLite: one worker, in-process ------------------------------------------------------------


def run_local(service: Service, until_idle: bool, poll: float = 1.0) -> int:
    """Book every client on its interval in this process (an SQLite ledger has one writer)."""
    stop = {"now": False}

    def stopper(*_):
        stop["now"] = True

    previous = {sig: signal.signal(sig, stopper) for sig in (signal.SIGINT, signal.SIGTERM)}
    last: dict[str, _dt.datetime] = {}
    runs = 0
    try:
        while not stop["now"]:
            booked_any = False
            for name, config in sorted(service.workspace().clients.items()):
                if stop["now"]:
                    break
                if not until_idle and not service.due(config, last.get(name), _now()):
                    continue
                try:
                    run = service.book_client(name, lambda: stop["now"])
                except LedgerError as e:
                    run = ClientRun(name, problem=str(e))
                if run is None:
                    continue
                last[name] = _now()
                runs += 1
                booked_any = booked_any or bool(run.outcomes)
                service.log(run.line())
            if until_idle and not booked_any:
                break
            if not until_idle:
                end = time.monotonic() + poll
                while not stop["now"] and time.monotonic() < end:
                    time.sleep(0.1)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return runs


# -- PostgreSQL: procrastinate -----------------------------------------------------------------

SCHEDULE_TABLE = """CREATE TABLE IF NOT EXISTS tillpost_schedule (
    client TEXT PRIMARY KEY,
    last_deferred TIMESTAMPTZ NOT NULL)"""


def _quiet_logging() -> None:
    # procrastinate logs what went wrong with tracebacks; a worker says it in one line of its own.
    logging.getLogger("procrastinate").setLevel(logging.CRITICAL)
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)


def ensure_queue_schema(db: str) -> None:
    """The ledger's tables and the job queue's, created once however many workers start at once."""
    import psycopg
    from procrastinate.schema import SchemaManager

    store = Store.open(db)
    try:
        store.ensure_schema()
    except psycopg.Error as e:
        raise LedgerError(_short(e)) from None
    finally:
        store.close()
    try:
        with psycopg.connect(db, autocommit=True) as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s, 1)", (0x7111,))
                exists = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0]
                if exists is None:
                    conn.execute(SchemaManager.get_schema())  # no parameters: its "%" stay as they are
                conn.execute(SCHEDULE_TABLE)
    except psycopg.Error as e:
        raise LedgerError(_short(e)) from None


def make_app(service: Service, heartbeat: float = 10.0, stalled_after: float = 30.0):
    """The procrastinate app of a worker: `book_client` per client, and the periodic `tick`."""
    import procrastinate
    import psycopg

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=service.db))

    # A run that fails on the ledger (the database restarted, a connection lost) is tried
    # again; its transaction was rolled back, so it books everything once when it succeeds.
    @app.task(name="tillpost.book_client", retry=procrastinate.RetryStrategy(
        max_attempts=8, exponential_wait=2, wait=RETRY_WAIT, retry_exceptions={LedgerError, OSError, psycopg.OperationalError}))
    def book_client(client: str) -> None:
        run = service.book_client(client)
        if run is not None:
            service.log(run.line())

    @app.periodic(cron=f"* * * * * */{TICK_SECONDS}", periodic_id="tick")
    @app.task(name="tillpost.tick", queueing_lock="tillpost.tick")
    async def tick(timestamp: int) -> None:
        await defer_due(app, service, book_client, stalled_after)

    app.book_client = book_client  # type: ignore[attr-defined]
    return app


async def defer_due(app, service: Service, task, stalled_after: float, everything: bool = False) -> int:
    """Defer `book_client` for each client with files waiting that is due (or, `everything`, for
    each with files at all); put back the jobs of stalled workers. Returns the jobs deferred."""
    from procrastinate import exceptions as pexc

    await retry_stalled(app, stalled_after)
    ws = service.workspace()
    now = _now()
    connector = app.connector
    rows = await connector.execute_query_all_async("SELECT client, last_deferred FROM tillpost_schedule")
    last = {r["client"]: r["last_deferred"] for r in rows}
    deferred = 0
    for name, config in sorted(ws.clients.items()):
        if not service.has_work(config):
            continue
        if not everything and not service.due(config, last.get(name), now):
            continue
        try:
            await task.configure(lock=name, queueing_lock=name).defer_async(client=name)
            deferred += 1
        except pexc.AlreadyEnqueued:
            continue  # one is waiting already: it will book these files too
        await connector.execute_query_async(
            "INSERT INTO tillpost_schedule (client, last_deferred) VALUES (%(c)s, %(t)s) "
            "ON CONFLICT (client) DO UPDATE SET last_deferred = EXCLUDED.last_deferred", c=name, t=now)
    return deferred


async def retry_stalled(app, stalled_after: float) -> None:
    """Jobs of workers that stopped sending heartbeats go back to the queue for another worker."""
    from procrastinate import jobs as pjobs

    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
    for job in stalled:
        try:
            await app.job_manager.retry_job(job)
        except Exception:  # another job of that client waits already: this one is done for
            await app.job_manager.finish_job(job, status=pjobs.Status.FAILED, delete_job=False)


def run_queue(service: Service, until_idle: bool, concurrency: int = 1, heartbeat: float = 10.0,
              stalled_after: float = 30.0) -> None:
    """A procrastinate worker over the ledger's job queue, until stopped (or idle).

    The database may go away under a worker (restarted, a network cut): procrastinate's
    worker then stops itself. This loop says so in one line and starts it again, waiting
    longer each time, until the database answers; only SIGINT or SIGTERM (or, with
    --until-idle, an empty queue) end it. A run cut off half-way was rolled back and is
    tried again by the job's retry.
    """
    import asyncio
    import signal as _signal

    from procrastinate.worker import Worker

    _quiet_logging()
    wait = 1.0
    while True:
        try:
            ensure_queue_schema(service.db)
            break
        except LedgerError as e:
            if until_idle:
                raise
            service.log(f"{_now().isoformat(timespec='seconds')} worker: the ledger cannot be reached ({e}); "
                        f"trying again in {wait:.0f} s")
            time.sleep(wait)
            wait = min(wait * 2, 60)
    app = make_app(service, heartbeat, stalled_after)
    stop = {"now": False, "worker": None}

    def stopping(*_args) -> None:
        stop["now"] = True
        if stop["worker"] is not None:
            stop["worker"].stop()

    async def once() -> None:
        async with app.open_async():
            if until_idle:
                await defer_due(app, service, app.book_client, stalled_after, everything=True)
            worker = Worker(app, concurrency=concurrency, wait=not until_idle,
                            name=f"tillpost@{os.uname().nodename}:{os.getpid()}",
                            update_heartbeat_interval=heartbeat, stalled_worker_timeout=stalled_after,
                            delete_jobs="successful", listen_notify=not until_idle, install_signal_handlers=False,
                            fetch_job_polling_interval=1.0 if not until_idle else 0.5)
            stop["worker"] = worker
            try:
                await worker.run()
            finally:
                stop["worker"] = None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (_signal.SIGINT, _signal.SIGTERM):
            loop.add_signal_handler(sig, stopping)
        wait = 1.0
        while not stop["now"]:
            problem = None
            try:
                await once()
            except Exception as e:  # noqa: BLE001 — the database's trouble, said in one line below
                problem = _short(e)
            if stop["now"] or (until_idle and problem is None):
                return
            service.log(f"{_now().isoformat(timespec='seconds')} worker: the ledger database went away"
                        f"{': ' + problem if problem else ''}; starting again in {wait:.0f} s")
            end = time.monotonic() + wait
            while not stop["now"] and time.monotonic() < end:
                await asyncio.sleep(0.2)
            wait = min(wait * 2, 60)

    asyncio.run(main())


def _short(e: Exception) -> str:
    text = " ".join(str(e).split())
    cause = e.__cause__
    if not text and cause is not None:
        text = " ".join(str(cause).split())
    return (text or type(e).__name__)[:300]


def run_worker(workspace: str | Path, db: str, until_idle: bool = False, concurrency: int = 1,
               log: Callable[[str], None] = print, heartbeat: float = 10.0, stalled_after: float = 30.0) -> None:
    service = Service(workspace, db, log)
    service.workspace()  # a workspace unusable as a whole stops here, before any work
    if is_postgres(db):
        run_queue(service, until_idle, concurrency, heartbeat, stalled_after)
    else:
        run_local(service, until_idle)


__all__ = ["ClientRun", "Diagnostics", "Service", "WorkspaceError", "run_worker"]
