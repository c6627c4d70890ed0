"""Benchmark: a bike shop's mixed day, against hledger and a bare Python loop, in one run.

    python benchmarks/mixed_day.py [--receipts 100000] [--runs 3] [--bakery]

With --bakery the day is book_day.py's bakery day (almost all turnover, few distinct
lines) under rules/examples/bakery.rules, measured the same way: the two days side by
side show what a change does to each.

The bakery day (book_day.py) is almost all turnover. A real day is not: this one
invoices a third of its receipts one by one (to account customers with their own
debtor, and to a lease company as the fixed debtor), lines vary (1–4 a receipt,
quantities, discounts, five categories, three VAT rates, almost every line
distinct), and some receipts are open, voided or broken. The client's rule file
is benchmarks/bikeshop.rules.

Each measurement is a fresh process, run in turn in the same invocation so the
ratios compare like with like on a shared machine:

- tillpost: read the JSON Lines, book, write the canonical JSON (as `tillpost
  book` does), CPU seconds and peak memory;
- a bare loop: `json.loads` every line and sum its payments as Decimal — the
  least any Python program that reads these receipts must do;
- hledger (`hledger print` of the same receipts as one CSV row each, 5 rules):
  install it with `apt-get install hledger` (Debian); skipped when absent.

Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
RULES = HERE / "bikeshop.rules"
BAKERY_RULES = HERE.parent / "src" / "tillpost" / "rules" / "examples" / "bakery.rules"
CENT = Decimal("0.01")
RATES = {"high": Decimal(21), "low": Decimal(9), "zero": Decimal(0)}
# category, VAT name, price range in cents, whether it carries a cost price
CATEGORIES = [
    ("fietsen", "high", (39900, 189900), True),
    ("ebikes", "high", (149900, 429900), True),
    ("onderdelen", "high", (195, 12995), True),
    ("werkplaats", "high", (1250, 24500), False),
    ("accessoires", "high", (395, 14995), True),
    ("boeken", "low", (995, 3995), False),  # route books: 9 %
    ("export", "zero", (39900, 249900), True),  # shipped outside the EU: 0 %
]
CUSTOMERS = [(f"K{n:05d}", f"{20000 + n}", name) for n, name in enumerate(
    ["Jansen Bouw", "Fietskoerier Utrecht", "Gemeente Zeist", "De Vries & Zn", "Hotel Oranje", "Stichting Wiel",
     "Bakker Logistiek", "Pieters Installatie"] * 25)]


def _receipt(rnd: random.Random, i: int) -> dict:
    store = rnd.choice(["UTR01", "UTR01", "ZST02", "WEB"])
    lines, gross = [], Decimal(0)
    by_vat: dict[str, Decimal] = {}
    for _ in range(rnd.choice((1, 1, 2, 2, 3, 4))):
        category, vat, (low, high), costed = rnd.choice(CATEGORIES)
        price = Decimal(rnd.randint(low, high)) / 100
        qty = Decimal(rnd.choice((1, 1, 1, 2, 3, 5, 10))) if category in ("onderdelen", "accessoires") else Decimal(1)
        if category == "werkplaats" and rnd.random() < 0.5:
            qty = Decimal(rnd.choice(("0.25", "0.5", "0.75", "1.5", "2")))  # hours
        if rnd.random() < 0.04:
            qty = -qty  # a return
        line = {"sku": f"{category[:3].upper()}-{rnd.randint(1, 4000):04d}", "description": f"{category} {i}",
                "category": category, "quantity": str(qty), "unit_price": str(price), "vat": vat}
        amount = (qty * price).quantize(CENT, ROUND_HALF_UP)
        if rnd.random() < 0.15 and amount > 10:
            discount = (amount * Decimal(rnd.choice((5, 10, 15))) / 100).quantize(CENT, ROUND_HALF_UP)
            line["discount"] = str(discount)
            amount -= discount
        if costed:
            line["cost"] = str((price * Decimal("0.6")).quantize(CENT, ROUND_HALF_UP))
        lines.append(line)
        gross += amount
        by_vat[vat] = by_vat.get(vat, Decimal(0)) + amount
    r = {"id": f"{store}-{i}", "number": str(500000 + i), "source": "lightspeed-x", "store": store,
         "register": rnd.choice(["K1", "K2"]) if store != "WEB" else "WEB", "date": "2026-11-20",
         "created": f"2026-11-20T{9 + i % 9:02d}:{i % 60:02d}:00+01:00", "status": "completed", "currency": "EUR",
         "prices_include_vat": True, "lines": lines}
    r["vat"] = [{"name": name, "amount": str((amount * RATES[name] / (100 + RATES[name])).quantize(CENT, ROUND_HALF_UP))}
                for name, amount in by_vat.items() if RATES[name]]
    kind = rnd.random()
    if kind < 0.22:  # an account customer: invoiced on their own debtor
        cid, debtor, name = rnd.choice(CUSTOMERS)
        r["customer"] = {"id": cid, "debtor": debtor, "name": name}
        r["payments"] = [{"method": "invoice", "amount": str(gross)}]
    elif kind < 0.33:  # a lease bike: the lease company is invoiced
        r["customer"] = {"id": f"P{i}", "name": f"Werknemer {i}"}
        r["payments"] = [{"method": "lease", "amount": str(gross)}]
    elif kind < 0.48:
        paid = (gross / Decimal("0.05")).quantize(Decimal(1), ROUND_HALF_UP) * Decimal("0.05")
        r["payments"] = [{"method": "cash", "amount": str(paid)}]
        if paid != gross:
            r["cash_rounding"] = str(gross - paid)
    else:
        r["payments"] = [{"method": "pin", "amount": str(gross)}]
    odd = rnd.random()
    if odd < 0.02:
        r["status"] = "open"
    elif odd < 0.03:
        r["status"] = "voided"
    elif odd < 0.035:  # broken: paid less than the lines come to
        r["payments"][0]["amount"] = str(gross - 1)
    elif odd < 0.037:  # broken: a VAT name the rule file does not know
        lines[0]["vat"] = "reduced"
    return r


def generate_day(n: int, path: Path, seed: int = 7) -> None:
    """n receipts of the bike shop's day as JSON Lines."""
    rnd = random.Random(seed)
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps(_receipt(rnd, i)) + "\n")


