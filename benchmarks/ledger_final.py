"""Benchmark: the ledger's final run against `book` on the same day, and what follows it, in one run.

    python benchmarks/ledger_final.py [--receipts 100000] [--profile mixed|bakery]
                                      [--backend sqlite|postgresql|both] [--late 1000] [--runs 1] [--json]

Generates a day (by default the bike shop's mixed day of benchmarks/mixed_day.py with
benchmarks/bikeshop.rules; `--profile bakery` the bakery day of book_day.py), then
measures, each through the command line in a fresh process, in turn:

- book: `tillpost book RULES DAY -o FILE`, the reference;
- final: `tillpost process RULES DAY --final --format summary` into a fresh ledger:
  seconds, peak memory, its ratio to book, the ledger's size;
- rerun: the same final run again (nothing new: books nothing);
- late: LATE receipts more of the same day under new ids, into that ledger;
- status: `tillpost status` of the whole ledger, and its ratio to the final run.

`--backend postgresql` starts a throw-away PostgreSQL server (as the tests do,
tests/ledgers.py: 127.0.0.1 only, fsync off) and removes it afterwards; its own CPU
is not in the figures (client CPU and wall time are). Seconds are wall time; CPU is
the process's user + system time; peak is its maximum resident set. With `--runs`,
each figure is the median of the runs (the peak the maximum). Not a test: figures
depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

RUN = "import sys; from tillpost.cli import main; main(sys.argv[1:])"
STEPS = ("book", "final", "rerun", "late", "status")


def generator(profile: str):
    """(generate_day, rule file) of the profile."""
    if profile == "bakery":
        from book_day import EXAMPLES, generate_day

        return generate_day, EXAMPLES / "bakery.rules"
    from mixed_day import RULES, generate_day

    return generate_day, RULES


def days(profile: str, n: int, late: int, folder: Path) -> tuple[Path, Path, Path]:
    """The day's N receipts, and LATE more of the same day under new ids (the same generator
    carried on: its first N receipts are the day's)."""
    generate_day, rules = generator(profile)
    day, late_day, both = folder / "day.jsonl", folder / "late.jsonl", folder / "both.jsonl"
    generate_day(n + late, both)
    with both.open("rb") as src, day.open("wb") as first, late_day.open("wb") as rest:
        for i, line in enumerate(src):
            (first if i < n else rest).write(line)
    both.unlink()
    return Path(rules), day, late_day


def measured(args: list[str]) -> dict:
    """One tillpost command in a fresh process: wall and CPU seconds, peak MB, its summary line."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", RUN, *args], stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own figures, not the maximum of all children
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    if proc.returncode not in (0, 1):  # 1: some receipts in error, as the day has
        sys.exit(f"tillpost {' '.join(args)} failed ({proc.returncode}):\n" + "\n".join(lines[-20:]))
    summary = next((line for line in reversed(lines) if line.startswith(("final run", "trial run"))), "")
    return {"seconds": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
            "summary": summary}


class Backend:
    """A fresh ledger per round: an SQLite file, or a schema of a throw-away PostgreSQL server."""

    def __init__(self, name: str, folder: Path):
        self.name, self.folder, self.server, self.rounds = name, folder, None, 0
        if name == "postgresql":
            sys.path.insert(0, str(HERE.parent / "tests"))
            from ledgers import ThrowawayServer, _binaries

            bindir = _binaries()
            if bindir is None:
                sys.exit("PostgreSQL is not installed (Debian: apt-get install postgresql)")
            self.server = ThrowawayServer(bindir)

    def fresh(self) -> str:
        self.rounds += 1
        if self.server is None:
            return str(self.folder / f"ledger{self.rounds}.sqlite")
        from ledgers import fresh_schema

        return fresh_schema(self.server.url)

    def size_mb(self, db: str) -> float:
        if self.server is None:
            return os.path.getsize(db) / 1e6
        import psycopg

        with psycopg.connect(db) as conn:
            (size,) = conn.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                                   "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                                   "AND c.relkind = 'r'").fetchone()
        return float(size or 0) / 1e6

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


def one_round(backend: Backend, rules: Path, day: Path, late: Path, folder: Path) -> dict:
    db = backend.fresh()
    process = ["process", str(rules), "--db", db, "--final", "--format", "summary"]
    out = {"book": measured(["book", str(rules), str(day), "-o", str(folder / "book.json")])}
    out["final"] = measured([*process[:2], str(day), *process[2:]])
    out["ledger_mb"] = backend.size_mb(db)
    out["rerun"] = measured([*process[:2], str(day), *process[2:]])
    out["late"] = measured([*process[:2], str(late), *process[2:]])
    out["status"] = measured(["status", "--db", db])
    return out


def median_round(rounds: list[dict]) -> dict:
    out: dict = {"ledger_mb": rounds[-1]["ledger_mb"]}
    for step in STEPS:
        out[step] = {"seconds": statistics.median(r[step]["seconds"] for r in rounds),
                     "cpu": statistics.median(r[step]["cpu"] for r in rounds),
                     "peak_mb": max(r[step]["peak_mb"] for r in rounds), "summary": rounds[-1][step]["summary"]}
    book, final = out["book"], out["final"]
    out["final_to_book"] = final["seconds"] / book["seconds"]
    out["final_to_book_cpu"] = final["cpu"] / book["cpu"]
    for step in ("rerun", "late", "status"):
        out[f"{step}_to_final"] = out[step]["seconds"] / final["seconds"]
    return out


def report(backend: str, n: int, late: int, r: dict) -> None:
    def fig(step: str) -> str:
        s = r[step]
        return f"{s['seconds']:6.2f} s ({s['cpu']:.2f} CPU s), peak {s['peak_mb']:4.0f} MB"

    print(f"{backend}:")
    print(f"  book    {n:>7,} receipts      {fig('book')}")
    print(f"  final   into a fresh ledger  {fig('final')}; {r['final_to_book']:.2f}× book "
          f"({r['final_to_book_cpu']:.2f}× its CPU); ledger {r['ledger_mb']:.0f} MB")
    print(f"  rerun   the same input       {fig('rerun')}; {r['rerun_to_final']:.2f} of the final run")
    print(f"  late    {late:>7,} new receipts  {fig('late')}; {r['late_to_final']:.2f} of the final run")
    print(f"  status  the whole ledger     {fig('status')}; {r['status_to_final']:.2f} of the final run")
    print(f"  ({r['final']['summary']}; late: {r['late']['summary']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--late", type=int, default=1_000, help="late receipts (new ids, the same day)")
    parser.add_argument("--profile", choices=("mixed", "bakery"), default="mixed")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    out: dict = {"receipts": args.receipts, "late": args.late, "profile": args.profile, "runs": args.runs}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rules, day, late = days(args.profile, args.receipts, args.late, folder)
        if not args.json:
            print(f"{args.profile} day of {args.receipts:,} receipts ({day.stat().st_size / 1e6:.0f} MB), "
                  f"{args.late:,} late; each command a fresh process; {args.runs} run(s):")
        for name in backends:
            backend = Backend(name, folder)
            try:
                rounds = [one_round(backend, rules, day, late, folder) for _ in range(args.runs)]
            finally:
                backend.close()
            out[name] = median_round(rounds)
            if not args.json:
                report(name, args.receipts, args.late, out[name])
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
