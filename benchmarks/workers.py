"""Benchmark: workers booking a workspace of many clients into PostgreSQL (and SQLite, for scale).

    python benchmarks/workers.py [--clients 20] [--files 5] [--receipts 2000] [--db postgresql://…]

Generates a workspace of --clients clients (the bakery's rules), each with --files inbox files of
--receipts receipts (benchmarks/book_day.py's generator), then times `tillpost worker --until-idle`:
one worker into a fresh PostgreSQL database, two workers at once into another, and one worker into a
fresh SQLite file. Prints receipts per second (wall clock, worker start included). Without --db it
starts a throw-away PostgreSQL server as the tests do (tests/ledgers.py). Not a test: figures depend
on the machine, and two workers can only use two cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from book_day import EXAMPLES, generate_day  # noqa: E402

CLI = [sys.executable, "-c", "import sys; from tillpost.cli import main; main(sys.argv[1:])"]


def workspace(folder: Path, clients: int, files: int, receipts: int) -> int:
    (folder / "rules").mkdir(parents=True)
    shutil.copy(EXAMPLES / "bakery.rules", folder / "rules" / "bakery.rules")
    text = "[defaults]\ninterval = 0\n"
    day = folder / "day.jsonl"
    total = 0
    for c in range(clients):
        name = f"shop{c:02d}"
        inbox = folder / "inbox" / name
        inbox.mkdir(parents=True)
        text += f'\n[clients.{name}]\nrules = "rules/bakery.rules"\ninbox = "inbox/{name}"\n'
        for f in range(files):
            generate_day(receipts, day, seed=c * 1000 + f)
            # Each file its own ids, so every receipt is new.
            lines = day.read_text().splitlines()
            with (inbox / f"{f:03d}.jsonl").open("w") as out:
                for line in lines:
                    r = json.loads(line)
                    r["id"] = f"{r['id']}-{f}"
                    out.write(json.dumps(r) + "\n")
            total += len(lines)
    day.unlink()
    (folder / "tillpost.toml").write_text(text)
    return total


def run_workers(ws: Path, db: str, n: int) -> float:
    started = time.perf_counter()
    procs = [subprocess.Popen(CLI + ["worker", str(ws), "--db", db, "--until-idle"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"worker failed: {err}")
    # --until-idle workers stop when the queue is empty; one started late may find it empty at once.
    return time.perf_counter() - started


def fresh_pg(base: str) -> str:
    import psycopg

    name = "bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--receipts", type=int, default=2000)
    parser.add_argument("--db", help="a PostgreSQL server's URL (a database to create others from)")
    args = parser.parse_args()
    import ledgers

    base = args.db or ledgers.server_url()
    if base is None:
        sys.exit(ledgers.INSTALL_HINT)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            template = Path(tmp) / "template"
            total = workspace(template, args.clients, args.files, args.receipts)
            print(f"{args.clients} clients × {args.files} files × {args.receipts} receipts = {total:,} receipts")
            for label, n, db in (("PostgreSQL, 1 worker ", 1, None), ("PostgreSQL, 2 workers", 2, None),
                                 ("SQLite, 1 worker    ", 1, str(Path(tmp) / "ledger.sqlite"))):
                ws = Path(tmp) / f"ws-{uuid.uuid4().hex[:6]}"
                shutil.copytree(template, ws)
                seconds = run_workers(ws, db or fresh_pg(base), n)
                left = sum(1 for _ in ws.glob("inbox/*/*.jsonl"))
                print(f"  {label}: {seconds:6.2f} s, {total / seconds:8,.0f} receipts/s"
                      + (f" ({left} files left!)" if left else ""))
    finally:
        if not args.db:
            ledgers.stop_server()


if __name__ == "__main__":
    main()
