"""Benchmark: book a generated day of receipts from JSON Lines to the canonical JSON.

    python benchmarks/book_day.py [--receipts 100000] [--rules 10000]

Prints receipts per second (reading, schema check, facts, rules, entries and the
canonical JSON included) and the peak memory of the process, then the time to
compile a generated rule file of --rules rules. Not a test: figures depend on
the machine. The issue's bar: ≥ 50,000 receipts/s on one core, ≤ 250 MB peak,
a 10,000-rule file compiled in under 1 s.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=10_000)
    args = parser.parse_args()

    rules = compile_file(EXAMPLES / "bakery.rules")[0]
    with tempfile.TemporaryDirectory() as tmp:
        day = Path(tmp) / "day.jsonl"
        generate_day(args.receipts, day)
        size = day.stat().st_size
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start, cpu = time.perf_counter(), time.process_time()
        result = book(rules, read_input(str(day)))
        output = to_json(result, rules)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert not result.errors, result.errors[:3]
    print(f"booked {args.receipts:,} receipts ({size / 1e6:.1f} MB JSON Lines) into {len(result.entries)} entries "
          f"in {elapsed:.2f} s: {args.receipts / elapsed:,.0f} receipts/s "
          f"({args.receipts / cpu:,.0f} receipts per CPU second)")
    print(f"peak memory {peak / 1024:.0f} MB (before booking {base / 1024:.0f} MB); output {len(output) / 1e3:.0f} kB")

    text = generate_rules(args.rules)
    start = time.perf_counter()
    ruleset, diagnostics = compile_text(text, "generated.rules")
    elapsed = time.perf_counter() - start
    assert ruleset is not None, diagnostics.format()[:2000]
    print(f"compiled {len(ruleset.rules):,} rules in {elapsed:.2f} s")


if __name__ == "__main__":
    sys.exit(main())
