"""The workspace and its workers (SPEC §12): tillpost.toml checked line by line, every client booked
from its inbox, on SQLite in-process and on PostgreSQL through the job queue, with workers killed at
random and the books still exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from test_ledger import BAKERY, receipt, statuses, tp
from tillpost.cli import service as _service_cli  # noqa: F401  (registers the commands)
from tillpost.service.workspace import WorkspaceError, load_workspace

EXAMPLES = BAKERY.parent
CLI = [sys.executable, "-c", "import sys; from tillpost.cli import main; main(sys.argv[1:])"]


def workspace(tmp_path: Path, clients: dict[str, str], defaults: str = "interval = 0") -> Path:
    """A workspace folder: each client the bakery's rules and an inbox; `clients` maps name → extra lines."""
    ws = tmp_path / "ws"
    (ws / "rules").mkdir(parents=True, exist_ok=True)
    (ws / "rules" / "bakery.rules").write_text(BAKERY.read_text())
    text = f"[defaults]\n{defaults}\n"
    for name, extra in clients.items():
        (ws / "inbox" / name).mkdir(parents=True, exist_ok=True)
        rules = "" if "rules =" in extra else 'rules = "rules/bakery.rules"\n'
        text += f'\n[clients.{name}]\n{rules}inbox = "inbox/{name}"\n{extra}\n'
    (ws / "tillpost.toml").write_text(text)
    return ws


def drop(ws: Path, client: str, name: str, receipts, mtime: float | None = None) -> Path:
    inbox = ws / "inbox" / client
    tmp = inbox / (name + ".tmp")
    tmp.write_text(receipts if isinstance(receipts, str) else json.dumps(receipts))
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    path = inbox / name
    os.replace(tmp, path)  # complete files appear at once, as a sender should write them
    return path


