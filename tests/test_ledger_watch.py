"""`tillpost watch`: files dropped into an inbox are booked, moved, logged; signals stop it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import ledgers
import pytest
from click.testing import CliRunner

from tillpost.cli import cli
from tillpost.cli import ledger as _ledger_cli  # noqa: F401  (registers the commands)
from tillpost.ledger import Store
from tillpost.ledger.watch import Watcher, pending
from test_ledger import BAKERY, DAY, receipt, statuses, tp
from tillpost.api import load_rules


def drop(inbox: Path, name: str, receipts) -> Path:
    path = inbox / name
    path.write_text(receipts if isinstance(receipts, str) else json.dumps(receipts))
    return path


def test_watch_once_books_the_files_and_moves_them(tmp_path, db):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drop(inbox, "a.json", [receipt("AMS01-K1-1", number="1")])
    drop(inbox, "b.jsonl", "\n".join(json.dumps(receipt(f"AMS01-K1-{n}", number=str(n))) for n in (2, 3)) + "\n")
    drop(inbox, "broken.json", "[{\"id\": ")
    drop(inbox, "errors.json", [receipt("AMS01-K1-4", number="4", method="ideal")])
    drop(inbox, "still-writing.json.part", "[")
    drop(inbox, ".hidden.json", "[")
    result = CliRunner().invoke(cli, ["watch", str(BAKERY), str(inbox), "--db", db, "--interval", "0", "--once"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and "run 1: 4 files (3 done, 1 failed)" in lines[0]
    # Each file is its own final run: the day's entries are booked with a.json, so the receipts of
    # b.jsonl for that day go into supplementary entries.
    assert "1 booked, 2 late" in lines[0] and "1 errors" in lines[0]
    assert sorted(os.listdir(inbox / "done")) == ["a.json", "b.jsonl", "errors.json"]
    assert sorted(os.listdir(inbox / "failed")) == ["broken.json", "broken.json.reason"]
    assert "malformed JSON" in (inbox / "failed" / "broken.json.reason").read_text()
    assert sorted(os.listdir(inbox)) == [".hidden.json", "done", "failed", "still-writing.json.part"]
    assert statuses(db) == {"AMS01-K1-1": "booked", "AMS01-K1-2": "late", "AMS01-K1-3": "late",
                            "AMS01-K1-4": "error"}


def test_the_same_file_again_books_nothing_twice_and_keeps_both_copies(tmp_path, db):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lines = []
    watcher = Watcher(load_rules(BAKERY), str(BAKERY), str(inbox), db, 0, log=lines.append)
    drop(inbox, "day.json", json.loads(DAY.read_text()))
    watcher.run(max_runs=1, poll=0)
    drop(inbox, "day.json", json.loads(DAY.read_text()))
    watcher.run(max_runs=2, poll=0)
    assert "9 booked" in lines[0]
    # The same content is recognised by its hash and not even read again; both copies are kept.
    assert "1 files (0 done, 0 failed, 1 booked before): 0 booked" in lines[1]
    assert len(os.listdir(inbox / "done")) == 2 and pending(inbox) == []
    # The same receipts in another file are a run of their own, which books nothing new.
    drop(inbox, "day-again.json", json.loads(DAY.read_text())[::-1])
    watcher.run(max_runs=3, poll=0)
    assert "1 files (1 done, 0 failed): 0 booked" in lines[2] and "11 unchanged" in lines[2]
    (files,) = ledgers.query(db, "SELECT count(*) FROM files")
    assert files == (2,)
    store = Store.open(db)
    try:  # the database refuses a file booked twice, whatever a worker believes
        store.begin()
        sha, name = ledgers.query(db, "SELECT sha256, name FROM files ORDER BY run")[0]
        with pytest.raises(Exception, match="(?i)unique|duplicate"):
            store.insert_file(sha, "copy.json", 99)
    finally:
        store.rollback()
        store.close()


def test_watch_refuses_a_selection_and_a_bad_interval(tmp_path):
    db = str(tmp_path / "l.sqlite")
    result = tp("watch", BAKERY, tmp_path, "--db", db, "--interval", "5", "--receipt", "R1")
    assert result.exit_code == 2 and "cannot be combined with a receipt selection" in result.output
    result = tp("watch", BAKERY, tmp_path, "--db", db, "--interval", "721")
    assert result.exit_code == 2 and "721" in result.output
    result = tp("watch", BAKERY, tmp_path / "nowhere", "--db", db, "--interval", "0")
    assert result.exit_code == 2 and "no such folder" in result.stderr


def test_sigterm_stops_the_watcher_cleanly_after_the_run_in_progress(tmp_path, db):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drop(inbox, "a.json", [receipt("AMS01-K1-1", number="1")])
    proc = subprocess.Popen([sys.executable, "-c", "from tillpost.cli import main; main()", "watch", str(BAKERY),
                             str(inbox), "--db", db, "--interval", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # the first run has booked a.json
        assert "run 1: 1 files (1 done, 0 failed)" in line, line
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "watch stopped after 1 run(s)" in err and "Traceback" not in err
    assert statuses(db) == {"AMS01-K1-1": "booked"}
    assert os.listdir(inbox / "done") == ["a.json"]


def test_two_watchers_on_one_ledger_never_book_a_receipt_twice(tmp_path, db):
    from test_ledger import ledger_nets, scratch_nets

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    receipts = []
    for f in range(8):
        batch = [receipt(f"AMS01-K1-{f}{n}", number=f"{f}{n}", amount=f"{f + 1}.{n}0") for n in range(5)]
        receipts += batch
        drop(inbox, f"batch{f}.json", batch)
    command = [sys.executable, "-c", "from tillpost.cli import main; main()", "watch", str(BAKERY), str(inbox),
               "--db", db, "--interval", "0", "--once"]
    watchers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for w in watchers:
        out, err = w.communicate(timeout=60)
        assert w.returncode == 0, err
        assert "Traceback" not in err
    assert pending(inbox) == [] and sorted(os.listdir(inbox / "done")) == [f"batch{f}.json" for f in range(8)]
    assert set(statuses(db)) == {r["id"] for r in receipts}
    assert ledger_nets(db) == scratch_nets(load_rules(BAKERY), receipts)


@pytest.mark.parametrize("when", ["after reading", "while booking"])
def test_a_file_still_being_written_waits_in_the_inbox_and_is_booked_once_complete(tmp_path, db, when, monkeypatch):
    from tillpost.api import read_receipts
    from tillpost.ledger.watch import book_file

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lines = [json.dumps(receipt(f"AMS01-K1-{n}", number=str(n))) for n in range(1, 5)]
    path = drop(inbox, "day.jsonl", "\n".join(lines[:3]) + "\n")
    ruleset = load_rules(str(BAKERY))

    def read_while_the_sender_appends(name, rules, source):
        records = read_receipts(name, rules, source)
        if when == "after reading":
            with path.open("a") as f:
                f.write(lines[3] + "\n")
        else:  # once the run has read its first receipt (the file is read a line at a time)
            first = type(records.items).__getitem__

            def append_then_read(self, i):
                if i == 1 and path.stat().st_size < 4 * len(lines[0]):
                    with path.open("a") as f:
                        f.write(lines[3] + "\n")
                return first(self, i)

            monkeypatch.setattr(type(records.items), "__getitem__", append_then_read)
        return records

    store = Store.open(db)
    try:
        outcome = book_file(ruleset, str(BAKERY), store, path, read=read_while_the_sender_appends)
        assert outcome.state == "writing"
        assert sorted(os.listdir(inbox)) == ["day.jsonl"]  # not in failed/, not in done/
        assert statuses(db) == {}  # nothing of it booked
        monkeypatch.undo()
        outcome = book_file(ruleset, str(BAKERY), store, path)  # the next run: the file is complete
    finally:
        store.close()
    assert outcome.state == "done"
    assert statuses(db) == {f"AMS01-K1-{n}": "booked" for n in range(1, 5)}
