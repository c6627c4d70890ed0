"""`tillpost export` (SPEC §14), on SQLite and PostgreSQL (the `db` fixture): every final entry once
per target, recorded with its file; late and changed receipts exported as exactly their supplements
and corrections; the exported files add up to the ledger (hledger and bean-check agree); `--again`
gives the same bytes; a failure or a kill at any write leaves nothing recorded and no file."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import ledgers
import pytest

from test_ledger import BAKERY, DAY, EXAMPLES, dump, receipt, run, stored_entries, tp
from tillpost.api import load_rules
from tillpost.cli import delivery as _delivery_cli  # noqa: F401  (registers the commands)
from tillpost.delivery.export import ExportError, again, export, reference
from tillpost.ledger import Store
from tillpost.ledger.store import InjectedFailure

LATE = EXAMPLES / "bakery-late.json"
MONEYBIRD = EXAMPLES / "bakery-moneybird.rules"
EXACT = EXAMPLES / "bakery-exact-online-rest.rules"
NOW = "2026-11-21T05:30:00+00:00"


def day() -> list[dict]:
    return json.loads(DAY.read_text())


def late_and_changed() -> list[dict]:
    """The bakery's late receipts, and one booked receipt that comes again paid otherwise."""
    changed = dict(day()[1], payments=[{"method": "cash", "amount": day()[1]["payments"][0]["amount"]}])
    return json.loads(LATE.read_text()) + [changed]


def do_export(db, rules_path, target, out, now=NOW, client=None):
    store = Store.open(db, client=client)
    try:
        return export(store, load_rules(rules_path), str(rules_path), target, out, now=now)
    finally:
        store.close()


def exported_entries(db) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for export_id, entry in ledgers.query(db, "SELECT export, entry FROM export_entries ORDER BY export, document"):
        out.setdefault(export_id, []).append(entry)
    return out


def ledger_sums(db) -> dict[tuple[str, str | None], Decimal]:
    sums: dict = {}
    for e in stored_entries(db):
        for l in e["lines"]:
            k = (l["account"], l["debtor"])
            sums[k] = sums.get(k, Decimal(0)) + Decimal(l["debit"]) - Decimal(l["credit"])
    return {k: v for k, v in sums.items() if v}


# -- what an export holds --------------------------------------------------------------------


def test_an_export_records_every_entry_once_and_again_with_nothing_new_writes_nothing(db, tmp_path, bakery):
    run(bakery, db, day())
    out = tmp_path / "out"
    out.mkdir()
    result = tp("export", "--db", db, "--target", "hledger", "-o", out, "--rules", BAKERY)
    assert result.exit_code == 0, result.stderr
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["default-hledger-00001.journal"]
    entries = [e["id"] for e in stored_entries(db)]
    order = sorted(stored_entries(db), key=lambda e: (e["date"], e["journal"], e["key"], e["id"]))
    assert exported_entries(db) == {1: [e["id"] for e in order]}  # documents in the canonical journal's order
    (row,) = ledgers.query(db, "SELECT id, target, file, sha256, entries, documents, run, rules FROM exports")
    assert row[:2] == (1, "hledger") and row[2] == str(files[0]) and row[4:] == (len(entries), 0, 1, str(BAKERY))
    assert row[3] == hashlib.sha256(files[0].read_bytes()).hexdigest()
    assert f"export 1 ({len(entries)} entries) to hledger: {files[0]}" in result.stderr

    again_run = tp("export", "--db", db, "--target", "hledger", "-o", out, "--rules", BAKERY)
    assert again_run.exit_code == 0
    assert "nothing new to export to hledger for client 'default': no file written" in again_run.stderr
    assert sorted(out.iterdir()) == files and len(ledgers.query(db, "SELECT id FROM exports")) == 1
    # Another target has its own exports of the same entries.
    assert tp("export", "--db", db, "--target", "csv", "-o", out / "day.csv", "--rules", BAKERY).exit_code == 0
    assert sorted(set(ledgers.query(db, "SELECT target FROM export_entries"))) == [("csv",), ("hledger",)]


def test_an_entry_goes_to_a_target_once_by_the_databases_own_constraint(db, bakery, tmp_path):
    run(bakery, db, day())
    do_export(db, BAKERY, "hledger", tmp_path)
    store = Store.open(db)
    try:
        store.begin()
        with pytest.raises(store.backend.errors):
            store._write("INSERT INTO export_entries (client, target, entry, export, document) VALUES (?, ?, ?, ?, ?)",
                         (store.client_id, "hledger", 1, 2, 1))
        store.rollback()
        store.begin()
        with pytest.raises(store.backend.errors, match="immutable"):
            store._write("DELETE FROM export_entries")
        store.rollback()
    finally:
        store.close()


