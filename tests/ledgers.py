"""Ledger databases for the tests: an SQLite file, or a fresh schema in a real PostgreSQL server.

Every ledger test takes the `db` fixture (tests/conftest.py), parametrized over both
backends, so the one ledger suite runs against both. The PostgreSQL server is
`TILLPOST_TEST_PG` (a URL, as `.ci/run` sets it) or, when that is unset, a
throw-away server this module starts from the machine's PostgreSQL binaries
(Debian: `apt-get install postgresql`) in a temporary folder, listening on
127.0.0.1 only, stopped when the tests end. Each test gets a schema of its own.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from urllib.parse import quote

from tillpost.ledger.store import Store, is_postgres

REQUIRE_TOOLS = bool(os.environ.get("TILLPOST_REQUIRE_TOOLS"))
INSTALL_HINT = ("PostgreSQL is not installed: the PostgreSQL half of the ledger tests needs it "
                "(Debian/Ubuntu: sudo apt-get install postgresql), or set TILLPOST_TEST_PG to a server's URL")


def _binaries() -> str | None:
    found = shutil.which("initdb") and shutil.which("pg_ctl")
    if found:
        return os.path.dirname(shutil.which("initdb"))
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return os.path.dirname(candidates[0]) if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayServer:
    """A PostgreSQL server in a temporary folder, for this test session only."""

    def __init__(self, bindir: str):
        self.bindir = bindir
        self.folder = tempfile.mkdtemp(prefix="tillpost-pg-")
        self.port = _free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root: run the server as postgres
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres")
        data = os.path.join(self.folder, "data")
        self._run([os.path.join(bindir, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"])
        # fsync off: the tests never survive a machine's crash, only a server's (a restart test kills
        # it), which a commit written to the operating system survives; so commits stay synchronous.
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
                   "-c full_page_writes=off -c max_connections=300")
        self._run([os.path.join(bindir, "pg_ctl"), "-D", data, "-o", options, "-l",
                   os.path.join(self.folder, "log"), "-w", "start"])
        self.data = data
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str]) -> None:
        subprocess.run(self.as_user + args, check=True, capture_output=True, timeout=120)

    def restart(self) -> None:
        """Stop the server at once and start it again: every connection to it breaks."""
        for store in list(_open.values()):
            store.close()
        _open.clear()
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "-l",
                   os.path.join(self.folder, "log"), "restart"])

    def stop(self) -> None:
        try:
            self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


_server: ThrowawayServer | None = None


def own_server() -> ThrowawayServer | None:
    """The throw-away server these tests started (None when TILLPOST_TEST_PG names another)."""
    return _server


def server_url() -> str | None:
    """The base URL of the test server, starting one if need be; None when there is none to be had."""
    global _server
    url = os.environ.get("TILLPOST_TEST_PG")
    if url:
        return url
    if _server is None:
        bindir = _binaries()
        if bindir is None:
            return None
        _server = ThrowawayServer(bindir)
    return _server.url


def stop_server() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None


def fresh_schema(base: str) -> str:
    """A URL whose search path is a new, empty schema: one ledger per test."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    for attempt in range(50):
        try:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {name}")
            break
        except psycopg.OperationalError:
            if attempt == 49:
                raise
            time.sleep(0.2)
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={name}')}"


# -- reading a ledger the same way on both backends ------------------------------------------


def exists(db: str) -> bool:
    """Does the ledger exist (SQLite: the file; PostgreSQL: its tables)?"""
    if not is_postgres(db):
        return os.path.exists(db) and os.path.getsize(db) > 0  # a killed first run may leave 0 bytes
    store = Store.open(db, readonly=True)
    try:
        return store.version() > 0
    finally:
        store.close()


_open: dict[str, Store] = {}


def _reader(db: str) -> Store | None:
    """A read-only connection per ledger, kept for the test session (opening one costs more
    than most of the queries the tests make)."""
    store = _open.pop(db, None)
    if store is None:
        if not exists(db):
            return None
        store = Store.open(db, readonly=True)
        while len(_open) >= 16:  # the server has a limited number of connections
            _open.pop(next(iter(_open))).close()
    _open[db] = store  # the most recently used last
    return store


def query(db: str, sql: str, params=()) -> list[tuple]:
    store = _reader(db)
    return [] if store is None else store.query(sql, params)


def tables(db: str) -> list[str]:
    store = _reader(db)
    return [] if store is None else sorted(store._tables())
