"""One ledger, many clients (SPEC §12), on both backends; wave 1's single-client ledger migrated in
place; and the ledger's answers to bad or half-finished databases."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import ledgers
import pytest

from test_ledger import BAKERY, DAY, EXAMPLES, dump, ledger_nets, receipt, run, scratch_nets, statuses, tp
from tillpost.api import load_rules
from tillpost.engine.receipts import Records
from tillpost.ledger import LedgerError, Store, process
from tillpost.ledger.status import status
from tillpost.ledger.store import ReceiptRow

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ledger"


@pytest.fixture(scope="module")
def rules():
    return load_rules(BAKERY)


def run_for(rules, db, client, receipts, final=True):
    store = Store.open(db, readonly=not final, client=client)
    try:
        return process(rules, store, [Records("<test>", list(receipts))], final=final)
    finally:
        store.close()


def report(db, client=None, date=None, shop=None) -> dict:
    store = Store.open(db, readonly=True, client=client)
    try:
        return status(store, date, shop)
    finally:
        store.close()


def without_client(r: dict) -> dict:
    return {k: v for k, v in r.items() if k != "client"}


def test_clients_never_mix_and_each_reads_as_if_alone(db, new_db, rules):
    """Two clients with the same receipt ids in one ledger: each client's books, statuses, gaps,
    runs and numbering are what a ledger holding that client alone has."""
    day_a = [receipt("AMS01-K1-1", number="1"), receipt("AMS01-K1-3", number="3", method="pin")]
    day_b = [receipt("AMS01-K1-1", number="1", amount="9.00"), receipt("AMS01-K1-2", number="2", status="open")]
    late_a = [receipt("AMS01-K1-2", number="2", amount="1.10")]
    run_for(rules, db, "acme", day_a)
    run_for(rules, db, "bakker", day_b)
    run_for(rules, db, "acme", late_a)
    alone_a, alone_b = new_db("a"), new_db("b")
    run(rules, alone_a, day_a)
    run(rules, alone_a, late_a)
    run(rules, alone_b, day_b)

    assert statuses(db, "acme") == {"AMS01-K1-1": "booked", "AMS01-K1-2": "late", "AMS01-K1-3": "booked"}
    assert statuses(db, "bakker") == {"AMS01-K1-1": "booked", "AMS01-K1-2": "open"}
    assert without_client(report(db, "acme")) == without_client(report(alone_a))
    assert without_client(report(db, "bakker")) == without_client(report(alone_b))
    assert report(db, "acme")["days"][0]["gaps"] == []  # bakker's 2 does not fill acme's gap, nor the reverse
    assert ledger_nets(db, "acme") == ledger_nets(alone_a) == scratch_nets(rules, day_a + late_a)
    assert ledger_nets(db, "bakker") == ledger_nets(alone_b)
    # Runs and entries are numbered per client: acme's second run is its run 2, entries go on from 4.
    runs = ledgers.query(db, "SELECT c.name, r.id FROM runs r JOIN clients c ON c.id = r.client ORDER BY c.name, r.id")
    assert runs == [("acme", 1), ("acme", 2), ("bakker", 1)]
    assert [e["id"] for e in Store.open(db, readonly=True, client="bakker").entries()] == [1, 2, 3]


def test_a_ledger_of_several_clients_needs_a_client_name(db, rules):
    run_for(rules, db, "acme", [receipt("AMS01-K1-1")])
    # One client: no name needed.
    assert tp("status", "--db", db, "--format", "json").exit_code == 0
    run_for(rules, db, "bakker", [receipt("AMS01-K1-1")])
    result = tp("status", "--db", db)
    assert result.exit_code == 2 and "holds 2 clients (acme, bakker): say which with --client NAME" in result.stderr
    result = tp("process", BAKERY, DAY, "--db", db, "--final")
    assert result.exit_code == 2 and "--client" in result.stderr
    result = tp("status", "--db", db, "--client", "akme")
    assert result.exit_code == 2 and "no client 'akme' in this ledger; did you mean 'acme'?" in result.stderr
    ok = tp("status", "--db", db, "--client", "bakker", "--format", "json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["client"] == "bakker"
    # The same receipt id twice in one client is refused by the database itself.
    store = Store.open(db, client="acme")
    try:
        store.begin()
        (pk,) = ledgers.query(db, "SELECT max(pk) + 1 FROM receipts")[0]
        with pytest.raises(Exception, match="(?i)unique|duplicate"):
            store.insert_receipts([ReceiptRow(pk, "receipt", "test", "AMS01-K1-1", "S", "", "1", "2026-11-20", None,
                                              "x", "booked", None, None, None, "[]", None)], 1)
    finally:
        store.rollback()
        store.close()


def test_process_status_and_watch_take_a_client(db, tmp_path):
    assert tp("process", BAKERY, DAY, "--db", db, "--client", "bakkerij-jansen", "--final").exit_code == 0
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.json").write_text(json.dumps([receipt("WEB-1", store="WEB")]))
    watched = tp("watch", BAKERY, inbox, "--db", db, "--client", "other", "--interval", "0", "--once")
    assert watched.exit_code == 0, watched.output
    mine = json.loads(tp("status", "--db", db, "--client", "bakkerij-jansen", "--format", "json").stdout)
    other = json.loads(tp("status", "--db", db, "--client", "other", "--format", "json").stdout)
    assert mine["receipts"] == 11 and other["receipts"] == 1
    assert [(d["date"], d["store"]) for d in other["days"]] == [("2026-11-20", "WEB")]


def test_a_wave_1_ledger_is_migrated_in_place_by_the_next_final_run(tmp_path, rules):
    """tests/fixtures/ledger/wave1.sqlite was written by tillpost before many clients (schema 1):
    the bakery day and its late receipts as they were then (wave1-day.json, wave1-late.json),
    and a run with a changed receipt and one in error."""
    db = str(tmp_path / "wave1.sqlite")
    shutil.copy(FIXTURES / "wave1.sqlite", db)
    result = tp("status", "--db", db)
    assert result.exit_code == 2 and "schema version 1; a final run migrates it to 2" in result.stderr
    more = tmp_path / "more.json"
    more.write_text(json.dumps([receipt("AMS01-K1-1011", number="1011", date="2026-11-21")]))
    assert tp("process", BAKERY, more, "--db", db, "--final", "--format", "summary").exit_code == 0
    # The same four runs into a new ledger give the same books, statuses and status report.
    fresh = str(tmp_path / "fresh.sqlite")
    for f in (FIXTURES / "wave1-day.json", FIXTURES / "wave1-late.json", FIXTURES / "wave1-third-run.json", more):
        tp("process", BAKERY, f, "--db", fresh, "--final", "--format", "summary")
    assert ledger_nets(db) == ledger_nets(fresh)
    assert statuses(db) == statuses(fresh)
    assert report(db) == report(fresh)
    migrated, new = dump(db), dump(fresh)
    for table in ("entries", "entry_lines", "entry_receipts", "corrections", "day_totals", "clients"):
        assert migrated[table] == new[table], table
    assert [r[1] for r in migrated["runs"]] == [1, 2, 3, 4]
    # Its entries stay immutable after the migration.
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        sqlite3.connect(db).execute("DELETE FROM entries")


def test_the_database_refuses_a_status_or_kind_the_ledger_does_not_know(db, rules):
    """The CHECKs (written as OR-ed equalities, for SQLite's speed) still refuse what they refused
    as IN lists, and still let a receipt with nothing booked have no `booked_as`."""
    run(rules, db, [receipt("AMS01-K1-1")])
    columns = ("client, pk, kind, source, id, store, register, number, date, hash, status, booked_as, payments, "
               "first_run, last_run")
    good = (1, 99, "receipt", "", "AMS01-K1-99", "AMS01", "K1", "99", "2026-11-20", "h", "open", None, "[]", 1, 1)
    bad = [
        ("receipts", columns, good[:10] + ("booked-twice",) + good[11:]),
        ("receipts", columns, good[:11] + ("open",) + good[12:]),
        ("receipts", columns, good[:2] + ("invoice",) + good[3:]),
        ("entries", "client, id, run, kind, journal, date, mode, entry_key, description",
         (1, 99, 1, "regular-ish", "VK", "2026-11-20", "turnover", "k", "d")),
        ("entry_receipts", "client, entry, receipt, kind", (1, 1, "AMS01-K1-99", "till")),
    ]
    for table, cols, row in [("receipts", columns, good)] + bad:
        store = Store.open(db)
        try:
            store.begin()
            if row is good:
                store._write(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})", row)
            else:
                with pytest.raises(store.backend.errors, match="(?i)check"):
                    store._write(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})", row)
        finally:
            store.rollback()
            store.close()


def test_an_empty_db_argument_is_refused(tmp_path):
    for args in (("process", BAKERY, DAY, "--db", "", "--final"), ("status", "--db", "")):
        result = tp(*args)
        assert result.exit_code == 2 and "--db is empty" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_status_dates_are_checked_and_a_day_with_nothing_is_not_complete(db, rules):
    run(rules, db, [receipt("AMS01-K1-1")])
    bad = tp("status", "--db", db, "--date", "21-11-2026")
    assert bad.exit_code == 2 and "expected YYYY-MM-DD" in bad.output
    assert tp("status", "--db", db, "--date", "2026-02-30").exit_code == 2
    assert tp("status", "--db", db, "--date", "2026-11-20", "--check").exit_code == 0
    nothing = tp("status", "--db", db, "--date", "2026-11-21", "--check")
    assert nothing.exit_code == 1 and "nothing arrived for 2026-11-21 — not complete" in nothing.stdout
    assert json.loads(tp("status", "--db", db, "--date", "2026-11-21", "--format", "json").stdout)["complete"] is False


def test_a_day_whose_counter_debtor_does_not_net_is_not_complete(db, tmp_path):
    """Payments posted past the counter debtor leave it open: status never calls that day complete."""
    odd = tmp_path / "odd.rules"
    odd.write_text(BAKERY.read_text().replace("when payment method=pin               post MEM pin -> debiteuren",
                                              "when payment method=pin               post MEM pin -> kas"))
    assert "post MEM pin -> kas" in odd.read_text()
    receipts = tmp_path / "day.json"
    receipts.write_text(json.dumps([receipt("AMS01-K1-1"), receipt("AMS01-K1-2", number="2", method="pin")]))
    assert tp("process", odd, receipts, "--db", db, "--final").exit_code == 0
    day = json.loads(tp("status", "--db", db, "--format", "json").stdout)["days"][0]
    assert day["counter_debtor"] == {"debtor": "BALIE", "open": "3.25"} and not day["complete"]
    table = tp("status", "--db", db)
    assert "incomplete: counter debtor BALIE open by 3.25" in table.stdout
    assert tp("status", "--db", db, "--check").exit_code == 1


def test_a_file_a_killed_first_run_left_empty_is_a_new_ledger(tmp_path):
    db = tmp_path / "ledger.sqlite"
    db.write_bytes(b"")
    result = tp("status", "--db", db)
    assert result.exit_code == 0 and "no receipts in the ledger" in result.stdout
    assert tp("process", BAKERY, DAY, "--db", db, "--trial", "--format", "summary").exit_code == 0
    assert tp("process", BAKERY, DAY, "--db", db, "--final", "--format", "summary").exit_code == 0
    assert len(statuses(str(db))) == 13  # 11 receipts and 2 till closings


@pytest.mark.parametrize("value", ["abc", "-1", "", "99999"])
def test_a_hand_edited_schema_version_is_a_clear_error(tmp_path, value):
    db = str(tmp_path / "ledger.sqlite")
    assert tp("process", BAKERY, DAY, "--db", db, "--final", "--format", "summary").exit_code == 0
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (value,))
    conn.commit()
    conn.close()
    for args in (("status", "--db", db), ("process", BAKERY, DAY, "--db", db, "--final")):
        result = tp(*args)
        assert result.exit_code == 2 and "internal error" not in result.stderr
        assert ("edited by hand" in result.stderr) or ("newer than this tillpost" in result.stderr)


def test_an_unreachable_postgresql_server_is_a_clear_error():
    result = tp("status", "--db", "postgresql://nobody:secret@127.0.0.1:1/ledger")
    assert result.exit_code == 2 and "cannot connect to the ledger" in result.stderr
    assert "secret" not in result.stderr and "nobody:***@127.0.0.1:1" in result.stderr


def test_a_store_used_without_a_client_resolution_error_raises_ledger_error(db, rules):
    run_for(rules, db, "a", [receipt("R-1")])
    run_for(rules, db, "b", [receipt("R-1")])
    store = Store.open(db)
    try:
        assert store.clients() == ["a", "b"]
        with pytest.raises(LedgerError, match="say which with --client"):
            store.begin()
    finally:
        store.close()


def test_a_features_tables_are_added_by_the_next_final_run_and_a_newer_ledger_is_refused(db, rules, monkeypatch):
    from tillpost.ledger import store as store_module
    from tillpost.ledger.store import Extension

    run(rules, db, [receipt("AMS01-K1-1")])
    landed = list(store_module.EXTENSIONS)  # the features' own (exports, …) stay: the demo comes after them
    monkeypatch.setattr(store_module, "EXTENSIONS", [*landed, Extension(
        "demo", ("CREATE TABLE demo (client {int} NOT NULL, note TEXT NOT NULL)",), ("demo",))])
    result = tp("status", "--db", db)
    assert result.exit_code == 2 and "lacks the tables of demo; the next final run (or worker) adds them" in result.stderr
    run(rules, db, [receipt("AMS01-K1-2", number="2")])
    assert tp("status", "--db", db).exit_code == 0
    store = Store.open(db)
    try:
        store.begin()
        store._write("INSERT INTO demo (client, note) VALUES (?, ?)", (store.client_id, "x"))
        store.commit()
        with pytest.raises(Exception, match="immutable"):
            store.conn.execute("DELETE FROM demo")
    finally:
        store.close()
    monkeypatch.setattr(store_module, "EXTENSIONS", landed)
    result = tp("status", "--db", db)
    assert result.exit_code == 2 and "tables of a newer tillpost (demo); upgrade tillpost" in result.stderr