def write_hledger_csv(day: Path, csv: Path) -> None:
    """The same receipts as hledger reads a bank or POS export: one row each, 5 rules."""
    with day.open() as src, csv.open("w") as out:
        out.write("date,id,store,method,amount\n")
        for line in src:
            r = json.loads(line)
            total = sum((Decimal(p["amount"]) for p in r["payments"]), Decimal(0))
            out.write(f"{r['date']},{r['id']},{r['store']},{r['payments'][0]['method']},{total}\n")
    csv.with_suffix(".csv.rules").write_text(
        "skip 1\nfields date, code, store, method, amount\ncurrency EUR \ndescription %store %code\n"
        "account1 assets:debtors\n"
        "if %method cash\n  account2 revenue:cash\n"
        "if %method pin\n  account2 revenue:pin\n"
        "if %method invoice\n  account2 revenue:invoice\n"
        "if %method lease\n  account2 revenue:lease\n")


def measure_tillpost(day: Path, rules: Path = RULES) -> dict:
    import resource

    from tillpost.api import book, compile_file, read_input, to_json

    ruleset = compile_file(rules)[0]
    wall, cpu = time.perf_counter(), time.process_time()
    result = book(ruleset, read_input(str(day)))
    size = 0
    for chunk in to_json_chunks(result, ruleset, to_json):
        size += len(chunk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall": wall, "cpu": cpu, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "entries": len(result.entries), "errors": len(result.errors), "open": len(result.open),
            "voided": len(result.voided), "output_mb": size / 1e6}


def to_json_chunks(result, ruleset, to_json):
    """The canonical JSON as `tillpost book` writes it: streamed when the engine can stream."""
    try:
        from tillpost.api import iter_json
    except ImportError:
        yield to_json(result, ruleset)
        return
    yield from iter_json(result, ruleset)


