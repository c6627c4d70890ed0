"""Chart: throughput and peak memory of `book` against the number of receipts.

    python benchmarks/chart.py [--sizes 10000,50000,100000,200000] [--out docs/performance.svg]

For each size it generates the bike shop's mixed day (mixed_day.py) and the
bakery's day (book_day.py), books each in a fresh process (read, book,
canonical JSON, as `tillpost book` does) and measures the bare `json.loads`
loop on the mixed day, then draws receipts per CPU second and peak memory
against the number of receipts as an SVG (no plotting library needed) and
prints the table it drew. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import book_day  # noqa: E402
import mixed_day  # noqa: E402

SERIES = [("mixed", "bike shop, mixed day", "#c0392b"), ("bakery", "bakery, turnover day", "#2471a3"),
          ("bare", "goal: ¼ of a bare json.loads loop", "#7f8c8d")]


def measure(rules: str, day: str) -> dict:
    import resource
    import time

    from tillpost.api import book, compile_file, read_input

    ruleset = compile_file(rules)[0]
    cpu = time.process_time()
    result = book(ruleset, read_input(day))
    for _ in mixed_day.to_json_chunks(result, ruleset, __import__("tillpost.api").api.to_json):
        pass
    return {"cpu": time.process_time() - cpu, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def fresh(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def _nice(x: float) -> float:
    """The tick step for a scale: 1, 2 or 5 times a power of ten, at least x."""
    import math

    power = 10 ** math.floor(math.log10(x))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= x)


def svg(rows: list[dict]) -> str:
    """Two panels, log-scaled x: receipts per CPU second, and peak memory in MB."""
    import math

    width, height, pad = 360, 240, 48
    sizes = [r["n"] for r in rows]
    lo, hi = math.log10(min(sizes)), math.log10(max(sizes))

    def x(n: float) -> float:
        return pad + (math.log10(n) - lo) / ((hi - lo) or 1) * (width - pad - 16)

    def panel(ox: int, title: str, key: str, limit: float | None) -> list[str]:
        values = [r[s][key] / (4 if s == "bare" and key == "rate" else 1) for r in rows for s, _, _ in SERIES
                  if s in r and (key == "rate" or s != "bare")]
        step = _nice(max(values + ([limit] if limit else [])) / 4)
        top = step * 5

        def y(v: float) -> float:
            return height - pad + 8 - v / top * (height - pad - 24)

        out = [f'<g transform="translate({ox},0)">',
               f'<text x="{width / 2}" y="16" text-anchor="middle" font-weight="bold">{escape(title)}</text>',
               f'<line x1="{pad}" y1="{y(0)}" x2="{width - 16}" y2="{y(0)}" stroke="#333"/>',
               f'<line x1="{pad}" y1="{y(0)}" x2="{pad}" y2="24" stroke="#333"/>']
        for n in sizes:
            out.append(f'<text x="{x(n)}" y="{y(0) + 16}" text-anchor="middle">{n // 1000}k</text>')
        for i in range(6):
            v = step * i
            out.append(f'<text x="{pad - 4}" y="{y(v) + 4}" text-anchor="end">{v:,.0f}</text>')
        if limit:
            out.append(f'<line x1="{pad}" y1="{y(limit)}" x2="{width - 16}" y2="{y(limit)}" stroke="#999" '
                       f'stroke-dasharray="4 3"/><text x="{width - 18}" y="{y(limit) - 4}" text-anchor="end" '
                       f'fill="#666">{limit:.0f} MB goal</text>')
        for name, _, colour in SERIES:
            if name == "bare" and key != "rate":
                continue
            points = [(x(r["n"]), y(r[name][key] / (4 if name == "bare" else 1))) for r in rows if name in r]
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                       + " ".join(f"{px:.1f},{py:.1f}" for px, py in points) + '"/>')
            out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in points]
        out.append(f'<text x="{width / 2}" y="{height - 4}" text-anchor="middle">receipts in the input</text>')
        return out + ["</g>"]

    body = panel(0, "receipts per CPU second", "rate", None) + panel(width, "peak memory (MB)", "peak_mb", 250)
    legend = [f'<g transform="translate({pad + i * 230},{height + 14})"><rect width="12" height="4" y="-4" '
              f'fill="{colour}"/><text x="16" y="0">{escape(label)}</text></g>' for i, (_, label, colour)
              in enumerate(SERIES)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width}" height="{height + 24}" '
            f'font-family="sans-serif" font-size="11">\n' + "\n".join(body + legend) + "\n</svg>\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000,200000")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "performance.svg")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--bare", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    if args.bare:
        print(json.dumps(mixed_day.measure_bare(Path(args.bare))))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            mixed, bakery = Path(tmp) / f"mixed{n}.jsonl", Path(tmp) / f"bakery{n}.jsonl"
            mixed_day.generate_day(n, mixed)
            book_day.generate_day(n, bakery)
            row = {"n": n}
            for name, rules, day in (("mixed", mixed_day.RULES, mixed), ("bakery", book_day.EXAMPLES / "bakery.rules",
                                                                        bakery)):
                m = fresh(["--measure", str(rules), str(day)])
                row[name] = {"rate": n / m["cpu"], "peak_mb": m["peak_mb"]}
            b = fresh(["--bare", str(mixed)])
            row["bare"] = {"rate": n / b["cpu"], "peak_mb": b["peak_mb"]}
            rows.append(row)
            print(f"{n:>8,} receipts: mixed {row['mixed']['rate']:>8,.0f}/CPU s {row['mixed']['peak_mb']:>5.0f} MB"
                  f" | bakery {row['bakery']['rate']:>8,.0f}/CPU s {row['bakery']['peak_mb']:>5.0f} MB"
                  f" | bare loop {row['bare']['rate']:>8,.0f}/CPU s", flush=True)
            mixed.unlink()
            bakery.unlink()
    args.out.write_text(svg(rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
