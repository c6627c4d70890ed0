"""The ledger store: the one module that speaks SQL (SPEC §9, §12).

One ledger holds many clients. Every table of a client's books is keyed by the
client, and every number in it — runs, entries, receipt rows — counts per
client, so a client's ledger reads the same whether the database holds one
client or fifty, and whichever worker booked which of its files:

    meta          schema version (the whole database)
    clients       one row per client: its name, its currency's decimals, its counter debtor
    runs          every final run: when, selection, input, counts, rule file, what ran it
    files         every inbox file booked, by content hash: a file is booked once
    receipts      every receipt (and till closing) ever seen: one row, one status
    entries       every booked entry, immutable (header; lines and receipts below)
    entry_lines   its lines (amounts as decimal strings: exact, portable)
    entry_receipts the receipts (and closings) in it
    corrections   which original entries a correction entry points at
    postings      per receipt and run, the legs it put into (or took out of) each entry
    day_totals    per day, store and journal: the net of every leg booked, per account,
                  debtor and VAT name (what `status` shows, without re-reading postings)

Two backends implement it: an SQLite file (the embedded default: one writer at
a time) and PostgreSQL by URL (any number of workers). The SQL is written once,
with `?` placeholders and types both understand; what differs (the
immutability triggers, how a client's run is locked, how the schema is created
safely when several workers start at once) is in `_Backend`.

Exactly once is kept by the database, not by hope: a receipt is unique per
client, kind and id; a file per client and content hash; entries, their lines,
postings and runs refuse UPDATE and DELETE. A final run is one transaction
holding its client's lock, so two runs for one client are serialized and the
second plans against what the first booked; runs for other clients go on.

The schema grows in two ways. `SCHEMA_VERSION` is the base schema's version:
`MIGRATIONS[n]` takes a ledger from version n-1 to n (an SQLite ledger of version 1,
wave 1's single client, is migrated in place into client `default`). Tables a
feature adds on top (users, exports, …) are `EXTENSIONS`: named, applied in order
after the base, and recorded in the `migrations` table, so features built side by
side each add their own without renumbering anybody's. An empty database gets the
base and every extension at once; a ledger missing some gets them from the first
final run (or worker) that opens it for writing. A ledger with an extension this
tillpost does not know was written by a newer one and is refused.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

SCHEMA_VERSION = 2
DEFAULT_CLIENT = "default"

# Tables whose rows, once written, are never changed or removed (runs get their counts when they end).
IMMUTABLE = ("entries", "entry_lines", "entry_receipts", "corrections", "postings", "runs", "files")
UPDATABLE = {"runs"}

# The current schema, for both backends: `{id}` is the auto-numbered key of `clients`,
# `{int}` an integer column wide enough for any count, `{keyed}` a table stored by its primary
# key alone. The CHECKs of the tables a run fills say `x = 'a' OR x = 'b'`, not `x IN ('a', 'b')`:
# SQLite checks an IN list by building a lookup table for every row, which made writing 100,000
# receipt rows 60 % slower. (Ledgers made before keep their layout: the same rules, only slower.)
SCHEMA = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)",
    """CREATE TABLE clients (
        id {id},
        name TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL,
        decimals {int},
        counter_debtor TEXT)""",
    """CREATE TABLE runs (
        client {int} NOT NULL REFERENCES clients (id),
        id {int} NOT NULL,
        started TEXT NOT NULL,
        finished TEXT,
        command TEXT NOT NULL,
        selection TEXT NOT NULL,
        input TEXT NOT NULL,
        rules TEXT NOT NULL,
        rules_sha256 TEXT NOT NULL,
        version TEXT NOT NULL,
        ran_by TEXT NOT NULL,
        counts TEXT,
        PRIMARY KEY (client, id))""",
    """CREATE TABLE files (
        client {int} NOT NULL REFERENCES clients (id),
        sha256 TEXT NOT NULL,
        name TEXT NOT NULL,
        run {int} NOT NULL,
        PRIMARY KEY (client, sha256))""",
    """CREATE TABLE receipts (
        client {int} NOT NULL REFERENCES clients (id),
        pk {int} NOT NULL,
        kind TEXT NOT NULL DEFAULT 'receipt' CHECK (kind = 'receipt' OR kind = 'closing'),
        source TEXT NOT NULL,
        id TEXT NOT NULL,
        store TEXT NOT NULL,
        register TEXT NOT NULL,
        number TEXT NOT NULL,
        date TEXT NOT NULL,
        created TEXT,
        hash TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status = 'booked' OR status = 'late' OR status = 'changed' OR status = 'open'
                                    OR status = 'voided' OR status = 'error'),
        reason TEXT,
        booked_as TEXT CHECK (booked_as = 'booked' OR booked_as = 'late' OR booked_as = 'changed'),
        booked_hash TEXT,
        payments TEXT NOT NULL,
        content TEXT,
        detail TEXT,
        first_run {int} NOT NULL,
        last_run {int} NOT NULL,
        PRIMARY KEY (client, pk),
        UNIQUE (client, kind, id))""",
    "CREATE INDEX receipts_day ON receipts (client, date, store)",
    "CREATE INDEX receipts_status ON receipts (client, status)",
    """CREATE TABLE entries (
        client {int} NOT NULL REFERENCES clients (id),
        id {int} NOT NULL,
        run {int} NOT NULL,
        kind TEXT NOT NULL CHECK (kind = 'regular' OR kind = 'supplement' OR kind = 'reversal'
                                  OR kind = 'rebooking'),
        journal TEXT NOT NULL,
        date TEXT NOT NULL,
        mode TEXT NOT NULL,
        entry_key TEXT NOT NULL,
        description TEXT NOT NULL,
        PRIMARY KEY (client, id))""",
    "CREATE INDEX entries_group ON entries (client, entry_key, journal, mode)",
    "CREATE INDEX entries_date ON entries (client, date)",
    """CREATE TABLE entry_lines (
        client {int} NOT NULL,
        entry {int} NOT NULL,
        line {int} NOT NULL,
        account TEXT NOT NULL,
        debit TEXT NOT NULL,
        credit TEXT NOT NULL,
        debtor TEXT,
        vat TEXT,
        PRIMARY KEY (client, entry, line)){keyed}""",
    """CREATE TABLE entry_receipts (
        client {int} NOT NULL,
        entry {int} NOT NULL,
        receipt TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'receipt' CHECK (kind = 'receipt' OR kind = 'closing'),
        PRIMARY KEY (client, entry, kind, receipt)){keyed}""",
    "CREATE INDEX entry_receipts_receipt ON entry_receipts (client, receipt)",
    """CREATE TABLE corrections (
        client {int} NOT NULL,
        entry {int} NOT NULL,
        original {int} NOT NULL,
        PRIMARY KEY (client, entry, original))""",
    """CREATE TABLE postings (
        client {int} NOT NULL,
        receipt {int} NOT NULL,
        run {int} NOT NULL,
        legs TEXT NOT NULL,
        PRIMARY KEY (client, receipt, run))""",
    """CREATE TABLE day_totals (
        client {int} NOT NULL,
        date TEXT NOT NULL,
        store TEXT NOT NULL,
        journal TEXT NOT NULL,
        account TEXT NOT NULL,
        debtor TEXT NOT NULL,
        vat TEXT NOT NULL,
        amount TEXT NOT NULL,
        PRIMARY KEY (client, date, store, journal, account, debtor, vat))""",
]

@dataclass(frozen=True)
class Extension:
    """Tables a feature adds to the base schema: DDL statements (with `{int}` and `{id}` as in
    SCHEMA), and which of its tables refuse UPDATE and DELETE once written."""

    name: str
    statements: tuple[str, ...]
    immutable: tuple[str, ...] = ()


# In the order they are applied; append, never reorder or edit one that has landed.
# In the order they are applied; append, never reorder or edit one that has landed. They are
# defined in `extensions.py`, which this module imports at its end.
EXTENSIONS: list[Extension] = []

# Wave 1's single-client schema, which `_v1_to_v2` migrates from.
V1_TABLES = ("runs", "receipts", "entries", "entry_lines", "entry_receipts", "corrections", "postings")


class LedgerError(Exception):
    """The ledger database cannot be used (not a ledger, newer schema, locked, unreadable, unknown client)."""


class InjectedFailure(RuntimeError):
    """Raised by the test hook between two statements of a final run."""


class ReceiptRow(NamedTuple):
    """A receipt's row as a run writes it (its client and runs are the store's)."""

    pk: int
    kind: str
    source: str
    id: str
    store: str
    register: str
    number: str
    date: str
    created: str | None
    hash: str
    status: str
    reason: str | None
    booked_as: str | None
    booked_hash: str | None
    payments: str  # JSON: [[method, amount, journal or null], …]
    content: str | None
    detail: str | None = None


@dataclass(slots=True)
class StoredReceipt:
    pk: int
    hash: str
    status: str
    reason: str | None
    booked_as: str | None  # the status its standing booking was made under; None: nothing booked
    booked_hash: str | None
    date: str = ""
    store: str = ""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def is_postgres(db: str) -> bool:
    return db.startswith(("postgres://", "postgresql://"))


def shown_db(db: str) -> str:
    """The database as messages name it: a PostgreSQL URL without its password."""
    if not is_postgres(db):
        return db
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(db)
    if parts.password is None:
        return db
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


# -- the backends ---------------------------------------------------------------------------


class _Backend:
    name = ""
    errors: tuple = ()

    def ddl(self, sql: str) -> str:
        return sql.format(id=self.client_id_type, int=self.int_type, keyed=self.keyed)

    def guards(self, tables=IMMUTABLE) -> list[str]:
        raise NotImplementedError


class _SQLite(_Backend):
    name = "sqlite"
    errors = (sqlite3.Error,)
    client_id_type = "INTEGER PRIMARY KEY"
    int_type = "INTEGER"
    # Small rows that are all key: kept in their key's tree alone, not also in a rowid's
    # (writing a day's entry lines and receipts 10 % faster).
    keyed = " WITHOUT ROWID"

    def guards(self, tables=IMMUTABLE) -> list[str]:
        return [f"CREATE TRIGGER {table}_{action}_forbidden BEFORE {action.upper()} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'booked {table} are immutable'); END"
                for table in tables for action in ("update", "delete")
                if not (table in UPDATABLE and action == "update")]


class _Postgres(_Backend):
    name = "postgresql"
    client_id_type = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    int_type = "BIGINT"
    keyed = ""

    def __init__(self):
        import psycopg

        self.errors = (psycopg.Error,)

    def guards(self, tables=IMMUTABLE) -> list[str]:
        out = ["""CREATE OR REPLACE FUNCTION tillpost_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN RAISE EXCEPTION 'booked % are immutable', TG_TABLE_NAME
                        USING ERRCODE = 'integrity_constraint_violation'; END $$"""]
        for table in tables:
            actions = "DELETE" if table in UPDATABLE else "UPDATE OR DELETE"
            out.append(f"CREATE TRIGGER {table}_immutable BEFORE {actions} ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION tillpost_immutable()")
            out.append(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION tillpost_immutable()")
        return out


# Advisory lock classes (PostgreSQL): the schema, and each client's final runs.
_LOCK_SCHEMA = 0x7111
_LOCK_CLIENT = 0x7112


class Store:
    """One open ledger, seen as one client's books.

    Writes happen only between `begin()` and `commit()`. `client` names the client
    whose books are read and written; without one, a ledger holding exactly one
    client means that client, an empty one means `default`.
    """

    # Test hooks: fail (or pause, so a test can kill the process) before the n-th write statement.
    fail_before: int | None = None

    def __init__(self, conn, path: str, readonly: bool, backend: _Backend, client: str | None):
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self.backend = backend
        self.requested_client = client
        self.client = client or DEFAULT_CLIENT
        self.client_id: int | None = None
        self._problem: str | None = None
        self.writes = 0
        self._in_transaction = False
        pause = os.environ.get("TILLPOST_TEST_PAUSE_BEFORE_WRITE")
        self._pause_before = int(pause) if pause and pause.isdigit() else None
        fail = os.environ.get("TILLPOST_TEST_FAIL_BEFORE_WRITE")
        if fail and fail.isdigit():
            self.fail_before = int(fail)

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str, readonly: bool = False, timeout: float = 60.0, client: str | None = None) -> "Store":
        """Open (or, unless read-only, create) the ledger at `path`: an SQLite file or a PostgreSQL URL.

        Read-only on an SQLite file that does not exist gives an empty in-memory
        ledger: a trial run on a fresh database must not create it.
        """
        if not isinstance(path, str) or not path.strip():
            raise LedgerError("--db is empty: give the ledger's SQLite file or postgresql:// URL "
                              "(is the variable you meant to pass unset?)")
        if client is not None and not client.strip():
            raise LedgerError("--client is empty: give the client's name")
        if is_postgres(path):
            store = cls._open_postgres(path, readonly, timeout, client)
        else:
            store = cls._open_sqlite(path, readonly, timeout, client)
        try:
            store._resolve_client()
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def _open_sqlite(cls, path: str, readonly: bool, timeout: float, client: str | None) -> "Store":
        if os.path.isdir(path):
            raise LedgerError(f"{path}: is a folder, not a ledger database")
        parent = os.path.dirname(os.path.abspath(path))
        if not readonly and not os.path.isdir(parent):
            raise LedgerError(f"{path}: the folder {parent} does not exist")
        # A file a killed first run left empty holds nothing yet: it is a new ledger.
        exists = os.path.exists(path) and os.path.getsize(path) > 0
        backend = _SQLite()
        try:
            if readonly and not exists:
                conn = sqlite3.connect(":memory:", isolation_level=None)
                store = cls(conn, path, readonly=False, backend=backend, client=client)
                store._create_schema()
                store.readonly = True
                return store
            if readonly:
                cls._recover(path, timeout)
                uri = Path(path).resolve().as_uri() + "?mode=ro"
                conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout)
            else:
                conn = sqlite3.connect(path, isolation_level=None, timeout=timeout)
                # A final run writes its whole day in one transaction: a page cache that holds it
                # keeps SQLite from spilling pages to the file (and locking readers out, until it
                # commits) half-way. 64 MB holds some 50,000 mixed receipts (a ledger of 100,000 is
                # 130 MB); a larger day spills rather than hold its whole ledger in memory.
                conn.execute("PRAGMA cache_size = -65536")
            store = cls(conn, path, readonly, backend, client)
            store.version()  # fails early on a file that is not SQLite
            return store
        except sqlite3.Error as e:
            raise LedgerError(f"{path}: cannot open the ledger: {e}") from None

    @staticmethod
    def _recover(path: str, timeout: float) -> None:
        """A run killed mid-write leaves a rollback journal that only a writer may roll back.

        Readers (status, trial) open the file read-only and could not read it until the
        next final run; rolling the dead run back is what SQLite does for that run anyway,
        so a reader does it first, with a short read-write connection.
        """
        if not os.path.exists(path + "-journal"):
            return
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=timeout)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # not writable here: the read below says what is wrong

    @classmethod
    def _open_postgres(cls, url: str, readonly: bool, timeout: float, client: str | None) -> "Store":
        try:
            import psycopg
        except ImportError:
            raise LedgerError("PostgreSQL ledgers need psycopg: pip install 'psycopg[binary]'") from None
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(min(timeout, 30))))
        except psycopg.Error as e:
            message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise LedgerError(f"{shown_db(url)}: cannot connect to the ledger: {message}") from None
        store = cls(conn, url, readonly, _Postgres(), client)
        store._lock_timeout = timeout
        try:
            store.version()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # closing a broken connection: nothing left to do
            pass

    # -- SQL ----------------------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql if self.backend.name == "sqlite" else sql.replace("?", "%s")

    def query(self, sql: str, params: Iterable = ()) -> list[tuple]:
        """Rows of a read (the tests and the dashboard read through this, on either backend)."""
        return self.conn.execute(self._sql(sql), tuple(params)).fetchall()

    def _one(self, sql: str, params: Iterable = ()):
        return self.conn.execute(self._sql(sql), tuple(params)).fetchone()

    def _hook(self) -> None:
        self.writes += 1
        if self.fail_before is not None and self.writes >= self.fail_before:
            raise InjectedFailure(f"injected failure before write statement {self.writes}")
        if self._pause_before is not None and self.writes == self._pause_before:
            print(f"tillpost-test: paused before write statement {self.writes}", file=sys.stderr, flush=True)
            time.sleep(120)

    def _write(self, sql: str, params: tuple = ()) -> None:
        self._hook()
        if params or self.backend.name == "sqlite":
            self.conn.execute(self._sql(sql), params)
        else:
            self.conn.execute(sql)  # no parameters: psycopg must not read a '%' in it as one

    def _write_many(self, sql: str, rows: list) -> None:
        if rows:
            self._hook()
            if self.backend.name == "sqlite":
                self.conn.executemany(sql, rows)
            else:
                with self.conn.cursor() as cur:
                    cur.executemany(self._sql(sql), rows)

    def _insert_many(self, table: str, columns: tuple[str, ...], rows: list) -> None:
        """Insert rows (tuples in the order of `columns`): on PostgreSQL by COPY, which a run of
        100,000 receipts needs (executemany costs a round of Python per row there)."""
        if not rows:
            return
        if self.backend.name == "sqlite":
            self._write_many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                             rows)
            return
        self._hook()
        with self.conn.cursor() as cur:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    # -- schema -----------------------------------------------------------------------------

    def _tables(self) -> set[str]:
        if self.backend.name == "sqlite":
            rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        else:
            rows = self.conn.execute("SELECT tablename FROM pg_catalog.pg_tables "
                                     "WHERE schemaname = current_schema()").fetchall()
        return {r[0] for r in rows}

    def version(self) -> int:
        """The schema version of the database: 0 for a new (empty) one."""
        try:
            tables = self._tables()
            if not tables or (self.backend.name == "postgresql" and "meta" not in tables
                              and not tables & {"clients", "receipts", "entries"}):
                # PostgreSQL: other tables (a job queue's) may share the schema of a new ledger.
                return 0
            if "meta" not in tables:
                raise LedgerError(f"{shown_db(self.path)}: not a tillpost ledger (it has other tables)")
            row = self._one("SELECT value FROM meta WHERE key = 'schema_version'")
        except self.backend.errors as e:
            raise LedgerError(f"{shown_db(self.path)}: not a tillpost ledger ({e})") from None
        if row is None:
            raise LedgerError(f"{shown_db(self.path)}: not a tillpost ledger (its meta table has no schema_version)")
        text = row[0]
        if not (isinstance(text, str) and text.isdigit() and 1 <= int(text) < 10_000):
            raise LedgerError(f"{shown_db(self.path)}: the ledger's schema_version is {text!r}, not a version tillpost "
                              "wrote: the meta table was edited by hand; restore it from a backup")
        version = int(text)
        if version > SCHEMA_VERSION:
            raise LedgerError(f"{shown_db(self.path)}: ledger schema version {version} is newer than this tillpost "
                              f"understands ({SCHEMA_VERSION}); upgrade tillpost")
        return version

    def applied_extensions(self) -> list[str]:
        names = [name for (name,) in self.query("SELECT name FROM migrations")]
        unknown = sorted(set(names) - {e.name for e in EXTENSIONS})
        if unknown:
            raise LedgerError(f"{shown_db(self.path)}: the ledger has tables of a newer tillpost "
                              f"({', '.join(unknown)}); upgrade tillpost")
        return names

    def missing_extensions(self) -> list[Extension]:
        applied = set(self.applied_extensions())
        return [e for e in EXTENSIONS if e.name not in applied]

    def check_current(self) -> None:
        """Readers (trial, status) need the current schema; only a final run migrates."""
        version = self.version()
        if 0 < version < SCHEMA_VERSION:
            raise LedgerError(f"{shown_db(self.path)}: ledger schema version {version}; a final run migrates it to "
                              f"{SCHEMA_VERSION}")
        if version and self.missing_extensions():
            missing = ", ".join(e.name for e in self.missing_extensions())
            raise LedgerError(f"{shown_db(self.path)}: the ledger lacks the tables of {missing}; the next final run "
                              "(or worker) adds them")

    def is_current(self) -> bool:
        return self.version() == SCHEMA_VERSION and not self.missing_extensions()

    def _create_schema(self) -> None:
        # SQLite makes the schema inside the first final run's transaction: a statement of the
        # run like the others (the failure-injection tests count it). PostgreSQL makes it in a
        # transaction of its own before the run (`ensure_schema`).
        write = self._write if self.backend.name == "sqlite" else self._ddl
        for sql in SCHEMA:
            write(self.backend.ddl(sql))
        for sql in self.backend.guards():
            write(sql)
        write("INSERT INTO meta (key, value) VALUES ('schema_version', '%d')" % SCHEMA_VERSION)
        self._extend(EXTENSIONS)

    def _extend(self, extensions: list[Extension]) -> None:
        write = self._write if self.backend.name == "sqlite" else self._ddl
        for ext in extensions:
            for sql in ext.statements:
                write(self.backend.ddl(sql))
            for sql in self.backend.guards(ext.immutable):
                write(sql)
            record = ("INSERT INTO migrations (name, applied) VALUES (?, ?)", (ext.name, _now()))
            if self.backend.name == "sqlite":
                self._write(*record)
            else:
                self.conn.execute(self._sql(record[0]), record[1])

    def _ddl(self, sql: str) -> None:
        self.conn.execute(sql)

    def _migrate(self) -> None:
        """Bring the schema up to date (inside a transaction that holds the write lock)."""
        version = self.version()
        if version == 0:
            self._create_schema()
            return
        for n in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[n](self)
            self._write("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(n),))
        self._extend(self.missing_extensions())

    def ensure_schema(self) -> None:
        """PostgreSQL: create or migrate the schema in a transaction of its own, under a lock,
        so that workers starting at once on an empty database create it once."""
        if self.backend.name != "postgresql" or self.is_current():
            return
        try:
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_SCHEMA,))
            self._migrate()
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback_quietly()
            raise

    # -- clients ----------------------------------------------------------------------------

    def clients(self) -> list[str]:
        """The names of the clients in the ledger."""
        if self.version() == 0:
            return []
        return [name for (name,) in self.query("SELECT name FROM clients ORDER BY name")]

    def _resolve_client(self) -> None:
        """Which client this store is about: the one asked for, or the only one there is.

        An ambiguous ledger (several clients, none named) is not an error until the
        store is used for one client's books (`require_client`): listing clients and
        users needs none.
        """
        self._problem = None
        version = self.version()
        if version < 2:
            # Wave 1's ledger holds one client, without a name; the first final run names it.
            if self.requested_client not in (None, DEFAULT_CLIENT) and version == 1:
                self._problem = (f"{shown_db(self.path)}: this ledger (schema version 1) holds one client, "
                                 f"'{DEFAULT_CLIENT}'; a final run without --client migrates it")
            return
        names = self.clients()
        if self.requested_client is None:
            if len(names) > 1:
                shown = ", ".join(names[:10]) + (" …" if len(names) > 10 else "")
                self._problem = (f"{shown_db(self.path)}: this ledger holds {len(names)} clients ({shown}): "
                                 "say which with --client NAME")
                return
            self.client = names[0] if names else DEFAULT_CLIENT
        row = self._one("SELECT id FROM clients WHERE name = ?", (self.client,))
        self.client_id = row[0] if row else None

    def use_client(self, name: str) -> None:
        """Read another client's books through this connection (the dashboard reads many clients'
        books in one snapshot)."""
        self.requested_client = self.client = name
        self._resolve_client()

    def require_client(self, existing: bool = False) -> None:
        """Before a client's books are read or written: which client must be clear, and a
        reader asking for a client that was never booked is told so (`existing`)."""
        if self._problem:
            raise LedgerError(self._problem)
        if existing and self.client_id is None and self.requested_client is not None and self.version() >= 2:
            names = self.clients()
            import difflib

            close = difflib.get_close_matches(self.client, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else (f"; it holds {', '.join(names[:10])}" if names else
                                                                    "; it holds no client yet")
            raise LedgerError(f"{shown_db(self.path)}: no client '{self.client}' in this ledger{hint}")

    def _ensure_client(self) -> None:
        if self.client_id is not None:
            return
        self._write("INSERT INTO clients (name, created) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                    (self.client, _now()))
        self.client_id = self._one("SELECT id FROM clients WHERE name = ?", (self.client,))[0]

    # -- transactions ------------------------------------------------------------------------

    def begin(self) -> None:
        """Start the one transaction of a final run, holding this client's lock from now on.

        SQLite: BEGIN IMMEDIATE makes a second writer wait here until this run commits.
        PostgreSQL: an advisory lock per client does the same for that client alone.
        Either way the second run then plans against what this one booked.
        """
        if self.readonly:
            raise LedgerError("a trial run cannot write")
        self.writes = 0
        if self.backend.name == "sqlite":
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise LedgerError(f"{self.path}: the ledger is busy ({e}); another run holds it") from None
            try:
                self._migrate()
                self._resolve_client()
                self.require_client()
                self._ensure_client()
            except BaseException:
                self.rollback()
                raise
        else:
            self.ensure_schema()
            self._resolve_client()
            self.require_client()
            try:
                self.conn.execute("BEGIN")
                self.conn.execute(f"SET LOCAL lock_timeout = '{int(self._lock_timeout * 1000)}ms'")
                self._ensure_client()
                self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLIENT, self.client_id))
            except BaseException as e:
                self._rollback_quietly()
                import psycopg

                if isinstance(e, psycopg.errors.LockNotAvailable):
                    raise LedgerError(f"{shown_db(self.path)}: client '{self.client}' is busy: another run holds "
                                      "its lock") from None
                raise
        self._in_transaction = True

    def begin_shared(self) -> None:
        """A write transaction about no client's books (the dashboard's users and its secret): the
        schema is made or brought up to date first, as a final run would."""
        if self.readonly:
            raise LedgerError("a read-only ledger cannot write")
        self.writes = 0
        if self.backend.name == "sqlite":
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise LedgerError(f"{self.path}: the ledger is busy ({e}); another run holds it") from None
            try:
                self._migrate()
            except BaseException:
                self.rollback()
                raise
        else:
            self.ensure_schema()
            self.conn.execute("BEGIN")
        self._in_transaction = True

    def execute(self, sql: str, params: Iterable = ()) -> None:
        """One write statement (`?` placeholders) inside begin_shared()/commit()."""
        if not self._in_transaction:
            raise LedgerError("a write outside a transaction")
        self._write(sql, tuple(params))

    def in_read(self) -> bool:
        """Is a transaction open (a reader's snapshot, or a run's)?"""
        return self._in_transaction

    def begin_read(self) -> None:
        """A consistent view for a reader (status, the dashboard) while workers write."""
        if self.backend.name == "sqlite":
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # takes the snapshot now
        elif self.version() == 0:
            # An empty database: read an empty schema made in a transaction that is never committed.
            self.conn.execute("BEGIN")
            self._create_schema()
        else:
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._in_transaction = True

    def end_read(self) -> None:
        self._rollback_quietly()

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        self._in_transaction = False

    def rollback(self) -> None:
        self._rollback_quietly()

    def _rollback_quietly(self) -> None:
        self._in_transaction = False
        try:
            if self.backend.name == "sqlite":
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            else:
                self.conn.execute("ROLLBACK")
        except Exception:  # a dead connection rolls back by itself
            pass

    # -- reading -----------------------------------------------------------------------------

    def _cid(self) -> int:
        return self.client_id if self.client_id is not None else -1

    def client_setting(self, column: str):
        if self.client_id is None:
            return None
        row = self._one(f"SELECT {column} FROM clients WHERE id = ?", (self.client_id,))
        return row[0] if row else None

    def decimals(self) -> int:
        value = self.client_setting("decimals")
        return int(value) if value is not None else 2

    @property
    def _ids_at_once(self) -> int:
        """How many ids one query looks up: SQLite takes each as a parameter (and allows some 32,000);
        PostgreSQL one array, joined at once (each query is a pass over the table's rows)."""
        return 5000 if self.backend.name == "sqlite" else 200_000

    def _chunks(self, values: list, size: int = 5000):
        for start in range(0, len(values), size):
            yield values[start:start + size]

    def receipts_by_id(self, ids: Iterable[str], kind: str = "receipt") -> dict[str, StoredReceipt]:
        """The stored receipts among `ids` (a run reads only the receipts its input holds)."""
        out: dict[str, StoredReceipt] = {}
        if self.client_id is None:
            return out
        ids = list(ids)
        columns = "pk, r.id, hash, status, reason, booked_as, booked_hash, date, store"
        for part in self._chunks(ids, self._ids_at_once):
            if self.backend.name == "sqlite":
                rows = self.query(f"SELECT {columns} FROM receipts r WHERE client = ? AND kind = ? AND "
                                  f"id IN ({','.join('?' * len(part))})", (self.client_id, kind, *part))
            else:
                # A join, not `id = ANY(?)`: PostgreSQL tests each row against the whole array when it
                # scans (a ledger just loaded has no statistics yet), seconds per batch at 100,000 rows.
                rows = self.query(f"SELECT {columns} FROM unnest(?::text[]) AS u(id) JOIN receipts r "
                                  "ON r.client = ? AND r.kind = ? AND r.id = u.id", (part, self.client_id, kind))
            for pk, rid, h, status, reason, booked_as, booked_hash, date, store in rows:
                out[rid] = StoredReceipt(pk, h, status, reason, booked_as, booked_hash, date, store)
        return out

    def receipts_in_status(self, status: str, kind: str = "receipt") -> dict[str, StoredReceipt]:
        rows = self.query("SELECT pk, id, hash, status, reason, booked_as, booked_hash, date, store FROM receipts "
                          "WHERE client = ? AND kind = ? AND status = ?", (self._cid(), kind, status))
        return {rid: StoredReceipt(pk, h, st, reason, ba, bh, date, store)
                for pk, rid, h, st, reason, ba, bh, date, store in rows}

    def next_ids(self) -> tuple[int, int, int]:
        """The client's next run id, entry id and receipt pk (read inside the write lock)."""
        cid = self._cid()
        run = self._one("SELECT COALESCE(MAX(id), 0) FROM runs WHERE client = ?", (cid,))[0]
        entry = self._one("SELECT COALESCE(MAX(id), 0) FROM entries WHERE client = ?", (cid,))[0]
        pk = self._one("SELECT COALESCE(MAX(pk), 0) FROM receipts WHERE client = ?", (cid,))[0]
        return run + 1, entry + 1, pk + 1

    def booked_groups(self, keys: Iterable[str]) -> set[tuple[str, str, str]]:
        """(journal, mode, key) of the regular entries among the group keys given: a receipt
        arriving for one of them is late."""
        found: set[tuple[str, str, str]] = set()
        keys = sorted(set(keys))
        for part in self._chunks(keys, self._ids_at_once):
            if self.backend.name == "sqlite":
                found.update(self.query(f"SELECT DISTINCT journal, mode, entry_key FROM entries WHERE client = ? "
                                        f"AND kind = 'regular' AND entry_key IN ({','.join('?' * len(part))})",
                                        (self._cid(), *part)))
            else:  # a join, as in `receipts_by_id`
                found.update(self.query("SELECT DISTINCT journal, mode, entry_key FROM unnest(?::text[]) AS u(k) "
                                        "JOIN entries e ON e.client = ? AND e.kind = 'regular' AND e.entry_key = u.k",
                                        (part, self._cid())))
        return found

    def postings_of(self, pk: int) -> list[list[dict]]:
        """Per run, oldest first: the groups of legs the receipt put into (or took out of) entries."""
        return [json.loads(legs) for (legs,) in
                self.query("SELECT legs FROM postings WHERE client = ? AND receipt = ? ORDER BY run",
                           (self._cid(), pk))]

    def payments_of(self, pk: int) -> str:
        """The receipt's payments as stored: JSON [[method, amount, journal], …]."""
        row = self._one("SELECT payments FROM receipts WHERE client = ? AND pk = ?", (self._cid(), pk))
        return row[0] if row else "[]"

    def entry_headers(self, ids) -> dict[int, dict]:
        ids = sorted(set(ids))
        out = {}
        for part in self._chunks(ids, 500):
            marks = ",".join("?" * len(part))
            for row in self.query(
                    f"SELECT id, kind, journal, date, mode, entry_key, description FROM entries "
                    f"WHERE client = ? AND id IN ({marks})", (self._cid(), *part)):
                out[row[0]] = dict(zip(("id", "kind", "journal", "date", "mode", "key", "description"), row))
        return out

    def stored_contents(self, status: str, kind: str = "receipt") -> list[tuple[str, str, str]]:
        """(source, id, content) of every receipt (or closing) in a status, for `--retry-errors`."""
        return self.query("SELECT source, id, content FROM receipts WHERE client = ? AND kind = ? AND status = ? "
                          "AND content IS NOT NULL ORDER BY pk", (self._cid(), kind, status))

    def closings_of(self, registers: list[tuple[str, str, str]]) -> dict[tuple, list[str]]:
        """(store, register, date) → the ids of the booked closings of those registers and days."""
        out: dict[tuple, list[str]] = {}
        for date in sorted({d for _, _, d in registers}):
            for shop, register, cid in self.query(
                    "SELECT store, register, id FROM receipts WHERE client = ? AND kind = 'closing' AND date = ? "
                    "AND booked_as IS NOT NULL", (self._cid(), date)):
                out.setdefault((shop, register, date), []).append(cid)
        return out

    def closings_for_status(self, date: str | None, store: str | None = None):
        """(id, store, register, date, status, reason, content) of the closings of the days asked for."""
        sql = ("SELECT id, store, register, date, status, reason, content FROM receipts "
               "WHERE client = ? AND kind = 'closing'")
        params: list = [self._cid()]
        if date:
            sql += " AND date = ?"
            params.append(date)
        if store:
            sql += " AND store = ?"
            params.append(store)
        return self.query(sql + " ORDER BY date, store, register, id", params)

    def stores_with_closings(self) -> set[str]:
        return {shop for (shop,) in self.query("SELECT DISTINCT store FROM receipts WHERE client = ? AND "
                                               "kind = 'closing'", (self._cid(),))}

    def receipts_for_status(self, date: str | None, store: str | None = None):
        sql = ("SELECT source, id, store, register, number, date, created, status, reason, booked_as, payments, pk "
               "FROM receipts WHERE client = ? AND kind = 'receipt'")
        params: list = [self._cid()]
        if date:
            sql += " AND date = ?"
            params.append(date)
        if store:
            sql += " AND store = ?"
            params.append(store)
        return self.query(sql + " ORDER BY date, store, register, id", params)

    def receipt_numbers(self, store: str | None = None) -> list[tuple[str, str, str, str]]:
        """(store, register, number, date) of every receipt seen (of a store): for the gaps."""
        sql = "SELECT store, register, number, date FROM receipts WHERE client = ? AND kind = 'receipt'"
        params: list = [self._cid()]
        if store:
            sql += " AND store = ?"
            params.append(store)
        return self.query(sql, params)

    def day_totals(self, date: str | None = None, store: str | None = None) -> list[tuple]:
        """(date, store, journal, account, debtor, vat, amount) of the days asked for."""
        sql = "SELECT date, store, journal, account, debtor, vat, amount FROM day_totals WHERE client = ?"
        params: list = [self._cid()]
        if date:
            sql += " AND date = ?"
            params.append(date)
        if store:
            sql += " AND store = ?"
            params.append(store)
        return self.query(sql, params)

    def entries(self, ids: Iterable[int] | None = None) -> list[dict]:
        """Booked entries as ledger dicts (id, kind, corrects + the canonical entry), by id."""
        cid = self._cid()
        if ids is None:
            heads = self.query("SELECT id, run, kind, journal, date, mode, entry_key, description FROM entries "
                               "WHERE client = ? ORDER BY id", (cid,))
        else:
            heads = []
            for part in self._chunks(sorted(set(ids)), 500):
                heads += self.query("SELECT id, run, kind, journal, date, mode, entry_key, description FROM entries "
                                    f"WHERE client = ? AND id IN ({','.join('?' * len(part))}) ORDER BY id",
                                    (cid, *part))
        out: dict[int, dict] = {}
        for eid, run, kind, journal, date, mode, key, description in heads:
            out[eid] = {"id": eid, "run": run, "kind": kind, "corrects": [], "journal": journal, "date": date,
                        "mode": mode, "key": key, "description": description, "receipts": [], "lines": []}
        if not out:
            return []
        wanted = sorted(out)
        lo, hi = wanted[0], wanted[-1]
        for eid, account, debit, credit, debtor, vat in self.query(
                "SELECT entry, account, debit, credit, debtor, vat FROM entry_lines WHERE client = ? AND entry >= ? "
                "AND entry <= ? ORDER BY entry, line", (cid, lo, hi)):
            if eid in out:
                out[eid]["lines"].append({"account": account, "debit": debit, "credit": credit, "debtor": debtor,
                                          "vat": vat})
        for eid, receipt, kind in self.query(
                "SELECT entry, receipt, kind FROM entry_receipts WHERE client = ? AND entry >= ? AND entry <= ? "
                "ORDER BY entry, receipt", (cid, lo, hi)):
            if eid in out:
                if kind == "receipt":
                    out[eid]["receipts"].append(receipt)
                else:  # as the canonical entry has them: a list only when it holds any
                    out[eid].setdefault("closings", []).append(receipt)
        for eid, original in self.query("SELECT entry, original FROM corrections WHERE client = ? AND entry >= ? "
                                        "AND entry <= ? ORDER BY entry, original", (cid, lo, hi)):
            if eid in out:
                out[eid]["corrects"].append(original)
        return [out[i] for i in wanted]

    def corrections(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for entry, original in self.query("SELECT entry, original FROM corrections WHERE client = ? "
                                          "ORDER BY entry, original", (self._cid(),)):
            out.setdefault(entry, []).append(original)
        return out

    def runs(self) -> list[tuple]:
        return self.query("SELECT id, started, finished, command, selection, counts FROM runs WHERE client = ? "
                          "ORDER BY id", (self._cid(),))

    def file_booked(self, sha256: str) -> tuple[str, int] | None:
        """(name, run) of the inbox file with this content, when one was booked."""
        row = self._one("SELECT name, run FROM files WHERE client = ? AND sha256 = ?", (self._cid(), sha256))
        return (row[0], row[1]) if row else None

    # -- a final run's spool -----------------------------------------------------------------

    SPOOLS = ("entries", "postings")

    def open_spool(self) -> None:
        """Temporary tables in which a final run keeps rows it can only finish at its end (the
        entries, numbered once all are made; each receipt's postings, which name them): off the
        run's memory, and inside its transaction, so a failed or killed run leaves none."""
        for name in self.SPOOLS:
            table = f"tillpost_spool_{name}"
            if self.backend.name == "sqlite":
                self._write(f"DROP TABLE IF EXISTS temp.{table}")
                self._write(f"CREATE TEMP TABLE {table} (seq INTEGER PRIMARY KEY, a INTEGER, b TEXT NOT NULL)")
            else:
                self._write(f"CREATE TEMP TABLE {table} (seq BIGINT PRIMARY KEY, a BIGINT, b TEXT NOT NULL) "
                            "ON COMMIT DROP")

    def spool(self, name: str, rows: list[tuple[int, int | None, str]]) -> None:
        """Keep rows (seq, a number, a text) in a spool."""
        self._insert_many(f"tillpost_spool_{name}", ("seq", "a", "b"), rows)

    def spooled(self, name: str, size: int = 5000):
        """A spool's rows (seq, a, b) in order, read a page at a time."""
        last = -1
        while True:
            rows = self.query(f"SELECT seq, a, b FROM tillpost_spool_{name} WHERE seq > ? ORDER BY seq LIMIT {size}",
                              (last,))
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def analyze(self) -> None:
        """After a run that added many rows (outside its transaction): PostgreSQL plans a lookup
        by the statistics of the tables, which a ledger just loaded does not have yet (autovacuum
        makes them later); without, it expects a few rows and looks each id up by a pass over
        the lot, seconds for the next run's thousand receipts. SQLite looks ids up by index anyway."""
        if self.backend.name == "postgresql":
            try:
                self.conn.execute("ANALYZE receipts, entries, postings")
            except self.backend.errors:
                pass  # statistics are an aid: the run is committed whatever becomes of them

    def close_spool(self) -> None:
        for name in self.SPOOLS:
            self._write(f"DROP TABLE IF EXISTS tillpost_spool_{name}")

    # -- writing (inside begin/commit only) --------------------------------------------------

    def set_client_settings(self, decimals: int, counter_debtor: str | None) -> None:
        row = self._one("SELECT decimals, counter_debtor FROM clients WHERE id = ?", (self.client_id,))
        if row is None or (row[0], row[1]) != (decimals, counter_debtor):
            self._write("UPDATE clients SET decimals = ?, counter_debtor = ? WHERE id = ?",
                        (decimals, counter_debtor, self.client_id))

    def insert_run(self, run: dict) -> None:
        self._write(
            "INSERT INTO runs (client, id, started, command, selection, input, rules, rules_sha256, version, ran_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.client_id, run["id"], run["started"], run["command"], run["selection"], run["input"], run["rules"],
             run["rules_sha256"], run["version"], run["ran_by"]))

    def finish_run(self, run_id: int, finished: str, counts: dict) -> None:
        self._write("UPDATE runs SET finished = ?, counts = ? WHERE client = ? AND id = ?",
                    (finished, json.dumps(counts, sort_keys=True), self.client_id, run_id))

    def insert_file(self, sha256: str, name: str, run_id: int) -> None:
        self._write("INSERT INTO files (client, sha256, name, run) VALUES (?, ?, ?, ?)",
                    (self.client_id, sha256, name, run_id))

    def insert_entries(self, run_id: int, entries: list[tuple[int, list]]) -> None:
        """entries: (id, [kind, journal, date, mode, key, description, receipts,
        lines as [account, debit, credit, debtor, vat], closings, corrects])."""
        cid = self.client_id
        self._insert_many(
            "entries", ("client", "id", "run", "kind", "journal", "date", "mode", "entry_key", "description"),
            [(cid, n, run_id, *e[:6]) for n, e in entries])
        self._insert_many(
            "entry_lines", ("client", "entry", "line", "account", "debit", "credit", "debtor", "vat"),
            [(cid, n, i, *line) for n, e in entries for i, line in enumerate(e[7], start=1)])
        self._insert_many("entry_receipts", ("client", "entry", "receipt", "kind"),
                          [(cid, n, r, "receipt") for n, e in entries for r in e[6]]
                          + [(cid, n, c, "closing") for n, e in entries for c in e[8]])
        self._insert_many("corrections", ("client", "entry", "original"),
                          [(cid, n, o) for n, e in entries for o in e[9]])

    def insert_receipts(self, rows: list[ReceiptRow], run_id: int) -> None:
        cid = self.client_id
        self._insert_many("receipts", ("client", *ReceiptRow._fields, "first_run", "last_run"),
                          [(cid, *r, run_id, run_id) for r in rows])

    def update_receipts(self, rows: list[ReceiptRow], run_id: int) -> None:
        # pk, kind, source and id name the row; the rest is what a run may change.
        columns = ReceiptRow._fields[4:]
        cid = self.client_id
        self._write_many(
            f"UPDATE receipts SET {', '.join(c + ' = ?' for c in columns)}, last_run = ? "
            "WHERE client = ? AND pk = ?",
            [(*r[4:], run_id, cid, r[0]) for r in rows])

    def insert_postings(self, rows: list[tuple[int, str]], run_id: int) -> None:
        self._insert_many("postings", ("client", "run", "receipt", "legs"),
                          [(self.client_id, run_id, pk, legs) for pk, legs in rows])

    def add_day_totals(self, deltas: dict[tuple, Decimal]) -> None:
        """Add the run's legs to the day totals: {(date, store, journal, account, debtor, vat): amount}."""
        if not deltas:
            return
        cid = self.client_id
        keys = sorted(deltas, key=lambda k: tuple(x or "" for x in k))
        current: dict[tuple, str] = {}
        for date in sorted({k[0] for k in keys}):
            for row in self.query("SELECT date, store, journal, account, debtor, vat, amount FROM day_totals "
                                  "WHERE client = ? AND date = ?", (cid, date)):
                current[row[:6]] = row[6]
        inserts, updates = [], []
        for k in keys:
            key = (k[0], k[1], k[2], k[3], k[4] or "", k[5] or "")
            if key in current:
                updates.append((str(Decimal(current[key]) + deltas[k]), cid, *key))
            else:
                inserts.append((cid, *key, str(deltas[k])))
        self._write_many("INSERT INTO day_totals (client, date, store, journal, account, debtor, vat, amount) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", inserts)
        self._write_many("UPDATE day_totals SET amount = ? WHERE client = ? AND date = ? AND store = ? AND journal = ? "
                         "AND account = ? AND debtor = ? AND vat = ?", updates)


# -- migrations --------------------------------------------------------------------------------


def _v1_to_v2(store: Store) -> None:
    """Wave 1's single-client SQLite ledger → the multi-client schema, all of it client `default`.

    The old tables are renamed aside, the current schema is created, the rows are copied
    with the client's key, the day totals are summed from the postings, and the old
    tables are dropped (dropping fires no delete trigger)."""
    if store.backend.name != "sqlite":
        raise LedgerError("only SQLite ledgers have a schema version 1")
    old = store._tables()
    decimals = store._one("SELECT value FROM meta WHERE key = 'decimals'")
    for table in V1_TABLES:
        if table in old:
            store._write(f"ALTER TABLE {table} RENAME TO v1_{table}")
    store._write("DROP TABLE meta")
    for index in ("receipts_day", "entries_group", "entry_receipts_receipt"):  # renamed along with their tables
        store._write(f"DROP INDEX IF EXISTS {index}")
    for sql in SCHEMA:
        store._write(store.backend.ddl(sql))
    store._write("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    store._write("INSERT INTO clients (id, name, created, decimals) VALUES (1, ?, ?, ?)",
                 (DEFAULT_CLIENT, _now(), int(decimals[0]) if decimals and str(decimals[0]).isdigit() else None))
    store._write("INSERT INTO runs SELECT 1, id, started, finished, command, selection, input, rules, rules_sha256, "
                 "version, ran_by, counts FROM v1_runs")
    store._write("INSERT INTO receipts (client, pk, kind, source, id, store, register, number, date, created, hash, "
                 "status, reason, booked_as, booked_hash, payments, content, detail, first_run, last_run) "
                 "SELECT 1, pk, 'receipt', source, id, store, register, number, date, created, hash, status, reason, "
                 "booked_as, booked_hash, payments, content, NULL, first_run, last_run FROM v1_receipts")
    store._write("INSERT INTO entries SELECT 1, id, run, kind, journal, date, mode, entry_key, description "
                 "FROM v1_entries")
    store._write("INSERT INTO entry_lines SELECT 1, entry, line, account, debit, credit, debtor, vat "
                 "FROM v1_entry_lines")
    store._write("INSERT INTO entry_receipts SELECT 1, entry, receipt, 'receipt' FROM v1_entry_receipts")
    store._write("INSERT INTO corrections SELECT 1, entry, original FROM v1_corrections")
    store._write("INSERT INTO postings SELECT 1, receipt, run, legs FROM v1_postings")
    store.client_id = 1
    dates = {eid: date for eid, date in store.query("SELECT id, date FROM entries WHERE client = 1")}
    days = {pk: (date, shop) for pk, date, shop in store.query("SELECT pk, date, store FROM receipts WHERE client = 1")}
    deltas: dict[tuple, Decimal] = {}
    for pk, legs in store.query("SELECT receipt, legs FROM postings WHERE client = 1 ORDER BY run"):
        date, shop = days.get(pk, ("", ""))
        for group in json.loads(legs):
            for account, debtor, vat, amount in group["l"]:
                k = (dates.get(group["e"]) or date, shop, group["j"], account, debtor, vat)
                deltas[k] = deltas.get(k, Decimal(0)) + Decimal(amount)
    store.add_day_totals({k: v for k, v in deltas.items()})
    for table in V1_TABLES:
        if table in old:
            store._write(f"DROP TABLE v1_{table}")
    for sql in store.backend.guards():
        store._write(sql)


MIGRATIONS = {2: _v1_to_v2}


# Features' tables, registered whenever the ledger is loaded (so every command knows them).
from . import extensions as _extensions  # noqa: E402,F401
