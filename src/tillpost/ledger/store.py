"""The ledger store: the one module that speaks SQL (SPEC §9).

Everything the processing layer keeps lives in these tables:

    meta        schema version, the currency's decimals
    runs        every final run: when, selection, counts, rule file, what ran it
    receipts    every receipt ever seen: one row, one status (see process.py)
    entries     every booked entry, immutable, with its rendered payload
    entry_lines its lines (amounts as decimal strings: exact, portable)
    entry_receipts the receipts in it
    corrections which original entries a correction entry points at
    postings    per receipt and run, the legs it put into (or took out of) each entry

The SQL is kept portable (TEXT, INTEGER, plain constraints, no upsert
dialects) so a PostgreSQL backend can implement the same schema; only the
immutability triggers and the locking statement are SQLite's own.

Migrations are versioned: `MIGRATIONS[n]` takes a ledger from version n-1 to
n, inside the transaction of the first final run that needs it.

A trial run opens the file read-only (or, when it does not exist yet, an
in-memory copy of the empty schema), so it cannot write a byte.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

SCHEMA_VERSION = 1

MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started TEXT NOT NULL,
            finished TEXT,
            command TEXT NOT NULL,
            selection TEXT NOT NULL,
            input TEXT NOT NULL,
            rules TEXT NOT NULL,
            rules_sha256 TEXT NOT NULL,
            version TEXT NOT NULL,
            ran_by TEXT NOT NULL,
            counts TEXT)""",
        """CREATE TABLE receipts (
            pk INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            id TEXT NOT NULL,
            store TEXT NOT NULL,
            register TEXT NOT NULL,
            number TEXT NOT NULL,
            date TEXT NOT NULL,
            created TEXT,
            hash TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('booked', 'late', 'changed', 'open', 'voided', 'error')),
            reason TEXT,
            booked_as TEXT CHECK (booked_as IN ('booked', 'late', 'changed')),
            booked_hash TEXT,
            payments TEXT NOT NULL,
            content TEXT,
            first_run INTEGER NOT NULL REFERENCES runs (id),
            last_run INTEGER NOT NULL REFERENCES runs (id),
            UNIQUE (id))""",
        "CREATE INDEX receipts_day ON receipts (date, store)",
        """CREATE TABLE entries (
            id INTEGER PRIMARY KEY,
            run INTEGER NOT NULL REFERENCES runs (id),
            kind TEXT NOT NULL CHECK (kind IN ('regular', 'supplement', 'reversal', 'rebooking')),
            journal TEXT NOT NULL,
            date TEXT NOT NULL,
            mode TEXT NOT NULL,
            entry_key TEXT NOT NULL,
            description TEXT NOT NULL,
            payload TEXT NOT NULL)""",
        "CREATE INDEX entries_group ON entries (journal, mode, entry_key)",
        """CREATE TABLE entry_lines (
            entry INTEGER NOT NULL REFERENCES entries (id),
            line INTEGER NOT NULL,
            account TEXT NOT NULL,
            debit TEXT NOT NULL,
            credit TEXT NOT NULL,
            debtor TEXT,
            vat TEXT,
            PRIMARY KEY (entry, line))""",
        """CREATE TABLE entry_receipts (
            entry INTEGER NOT NULL REFERENCES entries (id),
            receipt TEXT NOT NULL,
            PRIMARY KEY (entry, receipt))""",
        "CREATE INDEX entry_receipts_receipt ON entry_receipts (receipt)",
        """CREATE TABLE corrections (
            entry INTEGER NOT NULL REFERENCES entries (id),
            original INTEGER NOT NULL REFERENCES entries (id),
            PRIMARY KEY (entry, original))""",
        """CREATE TABLE postings (
            run INTEGER NOT NULL REFERENCES runs (id),
            receipt INTEGER NOT NULL REFERENCES receipts (pk),
            legs TEXT NOT NULL,
            PRIMARY KEY (receipt, run))""",
    ],
}