def test_late_and_changed_receipts_are_exported_as_exactly_their_supplements_and_corrections(db, bakery, tmp_path):
    rules = load_rules(MONEYBIRD)
    run(rules, db, day())
    first = do_export(db, MONEYBIRD, "moneybird", tmp_path)
    before = {e["id"] for e in stored_entries(db)}
    run(rules, db, late_and_changed())
    new = [e for e in stored_entries(db) if e["id"] not in before]
    assert {e["kind"] for e in new} == {"supplement", "reversal", "rebooking"}
    second = do_export(db, MONEYBIRD, "moneybird", tmp_path)
    assert sorted(second.entries) == sorted(e["id"] for e in new)
    assert set(first.entries) == before and not set(first.entries) & set(second.entries)
    # The file holds one document per new entry, each with its reference, its amounts as booked.
    doc = json.loads(second.path.read_text())
    references = [d["external_sales_invoice"]["reference"] for d in doc["external_sales_invoices"]] + \
                 [d["general_journal_document"]["reference"] for d in doc["general_journal_documents"]]
    assert sorted(references) == sorted(reference("default", 2, n) for n in range(1, len(new) + 1))
    assert second.documents == len(new)
    assert do_export(db, MONEYBIRD, "moneybird", tmp_path).export is None


def _hledger_postings(text: str) -> dict:
    exe = subprocess.run(["hledger", "print", "-f", "-", "-O", "csv"], input=text, capture_output=True, text=True)
    assert exe.returncode == 0, exe.stderr
    sums: dict = {}
    for row in csv.DictReader(io.StringIO(exe.stdout)):
        number, _, rest = row["account"].partition(" ")
        debtor = rest.split(":", 1)[1] if ":" in rest else None
        sums[(number, debtor)] = sums.get((number, debtor), Decimal(0)) + Decimal(row["amount"])
    return {k: v for k, v in sums.items() if v}


def test_exported_files_concatenate_into_one_journal_that_adds_up_to_the_ledger(db, bakery, tmp_path):
    from test_targets import need_tool

    need_tool("hledger")
    run(bakery, db, day())
    do_export(db, BAKERY, "hledger", tmp_path)
    do_export(db, BAKERY, "beancount", tmp_path)
    run(bakery, db, late_and_changed())
    do_export(db, BAKERY, "hledger", tmp_path)
    do_export(db, BAKERY, "beancount", tmp_path)
    journals = sorted(tmp_path.glob("*.journal"))
    assert len(journals) == 2
    whole = "".join(p.read_text() for p in journals)
    check = subprocess.run(["hledger", "check", "--strict", "-f", "-"], input=whole, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert _hledger_postings(whole) == ledger_sums(db)

    from beancount import loader

    sums: dict = {}
    for path in sorted(tmp_path.glob("*.beancount")):
        entries, errors, _ = loader.load_file(str(path))
        assert not errors, [e.message for e in errors]
        bean_check = Path(sys.executable).parent / "bean-check"
        assert subprocess.run([str(bean_check), str(path)], capture_output=True).returncode == 0
        for txn in entries:
            for p in getattr(txn, "postings", None) or ():
                parts = p.account.split(":")
                key = (parts[1].split("-", 1)[0], parts[2] if len(parts) > 2 else None)
                sums[key] = sums.get(key, Decimal(0)) + p.units.number
    assert {k: v for k, v in sums.items() if v} == ledger_sums(db)


# -- again ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["xaf", "moneybird", "hledger"])
def test_again_writes_the_same_bytes_days_later(db, tmp_path, target):
    rules = load_rules(MONEYBIRD)
    run(rules, db, day())
    first = do_export(db, MONEYBIRD, target, tmp_path, now="2026-11-21T05:30:00+00:00")
    run(rules, db, late_and_changed())  # later bookings change nothing of export 1
    do_export(db, MONEYBIRD, target, tmp_path)
    result = tp("export", "--db", db, "--again", "1", "-o", tmp_path / "again", "--rules", MONEYBIRD)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "again").read_bytes() == first.path.read_bytes()
    if target == "xaf":
        assert "<dateCreated>2026-11-21</dateCreated>" in first.path.read_text()
    # A rule file that renders otherwise is said, and nothing is written.
    changed = tmp_path / "changed.rules"
    changed.write_text(MONEYBIRD.read_text().replace('"Omzet brood"', '"Broodomzet"')
                       .replace('"484193420744561753"', '"484193420744561754"'))
    refused = tp("export", "--db", db, "--again", "1", "-o", tmp_path / "again2", "--rules", changed)
    assert refused.exit_code == 2 and not (tmp_path / "again2").exists()
    assert "export 1 rendered again is not the file it was" in refused.stderr
    assert "the rule file differs from the one it was made with" in refused.stderr
    missing = tp("export", "--db", db, "--again", "9", "-o", tmp_path / "x", "--rules", MONEYBIRD)
    assert missing.exit_code == 2 and "client 'default' has no export 9; its exports are 1–2" in missing.stderr


