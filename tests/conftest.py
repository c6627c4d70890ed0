"""Shared fixtures: the bundled examples, and a snapshot store in tests/snapshots/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tillpost.api import load_rules, read_receipts

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules" / "examples"


@pytest.fixture(scope="session")
def examples() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def bakery():
    return load_rules(EXAMPLES / "bakery.rules")


@pytest.fixture(scope="session")
def bakery_day():
    return read_receipts(str(EXAMPLES / "bakery-day.json"))


# -- ledger databases: every ledger test runs on SQLite and on PostgreSQL ------------------


@pytest.fixture(scope="session")
def pg_base():
    """The PostgreSQL server of the session (see tests/ledgers.py)."""
    import ledgers

    try:
        url = ledgers.server_url()
    except Exception as e:  # a server that will not start is a failure to show, not a skip
        pytest.fail(f"could not start a throw-away PostgreSQL server: {e}")
    if url is None:
        if ledgers.REQUIRE_TOOLS:
            pytest.fail(ledgers.INSTALL_HINT)
        pytest.skip(ledgers.INSTALL_HINT)
    yield url
    ledgers.stop_server()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


@pytest.fixture
def db(backend, tmp_path, request):
    """A new, empty ledger: an SQLite file path, or a PostgreSQL URL with a schema of its own."""
    if backend == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    import ledgers

    return ledgers.fresh_schema(request.getfixturevalue("pg_base"))


@pytest.fixture
def new_db(backend, tmp_path, request):
    """Another new ledger on the same backend as `db` (for reference runs)."""
    counter = iter(range(1000))

    def make(name: str | None = None) -> str:
        if backend == "sqlite":
            return str(tmp_path / f"{name or 'other'}-{next(counter)}.sqlite")
        import ledgers

        return ledgers.fresh_schema(request.getfixturevalue("pg_base"))

    return make
