"""Benchmark: `tillpost process --final` of generated receipts into a fresh SQLite ledger.

    python benchmarks/ledger_final.py [--receipts 100000]

Generates a bakery day (benchmarks/book_day.py's generator), then times, through
the command line in a fresh process each: the first final run into a new
ledger file, the same run again (idempotent: nothing booked twice), and a
trial run. Prints the seconds, receipts per second, the ledger's size and the
peak memory of the final run. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_day import EXAMPLES, generate_day  # noqa: E402

RUN = "import sys; from tillpost.cli import main; main(sys.argv[1:])"


def timed(args: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"failed: {proc.stderr}")
    print("  " + proc.stderr.strip().splitlines()[-1])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receipts", type=int, default=100_000)
    n = parser.parse_args().receipts
    rules = str(EXAMPLES / "bakery.rules")
    with tempfile.TemporaryDirectory() as tmp:
        day = Path(tmp) / "day.jsonl"
        generate_day(n, day)
        db = str(Path(tmp) / "ledger.sqlite")
        common = [rules, str(day), "--db", db, "--format", "summary"]
        print(f"process --final, {n} receipts into a fresh SQLite ledger:")
        seconds, peak = timed(["process", *common, "--final"])
        size = os.path.getsize(db) / 1e6
        print(f"  {seconds:.2f} s ({n / seconds:,.0f} receipts/s, process start included), "
              f"ledger {size:.1f} MB, peak memory {peak} MB")
        print("the same final run again (books nothing):")
        seconds, _ = timed(["process", *common, "--final"])
        print(f"  {seconds:.2f} s")
        print("a trial run of the same input on the booked ledger:")
        seconds, _ = timed(["process", *common, "--trial"])
        print(f"  {seconds:.2f} s")


if __name__ == "__main__":
    main()