# -- what a target cannot express ---------------------------------------------------------------


def test_entries_a_target_cannot_express_stay_unexported_until_it_can(db, tmp_path):
    lacking = tmp_path / "lacking.rules"
    lacking.write_text(MONEYBIRD.read_text().replace('target moneybird ledger-7000   "457423617343758665"\n', ""))
    rules = load_rules(lacking)
    run(rules, db, day())
    out = tmp_path / "out"
    out.mkdir()
    result = tp("export", "--db", db, "--target", "moneybird", "-o", out, "--rules", lacking)
    assert result.exit_code == 1
    assert "error: target moneybird: entry MEM 2026-11-20/AMS01 (Dagomzet 2026-11-20 AMS01): no moneybird id for " \
           "account 7000" in result.stderr
    assert 'add:\n  target moneybird ledger-7000 "…"\n' in result.stderr  # said once, as the line to add
    memo = [e["id"] for e in stored_entries(db) if e["journal"] == "MEM"]
    exported = exported_entries(db)[1]
    assert memo and not set(memo) & set(exported)
    doc = json.loads(next(out.iterdir()).read_text())  # the documents are numbered without gaps
    assert len(exported) == len(doc["external_sales_invoices"]) + len(doc["general_journal_documents"])
    assert tp("export", "--db", db, "--target", "moneybird", "-o", out, "--rules", lacking).exit_code == 1
    assert len(exported_entries(db)) == 1  # nothing new that renders: nothing written
    fixed = tp("export", "--db", db, "--target", "moneybird", "-o", out, "--rules", MONEYBIRD)
    assert fixed.exit_code == 0 and sorted(exported_entries(db)[2]) == sorted(memo)


def test_unusable_exports_are_clear_errors(db, tmp_path, bakery):
    missing = tp("export", "--db", str(tmp_path / "none.sqlite"), "--target", "hledger", "-o", tmp_path)
    assert missing.exit_code == 2 and "no ledger here yet" in missing.stderr
    assert tp("process", BAKERY, DAY, "--db", db, "--final", "--format", "summary").exit_code == 0
    for args, message in (
            (("--target", "ubl"), "target ubl renders invoices from the receipts' lines"),
            (("--target", "nope"), "unknown target 'nope'"),
            (("--target", "hledger", "--client", "acme"), "no client 'acme' in this ledger"),
            (("--target", "exact-online-rest"), "target 'exact-online-rest' needs setting 'division'")):
        result = tp("export", "--db", db, "-o", tmp_path, "--rules", BAKERY, *args)
        assert result.exit_code == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert tp("export", "--db", db, "--target", "hledger", "-o", tmp_path / "x.journal", "--rules", BAKERY).exit_code == 0
    taken = tp("export", "--db", db, "--target", "csv", "-o", tmp_path / "x.journal", "--rules", BAKERY)
    assert taken.exit_code == 2 and "exists already; an export never overwrites a file" in taken.stderr
    # Without --rules: the rule file the client's last final run used.
    assert tp("export", "--db", db, "--target", "beancount", "-o", tmp_path).exit_code == 0


# -- failures and kills ---------------------------------------------------------------------------


def _export_writes(db: str, rules, out: Path) -> int:
    """How many write statements an export of the bakery's day makes."""
    run(rules, db, day())
    store = Store.open(db)
    try:
        export(store, rules, str(MONEYBIRD), "moneybird", out, now=NOW)
        return store.writes
    finally:
        store.close()