# SQLite's own way to make booked entries immutable; a PostgreSQL backend uses its own triggers.
SQLITE_GUARDS: dict[int, list[str]] = {
    1: [
        f"CREATE TRIGGER {table}_{action}_forbidden BEFORE {action.upper()} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'booked {table} are immutable'); END"
        for table in ("entries", "entry_lines", "entry_receipts", "corrections", "postings", "runs")
        for action in ("update", "delete")
        if not (table == "runs" and action == "update")  # a run's row gets its counts when it ends
    ],
}


class LedgerError(Exception):
    """The ledger database cannot be used (not a ledger, newer schema, locked, unreadable)."""


class InjectedFailure(RuntimeError):
    """Raised by the test hook between two statements of a final run."""


@dataclass
class StoredReceipt:
    pk: int
    hash: str
    status: str
    reason: str | None
    booked_as: str | None  # the status its standing booking was made under; None: nothing booked
    booked_hash: str | None


class Store:
    """One open ledger. Writes happen only between `begin()` and `commit()`."""

    # Test hooks: fail (or pause, so a test can kill the process) before the n-th write statement.
    fail_before: int | None = None

    def __init__(self, conn: sqlite3.Connection, path: str, readonly: bool):
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self.writes = 0
        pause = os.environ.get("TILLPOST_TEST_PAUSE_BEFORE_WRITE")
        self._pause_before = int(pause) if pause else None
        fail = os.environ.get("TILLPOST_TEST_FAIL_BEFORE_WRITE")
        if fail:
            self.fail_before = int(fail)

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str, readonly: bool = False, timeout: float = 60.0) -> "Store":
        """Open (or, unless read-only, create) the ledger at `path`.

        Read-only on a file that does not exist gives an empty in-memory ledger:
        a trial run on a fresh database must not create it.
        """
        if path.startswith(("postgres://", "postgresql://")):
            raise LedgerError(f"{path}: PostgreSQL ledgers are not built yet; give an SQLite file")
        if os.path.isdir(path):
            raise LedgerError(f"{path}: is a folder, not a ledger database")
        exists = os.path.exists(path)
        try:
            if readonly and not exists:
                conn = sqlite3.connect(":memory:", isolation_level=None)
                store = cls(conn, path, readonly=False)
                store._migrate()
                store.readonly = True
                return store
            if readonly:
                uri = Path(path).resolve().as_uri() + "?mode=ro"
                conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout)
            else:
                conn = sqlite3.connect(path, isolation_level=None, timeout=timeout)
            store = cls(conn, path, readonly)
            store.version()  # fails early on a file that is not SQLite
            return store
        except sqlite3.Error as e:
            raise LedgerError(f"{path}: cannot open the ledger: {e}") from None

    def close(self) -> None:
        self.conn.close()

    def version(self) -> int:
        """The schema version of the file: 0 for a new (empty) database."""
        try:
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as e:
            raise LedgerError(f"{self.path}: not a tillpost ledger ({e})") from None
        if not tables:
            return 0
        if "meta" not in tables:
            raise LedgerError(f"{self.path}: not a tillpost ledger (it has other tables)")
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise LedgerError(f"{self.path}: ledger schema version {version} is newer than this tillpost "
                              f"understands ({SCHEMA_VERSION}); upgrade tillpost")
        return version

    def check_current(self) -> None:
        """Readers (trial, status) need the current schema; only a final run migrates."""
        version = self.version()
        if 0 < version < SCHEMA_VERSION:
            raise LedgerError(f"{self.path}: ledger schema version {version}; a final run migrates it to "
                              f"{SCHEMA_VERSION}")

    def _migrate(self) -> None:
        version = self.version()
        for n in range(version + 1, SCHEMA_VERSION + 1):
            for sql in MIGRATIONS[n] + SQLITE_GUARDS.get(n, []):
                self._write(sql)
            if n == 1:
                self._write("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(n),))
            else:
                self._write("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(n),))

    # -- transactions ------------------------------------------------------------------------

    def begin(self) -> None:
        """Start the one transaction of a final run, taking the write lock now.

        BEGIN IMMEDIATE makes a second writer (another watcher) wait here until
        this run commits, and then plan against what this run booked.
        """
        if self.readonly:
            raise LedgerError("a trial run cannot write")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise LedgerError(f"{self.path}: the ledger is busy ({e}); another run holds it") from None
        self.writes = 0
        self._migrate()

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def _hook(self) -> None:
        self.writes += 1
        if self.fail_before is not None and self.writes >= self.fail_before:
            raise InjectedFailure(f"injected failure before write statement {self.writes}")
        if self._pause_before is not None and self.writes == self._pause_before:
            print(f"tillpost-test: paused before write statement {self.writes}", file=sys.stderr, flush=True)
            time.sleep(120)

    def _write(self, sql: str, params: tuple = ()) -> None:
        self._hook()
        self.conn.execute(sql, params)

    def _write_many(self, sql: str, rows: list) -> None:
        if rows:
            self._hook()
            self.conn.executemany(sql, rows)

    # -- reading -----------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def receipt_index(self) -> dict[str, StoredReceipt]:
        """Every receipt seen, by id."""
        return {rid: StoredReceipt(pk, h, status, reason, booked_as, booked_hash)
                for pk, rid, h, status, reason, booked_as, booked_hash in self.conn.execute(
                    "SELECT pk, id, hash, status, reason, booked_as, booked_hash FROM receipts")}

    def next_ids(self) -> tuple[int, int, int]:
        """The next run id, entry id and receipt pk (read inside the write lock)."""
        run = self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()[0]
        entry = self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM entries").fetchone()[0]
        pk = self.conn.execute("SELECT COALESCE(MAX(pk), 0) FROM receipts").fetchone()[0]
        return run + 1, entry + 1, pk + 1

    def booked_groups(self) -> set[tuple[str, str, str]]:
        """(journal, mode, key) of every regular entry: a receipt arriving for one of them is late."""
        return set(self.conn.execute("SELECT DISTINCT journal, mode, entry_key FROM entries WHERE kind = 'regular'"))

    def postings_of(self, pk: int) -> list[list[dict]]:
        """Per run, oldest first: the groups of legs the receipt put into (or took out of) entries."""
        return [json.loads(legs) for (legs,) in
                self.conn.execute("SELECT legs FROM postings WHERE receipt = ? ORDER BY run", (pk,))]

    def entry_headers(self, ids) -> dict[int, dict]:
        ids = sorted(set(ids))
        out = {}
        for chunk in range(0, len(ids), 500):
            part = ids[chunk:chunk + 500]
            marks = ",".join("?" * len(part))
            for row in self.conn.execute(
                    f"SELECT id, kind, journal, date, mode, entry_key, description FROM entries WHERE id IN ({marks})",
                    part):
                out[row[0]] = dict(zip(("id", "kind", "journal", "date", "mode", "key", "description"), row))
        return out

    def stored_contents(self, status: str) -> list[tuple[str, str, str]]:
        """(source, id, content) of every receipt in a status, for `--retry-errors`."""
        return list(self.conn.execute(
            "SELECT source, id, content FROM receipts WHERE status = ? ORDER BY pk", (status,)))

    def receipts_for_status(self, date: str | None):
        sql = ("SELECT source, id, store, register, number, date, created, status, reason, booked_as, payments, pk "
               "FROM receipts")
        params: tuple = ()
        if date:
            sql += " WHERE date = ?"
            params = (date,)
        return self.conn.execute(sql + " ORDER BY date, store, register, id", params).fetchall()

    def payments_of(self, pk: int) -> list:
        row = self.conn.execute("SELECT payments FROM receipts WHERE pk = ?", (pk,)).fetchone()
        return json.loads(row[0]) if row else []

    def receipt_numbers(self) -> list[tuple[str, str, str, str]]:
        """(store, register, number, date) of every receipt seen: for the gaps."""
        return self.conn.execute("SELECT store, register, number, date FROM receipts").fetchall()

    def all_postings(self):
        return self.conn.execute("SELECT receipt, legs FROM postings ORDER BY run").fetchall()

    def entries(self) -> list[tuple]:
        return self.conn.execute(
            "SELECT id, run, kind, payload FROM entries ORDER BY id").fetchall()

    def corrections(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for entry, original in self.conn.execute("SELECT entry, original FROM corrections ORDER BY entry, original"):
            out.setdefault(entry, []).append(original)
        return out

    def runs(self) -> list[tuple]:
        return self.conn.execute("SELECT id, started, finished, command, selection, counts FROM runs ORDER BY id").fetchall()

    # -- writing (inside begin/commit only) --------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        if self.meta(key) is None:
            self._write("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        elif self.meta(key) != value:
            self._write("UPDATE meta SET value = ? WHERE key = ?", (value, key))

    def insert_run(self, run: dict) -> None:
        self._write(
            "INSERT INTO runs (id, started, command, selection, input, rules, rules_sha256, version, ran_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run["id"], run["started"], run["command"], run["selection"], run["input"], run["rules"],
             run["rules_sha256"], run["version"], run["ran_by"]))

    def finish_run(self, run_id: int, finished: str, counts: dict) -> None:
        self._write("UPDATE runs SET finished = ?, counts = ? WHERE id = ?",
                    (finished, json.dumps(counts, sort_keys=True), run_id))

    def insert_entries(self, run_id: int, entries: list[dict]) -> None:
        """entries: dicts with id, kind, corrects, and the canonical entry fields."""
        self._write_many(
            "INSERT INTO entries (id, run, kind, journal, date, mode, entry_key, description, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(e["id"], run_id, e["kind"], e["journal"], e["date"], e["mode"], e["key"], e["description"],
              orjson.dumps(e).decode()) for e in entries])
        self._write_many(
            "INSERT INTO entry_lines (entry, line, account, debit, credit, debtor, vat) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(e["id"], n, l["account"], l["debit"], l["credit"], l["debtor"], l["vat"])
             for e in entries for n, l in enumerate(e["lines"], start=1)])
        self._write_many("INSERT INTO entry_receipts (entry, receipt) VALUES (?, ?)",
                         [(e["id"], r) for e in entries for r in e["receipts"]])
        self._write_many("INSERT INTO corrections (entry, original) VALUES (?, ?)",
                         [(e["id"], o) for e in entries for o in e["corrects"]])

    def insert_receipts(self, rows: list[dict], run_id: int) -> None:
        self._write_many(
            "INSERT INTO receipts (pk, source, id, store, register, number, date, created, hash, status, reason, "
            "booked_as, booked_hash, payments, content, first_run, last_run) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r["pk"], r["source"], r["id"], r["store"], r["register"], r["number"], r["date"], r["created"],
              r["hash"], r["status"], r["reason"], r["booked_as"], r["booked_hash"], r["payments"], r["content"],
              run_id, run_id)
             for r in rows])

    def update_receipts(self, rows: list[dict], run_id: int) -> None:
        self._write_many(
            "UPDATE receipts SET store = ?, register = ?, number = ?, date = ?, created = ?, hash = ?, status = ?, "
            "reason = ?, booked_as = ?, booked_hash = ?, payments = ?, content = ?, last_run = ? WHERE pk = ?",
            [(r["store"], r["register"], r["number"], r["date"], r["created"], r["hash"], r["status"], r["reason"],
              r["booked_as"], r["booked_hash"], r["payments"], r["content"], run_id, r["pk"]) for r in rows])

    def insert_postings(self, rows: list[tuple[int, str]], run_id: int) -> None:
        self._write_many("INSERT INTO postings (run, receipt, legs) VALUES (?, ?, ?)",
                         [(run_id, pk, legs) for pk, legs in rows])
