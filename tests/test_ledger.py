"""The processing ledger, on an SQLite file and on a real PostgreSQL server (the `db` fixture runs
every test on both): trial, final, corrections, errors, status, atomicity."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import ledgers
import pytest
from click.testing import CliRunner

from tillpost.api import book, load_rules
from tillpost.cli import cli, main  # noqa: F401
from tillpost.cli import ledger as _ledger_cli  # noqa: F401  (registers the commands)
from tillpost.engine.receipts import Records
from tillpost.ledger import LedgerError, Selection, Store, process
from tillpost.ledger.status import gaps, status
from tillpost.ledger.store import InjectedFailure

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules" / "examples"
BAKERY = EXAMPLES / "bakery.rules"
DAY = EXAMPLES / "bakery-day.json"


# -- helpers (also used by the other test_ledger modules) ---------------------------------


def receipt(rid: str, amount: str = "3.25", method: str = "cash", date: str = "2026-11-20", store: str = "AMS01",
            register: str = "K1", number: str | None = None, status: str = "completed", category: str = "brood",
            vat: str = "low", cost: str | None = "1.10", paid: str | None = None, **extra) -> dict:
    """A one-line receipt the bakery rules book: amount incl. VAT, paid in full by `method`."""
    line = {"sku": "X", "description": "Brood", "category": category, "quantity": "1", "unit_price": amount,
            "vat": vat}
    if cost is not None:
        line["cost"] = cost
    r = {"id": rid, "number": number or rid.rsplit("-", 1)[-1], "source": "test", "store": store,
         "register": register, "date": date, "created": f"{date}T10:00:00+01:00", "status": status,
         "currency": "EUR", "prices_include_vat": True, "lines": [line],
         "payments": [{"method": method, "amount": paid or amount}]}
    if method == "invoice":
        r["customer"] = {"id": "C1", "debtor": "20001", "name": "Jansen"}
    r.update(extra)
    return r


def run(rules, db, receipts, final=True, selection=Selection()):
    store = Store.open(str(db), readonly=not final)
    try:
        return process(rules, store, [Records("<test>", list(receipts))], selection, final=final)
    finally:
        store.close()


def dump(db) -> dict:
    """Every row of every table (runs without their clock times, clients without theirs): the state.

    Empty tables, the schema version and its extensions are left out: a PostgreSQL ledger's schema is made
    in a transaction of its own (workers starting at once make it once), so a run that
    failed may leave the empty schema behind, which holds nothing."""
    out = {}
    names = dict(ledgers.query(db, "SELECT id, name FROM clients")) if "clients" in ledgers.tables(db) else {}
    for t in ledgers.tables(db):
        if t in ("meta", "migrations") or t.startswith("procrastinate_") or t == "tillpost_schedule":
            continue  # the schema's version and extensions; a PostgreSQL worker's job queue
        if t == "runs":
            rows = ledgers.query(db, "SELECT client, id, command, selection, input, counts FROM runs")
        elif t == "clients":
            rows = ledgers.query(db, "SELECT name, decimals, counter_debtor FROM clients")
        elif t in ("users", "web_secrets"):  # the dashboard's, about no client; a secret is random
            rows = ledgers.query(db, f"SELECT name FROM {t}")
        else:
            rows = ledgers.query(db, f"SELECT * FROM {t}")
        if t not in ("clients", "runs", "users", "web_secrets"):
            # a client by name: PostgreSQL numbers clients by a sequence
            rows = [(names[r[0]], *r[1:]) for r in rows]
        elif t == "runs":
            rows = [(names[r[0]], *r[1:]) for r in rows]
        if rows:
            out[t] = sorted((tuple(r) for r in rows), key=repr)
    return out


def stored_entries(db, client: str | None = None) -> list[dict]:
    store = Store.open(db, readonly=True, client=client)
    try:
        return store.entries()
    finally:
        store.close()


def ledger_nets(db, client: str | None = None) -> dict:
    """Σ of every booked entry line per (journal, mode, key, account, debtor, vat), zeros dropped."""
    nets: dict = {}
    for e in stored_entries(db, client):
        for l in e["lines"]:
            k = (e["journal"], e["mode"], e["key"], l["account"], l["debtor"], l["vat"])
            nets[k] = nets.get(k, Decimal(0)) + Decimal(l["debit"]) - Decimal(l["credit"])
    return {k: v for k, v in nets.items() if v}


def scratch_nets(rules, receipts) -> dict:
    """The same sums when the receipts are booked once, from scratch, by the engine."""
    result = book(rules, list(receipts))
    assert not result.errors
    nets: dict = {}
    for e in result.entries:
        for l in e.lines:
            k = (e.journal, e.mode, e.key, l.account, l.debtor, l.vat)
            nets[k] = nets.get(k, Decimal(0)) + l.debit - l.credit
    return {k: v for k, v in nets.items() if v}


def statuses(db, client: str | None = None) -> dict:
    if client is None:
        return dict(ledgers.query(db, "SELECT id, status FROM receipts"))
    return dict(ledgers.query(db, "SELECT r.id, r.status FROM receipts r JOIN clients c ON c.id = r.client "
                                  "WHERE c.name = ?", (client,)))


def open_status(db, date=None, client=None) -> dict:
    store = Store.open(db, readonly=True, client=client)
    try:
        return status(store, date)
    finally:
        store.close()


@pytest.fixture(scope="module")
def rules():
    return load_rules(BAKERY)


def tp(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


# -- trial and final ----------------------------------------------------------------------


def test_trial_writes_nothing_and_shows_exactly_what_final_books(db, tmp_path, backend):
    # On a fresh ledger: nothing is created.
    trial = tp("process", BAKERY, DAY, "--db", db, "--trial")
    assert trial.exit_code == 0, trial.output
    assert not ledgers.exists(db)
    # On an existing ledger: not a byte changes.
    first = json.loads(tp("process", BAKERY, DAY, "--db", db, "--final").stdout)
    assert first["mode"] == "final"
    assert json.loads(trial.stdout)["entries"] == first["entries"]
    more = tmp_path / "more.json"
    more.write_text(json.dumps([receipt("AMS01-K1-1009", number="1009")]))
    before = Path(db).read_bytes() if backend == "sqlite" else dump(db)
    trial2 = tp("process", BAKERY, more, "--db", db, "--trial")
    if backend == "sqlite":
        assert Path(db).read_bytes() == before
        assert sorted(os.listdir(tmp_path)) == ["ledger.sqlite", "more.json"]  # no journal file left either
    else:
        assert dump(db) == before
    final2 = tp("process", BAKERY, more, "--db", db, "--final")
    assert json.loads(trial2.stdout)["entries"] == json.loads(final2.stdout)["entries"]
    assert json.loads(trial2.stdout)["receipts"] == json.loads(final2.stdout)["receipts"]


def test_the_ledger_entries_render_like_tillpost_book(db, rules):
    booked = json.loads(tp("book", BAKERY, DAY).stdout)
    ran = json.loads(tp("process", BAKERY, DAY, "--db", db, "--final").stdout)
    stripped = [{k: v for k, v in e.items() if k not in ("id", "kind", "corrects")} for e in ran["entries"]]
    assert stripped == booked["entries"]
    assert all(e["kind"] == "regular" and e["corrects"] == [] for e in ran["entries"])
    assert ran["receipts"]["open"] == booked["open"] and ran["receipts"]["voided"] == booked["voided"]
    assert any(e.get("closings") for e in ran["entries"])  # the day's till closings, in its turnover entries
    # K2's counts agree: it is booked and books nothing.
    assert booked_closings(booked) == {"AMS01-K1-2026-11-20"}
    assert ran["closings"]["booked"] == ["AMS01-K1-2026-11-20", "AMS01-K2-2026-11-20"]
    assert [{k: v for k, v in e.items() if k != "run"} for e in stored_entries(db)] == ran["entries"]


def booked_closings(journal: dict) -> set:
    return {c for e in journal["entries"] for c in e.get("closings", ())}


def test_final_twice_books_once(db):
    first = tp("process", BAKERY, DAY, "--db", db, "--final")
    assert first.exit_code == 0
    state = dump(db)
    again = tp("process", BAKERY, DAY, "--db", db, "--final")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["entries"] == []
    assert "0 booked" in again.stderr and "11 unchanged" in again.stderr
    after = dump(db)
    assert after["entries"] == state["entries"] and after["receipts"] == state["receipts"]
    assert len(after["runs"]) == 2  # the second run is recorded, with nothing booked


def test_each_final_run_is_recorded(db):
    tp("process", BAKERY, DAY, "--db", db, "--final", "--store", "WEB")
    (rid, command, selection, rules_path, digest, version, counts, finished), = ledgers.query(
        db, "SELECT id, command, selection, rules, rules_sha256, version, counts, finished FROM runs")
    assert (rid, command, rules_path) == (1, "process --final", str(BAKERY))
    assert json.loads(selection)["store"] == ["WEB"]
    assert len(digest) == 64 and version and finished
    assert json.loads(counts)["booked"] == 1


def test_selection_by_store_register_and_receipt(db, rules):
    receipts = [receipt("A-K1-1"), receipt("A-K2-2", register="K2"), receipt("B-K1-3", store="B")]
    assert sorted(statuses_of(run(rules, db, receipts, False, Selection(stores=("AMS01",))))) == ["A-K1-1", "A-K2-2"]
    assert statuses_of(run(rules, db, receipts, False, Selection(registers=("K2",)))) == {"A-K2-2": "booked"}
    assert statuses_of(run(rules, db, receipts, False, Selection(stores=("B",), registers=("K1",)))) == {"B-K1-3": "booked"}
    result = tp("process", BAKERY, "-", "--db", db, "--final", "--receipt", "A-K1-1,B-K1-3", input=json.dumps(receipts))
    assert result.exit_code == 0
    assert statuses(db) == {"A-K1-1": "booked", "B-K1-3": "booked"}


def statuses_of(result) -> dict:
    return {c.key[1]: c.status for c in result.changes}


def test_a_mode_is_required_and_errors_exit_cleanly(db, tmp_path):
    assert tp("process", BAKERY, DAY, "--db", db).exit_code == 2
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    result = tp("process", BAKERY, bad, "--db", db, "--final")
    assert result.exit_code == 2 and "malformed JSON" in result.stderr and not ledgers.exists(db)
    notledger = tmp_path / "other.sqlite"
    conn = sqlite3.connect(notledger)
    conn.execute("CREATE TABLE x (a)")
    conn.commit()
    conn.close()
    result = tp("process", BAKERY, DAY, "--db", notledger, "--final")
    assert result.exit_code == 2 and "not a tillpost ledger" in result.stderr
    result = tp("status", "--db", tmp_path / "missing.sqlite")
    assert result.exit_code == 2 and "no ledger" in result.stderr


# -- corrections --------------------------------------------------------------------------


def test_a_late_receipt_is_booked_in_a_supplementary_entry_for_its_day(db, rules):
    day = [receipt("AMS01-K1-1", number="1"), receipt("AMS01-K1-2", number="2", method="pin", amount="5.00")]
    run(rules, db, day)
    late = receipt("AMS01-K1-3", number="3", amount="2.10", created="2026-11-21T09:00:00+01:00")
    result = run(rules, db, day + [late])
    assert statuses_of(result) == {"AMS01-K1-3": "late"}
    assert {(e["kind"], e["journal"]) for e in result.entries} == {
        ("supplement", "KAS"), ("supplement", "MEM"), ("supplement", "VRK")}
    assert all(e["date"] == "2026-11-20" and e["key"] == "2026-11-20/AMS01" and e["receipts"] == ["AMS01-K1-3"]
               for e in result.entries)
    assert result.entries[0]["description"] == "Supplement: Dagomzet 2026-11-20 AMS01"
    # The originals plus the supplement are the day booked from scratch.
    assert ledger_nets(db) == scratch_nets(rules, day + [late])
    report = open_status(db, "2026-11-20")
    assert report["days"][0]["late"] == ["AMS01-K1-3"] and report["days"][0]["backdated"] == ["AMS01-K1-3"]


def test_a_receipt_for_a_new_day_is_not_late(db, rules):
    run(rules, db, [receipt("AMS01-K1-1", number="1")])
    result = run(rules, db, [receipt("AMS01-K1-2", number="2", date="2026-11-21")])
    assert statuses_of(result) == {"AMS01-K1-2": "booked"}
    assert {e["kind"] for e in result.entries} == {"regular"}


def test_a_changed_receipt_is_reversed_as_booked_and_booked_anew(db, rules):
    day = [receipt("AMS01-K1-1", number="1"), receipt("AMS01-K1-2", number="2", amount="5.00")]
    first = run(rules, db, day)
    originals = {e["journal"]: e["id"] for e in first.entries}
    changed = receipt("AMS01-K1-2", number="2", amount="6.40", method="pin")
    result = run(rules, db, [day[0], changed])
    assert statuses_of(result) == {"AMS01-K1-2": "changed"}
    kinds = sorted((e["kind"], e["journal"]) for e in result.entries)
    assert kinds == [("rebooking", "MEM"), ("rebooking", "VRK"),
                     ("reversal", "KAS"), ("reversal", "MEM"), ("reversal", "VRK")]
    for e in result.entries:  # both point at the original entries
        assert e["corrects"] == sorted(originals.values())
        assert e["receipts"] == ["AMS01-K1-2"]
    kas = next(e for e in result.entries if e["journal"] == "KAS")
    assert kas["description"] == f"Reversal of {', '.join(map(str, sorted(originals.values())))}: Dagomzet 2026-11-20 AMS01"
    assert [(l["account"], l["debit"], l["credit"]) for l in kas["lines"]] == [("1000", "0.00", "5.00"),
                                                                                 ("1300", "5.00", "0.00")]
    assert ledger_nets(db) == scratch_nets(rules, [day[0], changed])
    # The same content again changes nothing.
    assert run(rules, db, [changed]).entries == []


def test_only_the_journals_whose_books_change_are_corrected(db, rules):
    r = receipt("AMS01-K1-1", number="1", method="pin")
    first = run(rules, db, [r])
    result = run(rules, db, [dict(r, payments=[{"method": "cash", "amount": "3.25"}])])  # paid cash after all
    assert statuses_of(result) == {"AMS01-K1-1": "changed"}
    assert sorted((e["kind"], e["journal"]) for e in result.entries) == [
        ("rebooking", "KAS"), ("rebooking", "MEM"), ("reversal", "MEM")]  # the sales entry (VRK) stands
    mem = next(e["id"] for e in first.entries if e["journal"] == "MEM")
    assert all(e["corrects"] == [mem] for e in result.entries)
    # Other content with the same books (a time stamp) corrects nothing and keeps its status.
    again = run(rules, db, [dict(r, payments=[{"method": "cash", "amount": "3.25"}], created="2026-11-21T07:00:00")])
    assert statuses_of(again) == {"AMS01-K1-1": "changed"} and again.entries == []
    assert ledger_nets(db) == scratch_nets(rules, [dict(r, payments=[{"method": "cash", "amount": "3.25"}])])


def test_a_reversal_reverses_what_was_booked_even_after_the_rule_file_changed(db, rules, tmp_path):
    r1 = receipt("AMS01-K1-1", number="1")
    run(rules, db, [r1])
    other = tmp_path / "other.rules"
    other.write_text(BAKERY.read_text().replace("account kas         1000", "account kas         1001"))
    new_rules = load_rules(other)
    changed = receipt("AMS01-K1-1", number="1", amount="4.00")
    result = run(new_rules, db, [changed])
    kas_reversal = next(e for e in result.entries if e["kind"] == "reversal" and e["journal"] == "KAS")
    assert [l["account"] for l in kas_reversal["lines"]] == ["1000", "1300"]  # as booked, not as the rules say now
    kas_new = next(e for e in result.entries if e["kind"] == "rebooking" and e["journal"] == "KAS")
    assert [l["account"] for l in kas_new["lines"]] == ["1001", "1300"]


def test_voided_after_booking_is_reversed_and_open_then_completed_is_booked_then(db, rules):
    a, b = receipt("AMS01-K1-1", number="1"), receipt("AMS01-K1-2", number="2", status="open", amount="2.00")
    run(rules, db, [a, b])
    assert statuses(db) == {"AMS01-K1-1": "booked", "AMS01-K1-2": "open"}
    result = run(rules, db, [dict(a, status="voided"), dict(b, status="completed")])
    assert statuses_of(result) == {"AMS01-K1-1": "voided", "AMS01-K1-2": "late"}
    assert {e["kind"] for e in result.entries} == {"reversal", "supplement"}
    assert ledger_nets(db) == scratch_nets(rules, [dict(b, status="completed")])
    assert "reversed" in ledgers.query(db, "SELECT reason FROM receipts WHERE id = 'AMS01-K1-1'")[0][0]


def test_an_individual_receipt_changed_gets_its_own_correction(db, rules):
    inv = receipt("AMS01-K2-7", number="7", register="K2", method="invoice", amount="20.00")
    run(rules, db, [inv])
    result = run(rules, db, [dict(inv, lines=[dict(inv["lines"][0], unit_price="25.00")],
                                  payments=[{"method": "invoice", "amount": "25.00"}])])
    # Only the invoice in the sales journal changed; its cost of goods (MEM) is left as booked.
    assert sorted((e["kind"], e["journal"], e["key"]) for e in result.entries) == [
        ("rebooking", "VRK", "AMS01-K2-7"), ("reversal", "VRK", "AMS01-K2-7")]
    assert ledger_nets(db) == scratch_nets(rules, [dict(inv, lines=[dict(inv["lines"][0], unit_price="25.00")],
                                                        payments=[{"method": "invoice", "amount": "25.00"}])])


def test_booked_entries_are_immutable_in_the_database(db, rules, backend):
    run(rules, db, [receipt("AMS01-K1-1")])
    store = Store.open(db)
    statements = ["UPDATE entries SET description = 'x'", "DELETE FROM entries", "UPDATE entry_lines SET debit = '0'",
                  "DELETE FROM postings", "DELETE FROM runs", "DELETE FROM entry_receipts"]
    if backend == "postgresql":
        statements += ["TRUNCATE entries", "TRUNCATE postings"]
    try:
        for sql in statements:
            with pytest.raises(Exception, match="immutable"):
                store.conn.execute(sql)
    finally:
        store.close()
    assert len(stored_entries(db)) == 3


# -- errors are a queue -------------------------------------------------------------------


def test_errors_wait_with_their_reason_and_retry_errors_books_them_after_a_fix(db, rules, tmp_path):
    good = receipt("AMS01-K1-1", number="1")
    bad_method = receipt("AMS01-K1-2", number="2", method="ideal")  # not declared (yet)
    bad_sum = receipt("AMS01-K1-3", number="3", paid="3.00")  # paid does not match the total
    receipts = tmp_path / "day.json"
    receipts.write_text(json.dumps([good, bad_method, bad_sum]))
    result = tp("process", BAKERY, receipts, "--db", db, "--final")
    assert result.exit_code == 1
    assert "error: receipt AMS01-K1-2: payment method 'ideal' is not declared" in result.stderr
    assert statuses(db) == {"AMS01-K1-1": "booked", "AMS01-K1-2": "error", "AMS01-K1-3": "error"}
    # Retrying with the same rules changes nothing; the queue stays.
    assert tp("process", BAKERY, "--db", db, "--final", "--retry-errors").exit_code == 1
    # A selection narrows the retry too.
    one = json.loads(tp("process", BAKERY, "--db", db, "--trial", "--retry-errors", "--receipt", "AMS01-K1-3").stdout)
    assert [e["receipt"] for e in one["receipts"]["error"]] == ["AMS01-K1-3"]
    # The consultant adds the method; retry-errors books that one alone, from the stored content.
    fixed = tmp_path / "fixed.rules"
    fixed.write_text(BAKERY.read_text() + "\nmethod ideal turnover\nwhen payment method=ideal post MEM pin -> debiteuren\n")
    result = tp("process", fixed, "--db", db, "--final", "--retry-errors", "--format", "summary")
    assert result.exit_code == 1 and "1 late" in result.stderr and "1 errors" in result.stderr
    # The POS sends the corrected receipt: the queue is empty.
    receipts.write_text(json.dumps([good, dict(bad_sum, payments=[{"method": "cash", "amount": "3.25"}])]))
    result = tp("process", fixed, receipts, "--db", db, "--final", "--retry-errors", "--format", "summary")
    assert result.exit_code == 0
    assert statuses(db) == {"AMS01-K1-1": "booked", "AMS01-K1-2": "late", "AMS01-K1-3": "late"}


def test_a_broken_new_version_of_a_booked_receipt_keeps_its_booking_until_fixed(db, rules):
    r = receipt("AMS01-K1-1", number="1")
    run(rules, db, [r])
    before = ledger_nets(db)
    result = run(rules, db, [dict(r, payments=[{"method": "cash", "amount": "1.00"}])])
    assert statuses_of(result) == {"AMS01-K1-1": "error"} and result.entries == []
    assert "earlier booking stands" in result.changes[0].reason
    assert ledger_nets(db) == before
    fixed = dict(r, lines=[dict(r["lines"][0], unit_price="1.00")], payments=[{"method": "cash", "amount": "1.00"}])
    assert statuses_of(run(rules, db, [fixed])) == {"AMS01-K1-1": "changed"}
    assert ledger_nets(db) == scratch_nets(rules, [fixed])


def test_a_duplicate_id_in_one_input_is_an_error_and_invalid_receipts_are_kept(db, rules):
    r = receipt("AMS01-K1-1", number="1")
    result = run(rules, db, [r, dict(r, number="9"), {"store": "AMS01", "date": "2026-11-20"}])
    st = statuses_of(result)
    assert st["AMS01-K1-1"] == "error" and "occurs 2 times" in result.changes[0].reason
    (noid, status_), = [(k, v) for k, v in st.items() if k.startswith("#")]
    assert status_ == "error"


# -- atomicity ----------------------------------------------------------------------------


def _write_statements(rules, db, batches) -> int:
    for b in batches[:-1]:
        run(rules, db, b)
    store = Store.open(db)
    process(rules, store, [Records("<t>", batches[-1])], final=True)
    store.close()
    return store.writes


def _batches():
    day = [receipt("AMS01-K1-1", number="1"), receipt("AMS01-K1-2", number="2", method="pin"),
           receipt("AMS01-K1-4", number="4", status="open"), receipt("AMS01-K1-5", number="5", method="x")]
    later = [receipt("AMS01-K1-1", number="1", amount="9.00"), receipt("AMS01-K1-3", number="3"),
             receipt("AMS01-K1-4", number="4"), receipt("AMS01-K1-6", number="6", status="voided")]
    return [day, later]


@pytest.mark.parametrize("which", [0, 1])
def test_an_exception_between_any_two_statements_leaves_the_ledger_as_before(rules, new_db, monkeypatch, which):
    batches = _batches()
    n_writes = _write_statements(rules, new_db("count"), batches[: which + 1])
    assert n_writes > 5
    reference = new_db("reference")
    for b in batches[: which + 1]:
        run(rules, reference, b)
    for n in range(1, n_writes + 1):
        db = new_db(f"ledger{n}")
        for b in batches[:which]:
            run(rules, db, b)
        before = dump(db)
        monkeypatch.setattr(Store, "fail_before", n)
        with pytest.raises(InjectedFailure):
            run(rules, db, batches[which])
        monkeypatch.setattr(Store, "fail_before", None)
        assert dump(db) == before, f"failure before statement {n} left a partial run"
        run(rules, db, batches[which])  # the rerun completes it
        assert dump(db) == dump(reference)


@pytest.mark.parametrize("statement", [1, 4, 7])
def test_a_final_run_killed_mid_way_leaves_the_ledger_as_before_and_a_rerun_completes_it(db, new_db, tmp_path,
                                                                                        statement):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps(_batches()[0]))
    second.write_text(json.dumps(_batches()[1]))
    reference = new_db("reference")
    for f in (first, second):
        tp("process", BAKERY, f, "--db", reference, "--final")
    tp("process", BAKERY, first, "--db", db, "--final")
    before = dump(db)
    env = dict(os.environ, TILLPOST_TEST_PAUSE_BEFORE_WRITE=str(statement))
    proc = subprocess.Popen([sys.executable, "-c", "from tillpost.cli import main; main()", "process", str(BAKERY),
                             str(second), "--db", db, "--final"], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    try:
        line = proc.stderr.readline()
        assert "paused before write statement" in line, line
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert dump(db) == before
    # Readers see the ledger as it was, at once (no 'readonly database' until a writer recovers it).
    assert tp("status", "--db", db).exit_code == 0
    assert tp("process", BAKERY, second, "--db", db, "--trial", "--format", "summary").exit_code == 0
    tp("process", BAKERY, second, "--db", db, "--final")
    assert dump(db) == dump(reference)


def _lean_days() -> list[list[dict]]:
    """Two runs' inputs that cross batches of three: a duplicate id far apart, invoices, open,
    voided and broken receipts; then late, changed and voided-after-booking ones."""
    first = [receipt(f"AMS01-K1-{n}", number=str(n), amount=f"{n}.25",
                     method=("invoice" if n % 4 == 0 else "pin" if n % 3 == 0 else "cash")) for n in range(1, 12)]
    first[1] = receipt("AMS01-K1-2", number="2", status="open")
    first[5] = receipt("AMS01-K1-6", number="6", method="x")  # no rule books it: an error
    first.append(receipt("AMS01-K1-3", number="3", amount="9.00"))  # id 3 again, three batches on
    first.append(receipt("AMS01-K1-20", number="20", status="voided"))
    later = [receipt("AMS01-K1-1", number="1", amount="7.00"), receipt("AMS01-K1-2", number="2"),
             receipt("AMS01-K1-4", number="4", status="voided"), receipt("AMS01-K1-30", number="30"),
             receipt("AMS01-K1-31", number="31", method="invoice")]
    return [first, later]


def test_a_lean_final_run_in_small_batches_books_what_a_full_one_does(db, new_db, rules, monkeypatch):
    """Batches, the spool and a result without details (the CLI's summary, watch) change nothing
    written; the input's items are let go once booked, but for the copies of a duplicate."""
    reference = new_db("reference")
    full = [run(rules, reference, day) for day in _lean_days()]
    import importlib

    module = importlib.import_module("tillpost.ledger.process")
    monkeypatch.setattr(module, "BATCH", 3)
    monkeypatch.setattr(module, "ENTRY_BATCH", 2)
    for day, expected, left in zip(_lean_days(), full, ([11], [])):
        records = Records("<test>", list(day))
        store = Store.open(db)
        try:
            lean = process(rules, store, [records], final=True, details=False, keep_input=False)
        finally:
            store.close()
        assert lean.counts == expected.counts
        assert lean.receipts()["error"] == expected.receipts()["error"]
        assert lean.entries == [] and lean.counts["entries"] == len(expected.entries) > 0
        assert [i for i, item in enumerate(records.items) if item is not None] == left
    assert dump(db) == dump(reference)


def test_a_second_writer_waits_for_the_lock(db, rules):
    run(rules, db, [receipt("AMS01-K1-1")])
    holder = Store.open(db)
    holder.begin()
    try:
        other = Store.open(db, timeout=0.1)
        with pytest.raises(LedgerError, match="busy"):
            other.begin()
        other.close()
    finally:
        holder.rollback()
        holder.close()


# -- status -------------------------------------------------------------------------------


def test_gaps_per_register_reported_on_the_day_that_shows_them():
    numbers = [("S", "K1", "1001", "d1"), ("S", "K1", "1002", "d1"), ("S", "K1", "1005", "d1"),
               ("S", "K1", "1009", "d2"), ("S", "K2", "K2-0007", "d1"), ("S", "K2", "K2-0009", "d1"),
               ("S", "K3", "n/a", "d1"), ("T", "K1", "1003", "d1")]
    assert gaps(numbers) == {
        ("d1", "S"): [{"register": "K1", "from": "1003", "to": "1004", "missing": 2},
                      {"register": "K2", "from": "K2-0008", "to": "K2-0008", "missing": 1}],
        ("d2", "S"): [{"register": "K1", "from": "1006", "to": "1008", "missing": 3}],
    }


def _day_with_every_kind_of_receipt(rules, db):
    day = json.loads(DAY.read_text())
    run(rules, db, day)
    late = receipt("AMS01-K1-1012", number="1012", amount="2.10", created="2026-11-21T09:00:00+01:00")
    changed = dict(day[1], payments=[{"method": "cash", "amount": "7.00"}])
    broken = receipt("AMS01-K1-1010", number="1010", paid="1.00")
    run(rules, db, [late, changed, broken])


def test_status_is_the_same_on_both_backends(rules, pg_base, tmp_path):
    lite, pg = str(tmp_path / "ledger.sqlite"), ledgers.fresh_schema(pg_base)
    for db in (lite, pg):
        _day_with_every_kind_of_receipt(rules, db)
    assert open_status(lite) == open_status(pg)
    for args in ((), ("--date", "2026-11-20"), ("--store", "WEB")):
        assert tp("status", "--db", lite, *args).stdout == tp("status", "--db", pg, *args).stdout


def test_status_after_a_day_with_every_kind_of_receipt(tmp_path, rules, snapshot):
    db = str(tmp_path / "ledger.sqlite")
    day = json.loads(DAY.read_text())
    run(rules, db, day)
    late = receipt("AMS01-K1-1012", number="1012", amount="2.10", created="2026-11-21T09:00:00+01:00")
    changed = dict(day[1], payments=[{"method": "cash", "amount": "7.00"}])
    broken = receipt("AMS01-K1-1010", number="1010", paid="1.00")
    run(rules, db, [late, changed, broken])
    report = open_status(db)
    ams = report["days"][0]
    assert (ams["date"], ams["store"]) == ("2026-11-20", "AMS01")
    assert ams["counts"] == {"booked": 7, "late": 1, "changed": 1, "open": 1, "voided": 1, "error": 1}
    assert ams["gaps"] == [{"register": "K1", "from": "1009", "to": "1009", "missing": 1},
                           {"register": "K1", "from": "1011", "to": "1011", "missing": 1}]
    cash = next(p for p in ams["payments"] if p["method"] == "cash")
    assert Decimal(cash["difference"]) == Decimal("1.00")  # the broken receipt's payment is not booked
    assert report["totals"]["error"] == 1 and not ams["complete"]
    result = tp("status", "--db", db, "--format", "json")
    assert json.loads(result.stdout) == report
    assert tp("status", "--db", db, "--check").exit_code == 1
    assert tp("status", "--db", db, "--check", "--store", "WEB").exit_code == 0
    table = tp("status", "--db", db, "--date", "2026-11-20").stdout
    assert table == snapshot(name="table")


def test_every_receipt_has_one_status_and_the_counts_add_up(db, rules):
    run(rules, db, json.loads(DAY.read_text()))
    report = open_status(db)
    assert report["receipts"] == 11 == sum(d["receipts"] for d in report["days"])
    for d in report["days"]:
        listed = d["booked"] + d["late"] + d["changed"] + d["open"] + d["voided"] + [e["receipt"] for e in d["error"]]
        assert len(listed) == len(set(listed)) == d["receipts"] == sum(d["counts"].values())


def test_progress_is_plain_log_lines_when_not_on_a_terminal(capsys):
    from tillpost.cli.ledger import _progress_reporter

    report, done = _progress_reporter()
    for n in range(1000, 20001, 1000):
        report("booking", n, 20000)
    done()
    assert capsys.readouterr().err.splitlines() == [f"booking {n}/20000 receipts" for n in range(2000, 20001, 2000)]


def test_a_booked_receipt_back_to_its_booked_content_books_no_correction(db, rules):
    r = receipt("AMS01-K1-1", number="1")
    run(rules, db, [r])
    assert statuses_of(run(rules, db, [r, r])) == {"AMS01-K1-1": "error"}  # twice in one export
    back = run(rules, db, [r])
    assert statuses_of(back) == {"AMS01-K1-1": "booked"} and back.entries == []
    assert ledger_nets(db) == scratch_nets(rules, [r])


def test_a_source_adapters_error_keeps_its_reason_in_the_queue(db, rules):
    records = Records("export.json", [receipt("AMS01-K1-1", number="1"), {"id": "AMS01-K1-2"}],
                      errors={1: "Lightspeed Retail sale 2: unitPrice is '3,25', not a number"})
    store = Store.open(db)
    result = process(rules, store, [records], final=True)
    assert statuses_of(result) == {"AMS01-K1-1": "booked", "AMS01-K1-2": "error"}
    retried = process(rules, store, [], Selection(retry_errors=True), final=True)
    assert [c.reason for c in retried.changes] == ["Lightspeed Retail sale 2: unitPrice is '3,25', not a number"]
    report = status(store)
    store.close()
    assert report["days"][0]["error"] == [
        {"receipt": "AMS01-K1-2", "reason": "Lightspeed Retail sale 2: unitPrice is '3,25', not a number"}]


def test_json_lines_broken_half_way_book_nothing_of_the_file(db, tmp_path):
    tp("process", BAKERY, DAY, "--db", db, "--final")
    before = dump(db)
    lines = tmp_path / "day.jsonl"
    lines.write_text(json.dumps(receipt("AMS01-K1-20", number="20")) + "\n{\"id\": \"AMS01-K1-21\", \n")
    result = tp("process", BAKERY, lines, "--db", db, "--final")
    assert result.exit_code == 2 and "day.jsonl:2:" in result.stderr and "malformed JSON" in result.stderr
    assert dump(db) == before


def test_status_shows_an_amount_too_large_for_cents_as_it_is(db, rules):
    run(rules, db, [receipt("AMS01-K1-1"), receipt("AMS01-K1-2", paid=Decimal("1E+400"))])
    store = Store.open(db, readonly=True)
    try:
        (day,) = status(store)["days"]
    finally:
        store.close()
    assert day["counts"]["error"] == 1
    (cash,) = day["payments"]
    assert cash["booked"] == "3.25" and Decimal(cash["receipts"]) == Decimal("1E+400") + Decimal("3.25")


def test_the_content_a_receipt_waits_with_keeps_its_numbers_exactly(db, rules, tmp_path):
    """Amounts given as JSON numbers are kept as the input wrote them (12.50, 0.1 + 17 digits), never
    through a float, and a retry from the kept content books exactly them."""
    text = ('{"id": "AMS01-K1-1", "store": "AMS01", "date": "2026-11-20", "status": "completed", '
            '"currency": "EUR", "prices_include_vat": true, "lines": [{"quantity": 1, "unit_price": 12.50, '
            '"vat": "low", "category": "brood"}, {"quantity": 0.12345678901234567891, "unit_price": 0, '
            '"vat": "low"}], "payments": [{"method": "ideal", "amount": 12.50}]}\n')
    path = tmp_path / "day.jsonl"
    path.write_text(text + text.replace("AMS01-K1-1", "AMS01-K1-2"))
    assert tp("process", BAKERY, path, "--db", db, "--final", "--format", "summary").exit_code == 1
    (content,) = ledgers.query(db, "SELECT content FROM receipts WHERE id = 'AMS01-K1-1'")[0]
    assert '"12.50"' in content and "0.12345678901234567891" in content and "12.5," not in content
    fixed = tmp_path / "fixed.rules"
    fixed.write_text(BAKERY.read_text() + "\nmethod ideal turnover\nwhen payment method=ideal post MEM pin -> debiteuren\n")
    assert tp("process", fixed, "--db", db, "--final", "--retry-errors", "--format", "summary").exit_code == 0
    booked = [l for e in stored_entries(db) for l in e["lines"] if l["account"] == "1105"]
    assert [l["debit"] for l in booked] == ["25.00"]


def test_status_shows_receipt_text_as_text(db, rules):
    """Ids and reasons come from tills: status prints them, never reads them as markup or obeys them."""
    run(rules, db, [receipt("AMS01-[/]-1", number="1"), receipt("AMS01-[bold]x[/bold]-2", number="2", method="ideal"),
                    receipt("AMS01-\u001b]0;pwned\u0007-3", number="3", status="open")])
    result = tp("status", "--db", db)
    assert result.exit_code == 0, result.output
    assert "error AMS01-[bold]x[/bold]-2: payment method 'ideal'" in result.stdout
    assert "open: AMS01-\\x1b]0;pwned\\x07-3" in result.stdout and "\u001b" not in result.stdout