def measure_bare(day: Path) -> dict:
    import resource

    wall, cpu = time.perf_counter(), time.process_time()
    total = Decimal(0)
    with day.open("rb") as f:
        for line in f:
            for p in json.loads(line)["payments"]:
                total += Decimal(p["amount"])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall": wall, "cpu": cpu, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure_hledger(csv: Path) -> dict | None:
    hledger = shutil.which("hledger")
    if hledger is None:
        return None
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run([hledger, "-f", str(csv), "--rules-file", str(csv.with_suffix(".csv.rules")), "print"],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": wall, "cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            "peak_mb": after.ru_maxrss / 1024}


def in_fresh_process(what: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", what, str(path)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the medians as one JSON object")
    parser.add_argument("--bakery", action="store_true", help="book_day.py's bakery day instead of the bike shop's")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)  # one measurement, in a fresh process
    args = parser.parse_args()
    if args.measure:
        what, path = args.measure
        fn = {"tillpost": measure_tillpost, "bare": measure_bare, "hledger": measure_hledger,
              "tillpost-bakery": lambda day: measure_tillpost(day, BAKERY_RULES)}[what]
        print(json.dumps(fn(Path(path))))
        return

    n = args.receipts
    with tempfile.TemporaryDirectory() as tmp:
        day = Path(tmp) / "day.jsonl"
        if args.bakery:
            sys.path.insert(0, str(HERE))
            from book_day import generate_day as generate_bakery_day

            generate_bakery_day(n, day)
        else:
            generate_day(n, day)
        csv = Path(tmp) / "day.csv"
        write_hledger_csv(day, csv)
        if not args.json:
            day_of = "a bakery's day" if args.bakery else "a bike shop's mixed day"
            print(f"{day_of} of {n:,} receipts ({day.stat().st_size / 1e6:.1f} MB JSON Lines), "
                  f"{args.runs} rounds, each measurement a fresh process:")
        rounds = []
        for _ in range(args.runs):
            t = in_fresh_process("tillpost-bakery" if args.bakery else "tillpost", day)
            b = in_fresh_process("bare", day)
            h = in_fresh_process("hledger", csv)
            rounds.append((t, b, h))
            if not args.json:
                line = (f"  tillpost {n / t['cpu']:,.0f} receipts/CPU s, peak {t['peak_mb']:.0f} MB; "
                        f"bare loop {n / b['cpu']:,.0f}/s: {b['cpu'] / t['cpu']:.2f} of it")
                if h:
                    line += f"; hledger {n / h['cpu']:,.0f} rows/s: {h['cpu'] / t['cpu']:.1f}×"
                print(line)
        t0 = rounds[0][0]
        summary = {
            "receipts": n,
            "tillpost_per_cpu_s": statistics.median(n / t["cpu"] for t, _, _ in rounds),
            "tillpost_per_wall_s": statistics.median(n / t["wall"] for t, _, _ in rounds),
            "peak_mb": max(t["peak_mb"] for t, _, _ in rounds),
            "of_bare_loop": statistics.median(b["cpu"] / t["cpu"] for t, b, _ in rounds),
            "times_hledger": statistics.median(h["cpu"] / t["cpu"] for t, _, h in rounds) if rounds[0][2] else None,
            "entries": t0["entries"], "errors": t0["errors"], "open": t0["open"], "voided": t0["voided"],
        }
        if args.json:
            print(json.dumps(summary))
            return
        print(f"median: {summary['tillpost_per_cpu_s']:,.0f} receipts/CPU s, {summary['of_bare_loop']:.2f} of the "
              f"bare loop" + (f", {summary['times_hledger']:.1f}× hledger" if summary["times_hledger"] else
                             " (hledger not installed: apt-get install hledger)")
              + f"; peak {summary['peak_mb']:.0f} MB; {t0['entries']:,} entries, {t0['errors']} errors, "
              f"{t0['open']} open, {t0['voided']} voided")


if __name__ == "__main__":
    main()