def test_a_failure_before_any_write_of_an_export_leaves_nothing_recorded_and_no_file(new_db, tmp_path, monkeypatch):
    rules = load_rules(MONEYBIRD)
    (tmp_path / "count").mkdir()
    writes = _export_writes(new_db("count"), rules, tmp_path / "count")
    assert writes == 4  # the export, its entries, its documents, their deliveries
    reference_db = new_db("reference")
    run(rules, reference_db, day())
    (tmp_path / "reference").mkdir()
    expected = do_export(reference_db, MONEYBIRD, "moneybird", tmp_path / "reference")
    for n in range(1, writes + 1):
        db = new_db(f"ledger{n}")
        run(rules, db, day())
        before = dump(db)
        out = tmp_path / f"out{n}"
        out.mkdir()
        monkeypatch.setattr(Store, "fail_before", n)
        with pytest.raises(InjectedFailure):
            do_export(db, MONEYBIRD, "moneybird", out)
        monkeypatch.setattr(Store, "fail_before", None)
        assert dump(db) == before, f"a failure before write {n} left part of the export recorded"
        assert list(out.iterdir()) == [], f"a failure before write {n} left a file"
        result = do_export(db, MONEYBIRD, "moneybird", out)  # the rerun makes it whole
        assert result.sha256 == expected.sha256 and result.path.read_bytes() == expected.path.read_bytes()
        for table in ("export_entries", "export_documents", "deliveries"):
            columns = "*" if table != "deliveries" else "export, document, reference, state, sent, attempts"
            assert ledgers.query(db, f"SELECT {columns} FROM {table} ORDER BY 2, 3") == \
                ledgers.query(reference_db, f"SELECT {columns} FROM {table} ORDER BY 2, 3")


@pytest.mark.parametrize("statement", [1, 3])
def test_an_export_killed_at_a_write_leaves_nothing_recorded_and_the_next_one_is_whole(db, tmp_path, statement):
    rules = load_rules(MONEYBIRD)
    run(rules, db, day())
    before = dump(db)
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, TILLPOST_TEST_PAUSE_BEFORE_WRITE=str(statement))
    proc = subprocess.Popen([sys.executable, "-c", "from tillpost.cli import main; main()", "export", "--db", db,
                             "--target", "moneybird", "-o", str(out), "--rules", str(MONEYBIRD)],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        line = proc.stderr.readline()
        assert "paused before write statement" in line, line
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert dump(db) == before
    # Only the unfinished `.part` file is there: no export file is claimed by the ledger or under its name.
    assert [p.name for p in out.iterdir()] == ["default-moneybird-00001.json.part"]
    result = tp("export", "--db", db, "--target", "moneybird", "-o", out, "--rules", MONEYBIRD)
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in out.iterdir()] == ["default-moneybird-00001.json"]
    assert len(exported_entries(db)[1]) == len(stored_entries(db))


def test_a_kill_between_the_commit_and_the_rename_is_finished_by_the_next_export(db, tmp_path, monkeypatch):
    rules = load_rules(MONEYBIRD)
    run(rules, db, day())
    import tillpost.delivery.export as export_module

    real = os.replace

    def killed(src, dst):
        raise KeyboardInterrupt("killed after the commit")

    monkeypatch.setattr(export_module.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        do_export(db, MONEYBIRD, "moneybird", tmp_path)
    monkeypatch.setattr(export_module.os, "replace", real)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".part"] == ["default-moneybird-00001.json.part"]
    assert exported_entries(db)  # recorded: the commit happened
    run(rules, db, [receipt("AMS01-K1-2001", number="2001", date="2026-11-21")])
    second = do_export(db, MONEYBIRD, "moneybird", tmp_path)
    first = tmp_path / "default-moneybird-00001.json"
    assert first.is_file() and not (tmp_path / "default-moneybird-00001.json.part").exists()
    (sha,) = ledgers.query(db, "SELECT sha256 FROM exports WHERE id = 1")[0]
    assert hashlib.sha256(first.read_bytes()).hexdigest() == sha and second.export == 2


def test_again_needs_a_past_export_and_a_rule_file_that_renders_it(db, tmp_path):
    rules = load_rules(MONEYBIRD)
    run(rules, db, day())
    do_export(db, MONEYBIRD, "moneybird", tmp_path)
    store = Store.open(db)
    try:
        with pytest.raises(ExportError, match="went to moneybird, not to hledger"):
            again(store, rules, str(MONEYBIRD), 1, tmp_path / "x", target="hledger")
    finally:
        store.close()
