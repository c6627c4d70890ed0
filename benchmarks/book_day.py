"""Benchmark: book a generated day of receipts from JSON Lines to the canonical JSON.

    python benchmarks/book_day.py [--receipts 100000] [--rules 10000] [--runs 3]

Prints receipts per second (reading, schema check, facts, rules, entries and the
canonical JSON included) and the peak memory of the process, then the time to
compile a generated rule file of --rules rules. Not a test: figures depend on
the machine. The issue's bar: ≥ 50,000 receipts/s on one core, ≤ 250 MB peak,
a 10,000-rule file compiled in under 1 s.

Each run is a fresh process that books the day once, as `tillpost book` would:
nothing it learnt in one run (memos, the rules' plans) helps the next. On a
shared virtual machine one run can lose a fifth of its speed to its neighbours,
so it makes --runs of them and prints each, and their median.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from tillpost.api import book, compile_file, compile_text, read_input, to_json

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules" / "examples"
CENT = Decimal("0.01")
ARTICLES = [
    ("BR-01", "Volkorenbrood", "brood", "3.25", "low", "1.10"),
    ("BR-02", "Witbrood", "brood", "2.95", "low", "0.90"),
    ("BA-07", "Croissant", "banket", "1.95", "low", "0.55"),
    ("TA-02", "Appeltaart", "banket", "12.98", "low", "4.20"),
    ("KO-01", "Koffie", "koffie", "2.80", "high", "0.40"),
    ("LU-03", "Broodje kaas", "lunch", "6.50", "low", None),
]
RATES = {"low": Decimal(9), "high": Decimal(21)}


def generate_day(n: int, path: Path, seed: int = 42) -> None:
    """A realistic bakery day: 1–5 lines a receipt, cash, pin and the odd invoice and refund."""
    rnd = random.Random(seed)
    with path.open("w") as f:
        for i in range(n):
            store = rnd.choice(["AMS01", "AMS01", "UTR02", "WEB"])
            lines, total = [], Decimal(0)
            for _ in range(rnd.randint(1, 5)):
                sku, desc, cat, price, vat, cost = rnd.choice(ARTICLES)
                qty = rnd.randint(1, 4) * (-1 if rnd.random() < 0.02 else 1)
                line = {"sku": sku, "description": desc, "category": cat, "quantity": str(qty),
                        "unit_price": price, "vat": vat}
                if cost:
                    line["cost"] = cost
                lines.append(line)
                total += (Decimal(qty) * Decimal(price)).quantize(CENT, ROUND_HALF_UP)
            r = {"id": f"{store}-{i}", "number": str(100000 + i), "source": "lightspeed-retail", "store": store,
                 "register": rnd.choice(["K1", "K2"]), "date": "2026-11-20",
                 "created": "2026-11-20T10:31:00+01:00", "status": "completed", "currency": "EUR",
                 "prices_include_vat": True, "lines": lines}
            kind = rnd.random()
            if kind < 0.03:
                r["customer"] = {"id": f"C{i}", "debtor": "20001", "name": "Jansen Catering"}
                r["payments"] = [{"method": "invoice", "amount": str(total)}]
            elif kind < 0.45:
                paid = (total / Decimal("0.05")).quantize(Decimal(1), ROUND_HALF_UP) * Decimal("0.05")
                r["payments"] = [{"method": "cash", "amount": str(paid)}]
                if paid != total:
                    r["cash_rounding"] = str(total - paid)
            else:
                r["payments"] = [{"method": "pin", "amount": str(total)}]
            f.write(json.dumps(r) + "\n")


def generate_rules(n: int) -> str:
    """A chart with n rules: per store × category revenue accounts, refined per SKU."""
    text = (EXAMPLES / "bakery.rules").read_text()
    out = [text, "attribute channel"]
    stores = [f"S{s:03d}" for s in range(max(1, n // 100))]
    categories = [f"c{c:02d}" for c in range(100)]
    count = 0
    for s in stores:
        for c in categories:
            if count >= n:
                break
            out.append(f"when sale category={c} store={s} post VRK debiteuren -> omzet")
            count += 1
    return "\n".join(out)


def measure(day: Path, receipts: int, rules: int) -> dict:
    """One run, in this process: book the day, then compile the generated rule file."""
    ruleset = compile_file(EXAMPLES / "bakery.rules")[0]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu = time.perf_counter(), time.process_time()
    result = book(ruleset, read_input(str(day)))
    output = to_json(result, ruleset)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert not result.errors and not result.open, result.errors[:3]

    text = generate_rules(rules)
    start = time.perf_counter()
    big, diagnostics = compile_text(text, "generated.rules")
    compiled = time.perf_counter() - start
    assert big is not None, diagnostics.format()[:2000]
    return {"elapsed": elapsed, "cpu": cpu, "peak_mb": peak / 1024, "base_mb": base / 1024,
            "entries": len(result.entries), "output_kb": len(output) / 1e3, "rules": len(big.rules),
            "compile": compiled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one run, in a fresh process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.receipts, args.rules)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        day = Path(tmp) / "day.jsonl"
        generate_day(args.receipts, day)
        size = day.stat().st_size
        print(f"a generated day of {args.receipts:,} receipts ({size / 1e6:.1f} MB JSON Lines), "
              f"booked {args.runs} times, each in a fresh process:")
        runs = []
        for _ in range(args.runs):
            out = subprocess.run([sys.executable, __file__, "--measure", str(day), "--receipts", str(args.receipts),
                                  "--rules", str(args.rules)], check=True, capture_output=True, text=True).stdout
            run = json.loads(out)
            runs.append(run)
            print(f"  {run['elapsed']:.2f} s: {args.receipts / run['elapsed']:,.0f} receipts/s "
                  f"({args.receipts / run['cpu']:,.0f} receipts per CPU second); {run['entries']} entries, "
                  f"peak memory {run['peak_mb']:.0f} MB (before booking {run['base_mb']:.0f} MB); "
                  f"{run['rules']:,} rules compiled in {run['compile']:.2f} s")
    print(f"median: {args.receipts / statistics.median(r['elapsed'] for r in runs):,.0f} receipts/s, "
          f"peak memory {max(r['peak_mb'] for r in runs):.0f} MB, "
          f"{runs[0]['rules']:,} rules compiled in {statistics.median(r['compile'] for r in runs):.2f} s")


if __name__ == "__main__":
    sys.exit(main())