def status_json(db: str, client: str) -> dict:
    result = tp("status", "--db", db, "--client", client, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- the workspace file ----------------------------------------------------------------------


def test_a_typo_or_a_bad_value_makes_that_client_unusable_with_its_line_and_the_others_run(tmp_path):
    ws = workspace(tmp_path, {"good": "interval = 60", "typo": "intervl = 5", "slow": "interval = 721",
                              "nosource": 'source = "lightspeed-retial"'})
    loaded = load_workspace(ws)
    assert sorted(loaded.clients) == ["good"]
    assert loaded.clients["good"].interval == 60
    assert loaded.clients["good"].rules == ws / "rules" / "bakery.rules"
    text = loaded.diagnostics.format()
    lines = (ws / "tillpost.toml").read_text().splitlines()
    assert f"tillpost.toml:{lines.index('intervl = 5') + 1}:1: error: unknown key 'intervl' for client 'typo' " \
           "(did you mean 'interval'?)" in text
    assert f"tillpost.toml:{lines.index('interval = 721') + 1}:1: error: interval is minutes between runs, a whole " \
           "number from 0 to 720" in text
    assert "unknown source 'lightspeed-retial' (did you mean 'lightspeed-retail'?)" in text
    result = tp("clients", ws)
    assert result.exit_code == 1
    assert "good: compiles: " in result.stdout and "typo: not usable: unknown key 'intervl'" in result.stdout


def test_a_workspace_file_that_is_not_toml_or_has_no_clients_is_refused_as_a_whole(tmp_path):
    (tmp_path / "tillpost.toml").write_text('[defaults]\ninterval = 15\n[clients.a]\nrules = "x\n')
    with pytest.raises(WorkspaceError, match=r"tillpost.toml:4:11: error: Illegal character"):
        load_workspace(tmp_path)
    result = tp("worker", tmp_path, "--db", tmp_path / "l.sqlite", "--until-idle")
    assert result.exit_code == 2 and "tillpost.toml:4:11:" in result.stderr
    (tmp_path / "tillpost.toml").write_text("[defaults]\ninterval = 15\n")
    assert tp("clients", tmp_path).exit_code == 2
    assert "no clients" in tp("clients", tmp_path).stderr
    assert "no such file" in tp("clients", tmp_path / "nowhere").stderr


def test_clients_lists_each_rule_files_state(tmp_path):
    ws = workspace(tmp_path, {"a": "", "b": 'rules = "rules/broken.rules"'})
    (ws / "rules" / "broken.rules").write_text("client \"x\"\ncurrency EUR\nwhen sale post NOPE a -> b\n")
    result = tp("clients", ws, "--format", "json")
    rows = {r["client"]: r for r in json.loads(result.stdout)["clients"]}
    assert rows["a"]["ok"] and rows["a"]["state"].startswith("compiles: ") and rows["a"]["state"].endswith(" rules")
    assert not rows["b"]["ok"] and "undeclared journal 'NOPE'" in "\n".join(rows["b"]["diagnostics"])
    assert result.exit_code == 1


# -- workers -----------------------------------------------------------------------------------


def test_worker_until_idle_books_every_clients_inbox_and_skips_a_broken_client(tmp_path, db, backend):
    ws = workspace(tmp_path, {"jansen": "", "dijk": 'stores = ["WEB"]', "kapot": 'rules = "rules/nope.rules"'})
    day = json.loads((EXAMPLES / "bakery-day.json").read_text())
    drop(ws, "jansen", "1-day.json", day, mtime=1000)
    drop(ws, "jansen", "2-late.json", json.loads((EXAMPLES / "bakery-late.json").read_text()), mtime=2000)
    drop(ws, "jansen", "0-broken.json", '[{"id": ', mtime=500)
    drop(ws, "jansen", "3-cp1252.json", "", mtime=3000).write_bytes(b'[{"id": "caf\xe9"}]')
    os.utime(ws / "inbox" / "jansen" / "3-cp1252.json", (3000, 3000))
    drop(ws, "dijk", "day.json", day)
    drop(ws, "kapot", "day.json", day)
    result = subprocess.run(CLI + ["worker", str(ws), "--db", db, "--until-idle"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    log = result.stdout.splitlines()
    jansen = next(line for line in log if " jansen: " in line)
    assert "4 files (2 done, 2 failed): 9 booked, 2 late, 0 changed, 1 open, 1 voided, 0 errors" in jansen
    assert jansen.endswith(" s")
    assert any(" kapot: not run: its rules do not compile" in line for line in log)
    # Each client's own books: arrival order made 2-late.json late for jansen.
    assert statuses(db, "jansen")["AMS01-K1-1010"] == "late"
    assert set(statuses(db, "dijk").values()) == {"booked"} and len(statuses(db, "dijk")) == 1  # WEB only
    assert sorted(os.listdir(ws / "inbox" / "jansen" / "done")) == ["1-day.json", "2-late.json"]
    failed = ws / "inbox" / "jansen" / "failed"
    assert sorted(os.listdir(failed)) == ["0-broken.json", "0-broken.json.reason", "3-cp1252.json",
                                          "3-cp1252.json.reason"]
    assert "malformed JSON" in (failed / "0-broken.json.reason").read_text()
    assert os.listdir(ws / "inbox" / "kapot") == ["day.json"]  # waits for its rules to be fixed
    # Running again finds nothing to do.
    again = subprocess.run(CLI + ["worker", str(ws), "--db", db, "--until-idle"], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0 and " jansen: " not in again.stdout


def test_a_postgresql_worker_runs_until_stopped_and_books_files_as_they_arrive(tmp_path, pg_base):
    import ledgers

    db = ledgers.fresh_schema(pg_base)
    ws = workspace(tmp_path, {"a": "", "b": ""})
    worker = subprocess.Popen(CLI + ["worker", str(ws), "--db", db], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        drop(ws, "a", "r1.json", [receipt("AMS01-K1-1", number="1")])
        drop(ws, "b", "r1.json", [receipt("AMS01-K1-1", number="1", amount="5.00")])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (os.listdir(ws / "inbox" / "a") != ["done"]
                                               or os.listdir(ws / "inbox" / "b") != ["done"]):
            time.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    assert statuses(db, "a") == {"AMS01-K1-1": "booked"} == statuses(db, "b")
    assert sum(1 for line in out.splitlines() if ": 1 files (1 done, 0 failed): 1 booked" in line) == 2


def test_workers_killed_at_random_book_every_file_once(tmp_path, pg_base):
    """4 workers, 20 clients, 200 files arriving while they run; workers are killed with SIGKILL at
    random moments and restarted. Each client's ledger equals what one clean worker books."""
    import ledgers

    rng = random.Random(20261202)
    n_clients, n_files = 20, 10
    names = [f"shop{c:02d}" for c in range(n_clients)]
    ws = workspace(tmp_path, {name: "" for name in names})
    files: dict[str, list] = {name: [] for name in names}
    for name in names:
        for f in range(n_files):
            day = f"2026-11-{20 + f // 4:02d}"
            batch = [receipt(f"AMS01-K{1 + (n % 2)}-{f}{n:02d}", number=f"{f}{n:02d}", date=day,
                             amount=f"{rng.randint(1, 40)}.{rng.randint(0, 99):02d}",
                             method=rng.choice(["cash", "pin", "cash", "invoice"]))
                     for n in range(rng.randint(3, 12))]
            if f and rng.random() < 0.3:  # a receipt of an earlier file again, changed
                old = dict(rng.choice(files[name][-1]))
                old["payments"] = [{"method": "pin", "amount": old["payments"][0]["amount"]}]
                old.pop("customer", None)
                batch.append(old)
            files[name].append(batch)

    db = ledgers.fresh_schema(pg_base)
    args = CLI + ["worker", str(ws), "--db", db, "--heartbeat", "1", "--stalled-after", "3"]
    logs = tmp_path / "logs"
    logs.mkdir()
    workers: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        out = open(logs / f"w{len(list(logs.iterdir()))}.log", "w")
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)

    def dropper() -> None:
        base = time.time() - 10_000
        for f in range(n_files):
            for c, name in enumerate(names):
                drop(ws, name, f"{f:02d}.json", files[name][f], mtime=base + f * 100 + c)
            time.sleep(0.3)

    workers = [start() for _ in range(4)]
    thread = threading.Thread(target=dropper)
    thread.start()
    kills = 0
    try:
        deadline = time.monotonic() + 240
        # At least 12 kills, however fast the workers are: once every file is booked, the
        # last kills hit workers that are idle or taking the periodic tick.
        while thread.is_alive() or kills < 12 or any(name_pending(ws, n) for n in names):
            assert time.monotonic() < deadline, "the workers did not book every file in time"
            time.sleep(rng.uniform(0.2, 1.2))
            if thread.is_alive() or kills < 12:
                victim = rng.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                workers[victim] = start()
                kills += 1
        thread.join()
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=60)
            except subprocess.TimeoutExpired:
                w.kill()
    log = "\n".join(p.read_text() for p in logs.iterdir())
    assert "Traceback" not in log

    # The reference: one clean worker, each client's files in order, into a ledger of its own.
    for name in names:
        reference = str(tmp_path / f"ref-{name}.sqlite")
        for f, batch in enumerate(files[name]):
            path = tmp_path / f"ref-{name}-{f}.json"
            path.write_text(json.dumps(batch))
            assert tp("process", BAKERY, path, "--db", reference, "--final", "--format", "summary").exit_code in (0, 1)
        got, want = status_json(db, name), status_json(reference, "default")
        got.pop("client"), want.pop("client")
        assert got == want, name
        done = sorted(os.listdir(ws / "inbox" / name / "done"))
        assert [d[:7] for d in done] == [f"{f:02d}.json" for f in range(n_files)], done


def name_pending(ws: Path, name: str) -> bool:
    return any(n.endswith(".json") for n in os.listdir(ws / "inbox" / name))


def test_a_database_restarted_mid_run_loses_nothing_and_books_nothing_twice(tmp_path, pg_base):
    import ledgers

    server = ledgers.own_server()
    if server is None:
        pytest.skip("restarting PostgreSQL needs the tests' own throw-away server (TILLPOST_TEST_PG names another)")
    db = ledgers.fresh_schema(pg_base)
    names = ["a", "b", "c"]
    ws = workspace(tmp_path, {name: "" for name in names})
    rng = random.Random(7)
    files = {name: [[receipt(f"AMS01-K1-{f}{n:03d}", number=f"{f}{n:03d}", amount=f"{rng.randint(1, 30)}.50",
                             method=rng.choice(["cash", "pin"])) for n in range(400)] for f in range(3)]
             for name in names}
    for name in names:
        for f, batch in enumerate(files[name]):
            drop(ws, name, f"{f}.json", batch, mtime=1000 + f)
    worker = subprocess.Popen(CLI + ["worker", str(ws), "--db", db, "--heartbeat", "1", "--stalled-after", "3"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any((ws / "inbox" / n / "done").exists() for n in names):
            assert time.monotonic() < deadline, "the worker booked nothing"
            time.sleep(0.05)
        server.restart()  # in the middle of the day's runs
        deadline = time.monotonic() + 180
        while any(name_pending(ws, n) for n in names):
            assert time.monotonic() < deadline, "the worker did not finish after the restart"
            time.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, out
    assert "Traceback" not in out and "internal error" not in out
    for name in names:
        reference = str(tmp_path / f"ref-{name}.sqlite")
        for f, batch in enumerate(files[name]):
            path = tmp_path / f"ref-{name}-{f}.json"
            path.write_text(json.dumps(batch))
            tp("process", BAKERY, path, "--db", reference, "--final", "--format", "summary")
        got, want = status_json(db, name), status_json(reference, "default")
        got.pop("client"), want.pop("client")
        assert got == want, name
