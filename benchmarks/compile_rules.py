"""Benchmark: compile time of rule files that grow in each of the shapes that once made it explode.

    python benchmarks/compile_rules.py [--steps 5] [--budget 30] [--shape NAME …]

For each shape it writes rule files of growing size n (doubling) to a scratch
rules folder, compiles each as `tillpost check` does (compile, then format the
diagnostics), and prints the file size, the compile time (CPU seconds: on a
shared machine wall time is mostly the neighbours'), the time per kB and the
size of the diagnostics. Compile time must grow linearly with the file: the
µs/kB column stays flat. A step that takes longer than --budget seconds ends its
shape. Not a test: the figures depend on the machine.

The shapes:
- rules: n rules `when sale category=cX store=SY` on the bakery's chart (the
  10,000-rule file of benchmarks/book_day.py is n = 10,000);
- accounts: n account declarations;
- in-lists: two rules with `in` lists of n values on four attributes;
- includes: n levels of includes, each level two files that both include both
  files of the next level (2^n paths to the last file);
- overlaps: n rules per category and per store, with a rule for each overlap;
- covered: √n rules per category and per store, and a rule for each of their n overlaps;
- repeated: one rule with n copies of the same condition (n − 1 errors);
- long-line: all n statements of a valid file on one line, then 50 syntax errors.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
from pathlib import Path

from tillpost.engine.compiler import compile_file

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules" / "examples"
BAKERY = (EXAMPLES / "bakery.rules").read_text(encoding="utf-8")


def shape_rules(folder: Path, n: int) -> Path:
    out = [BAKERY]
    for i in range(n):
        out.append(f"when sale category=c{i % 100:02d} store=S{i // 100:03d} post VRK debiteuren -> omzet")
    return _write(folder / "client.rules", "\n".join(out))


def shape_accounts(folder: Path, n: int) -> Path:
    out = [BAKERY] + [f'account a{i} {100000 + i} "Rekening {i}"' for i in range(n)]
    return _write(folder / "client.rules", "\n".join(out))


def shape_in_lists(folder: Path, n: int) -> Path:
    def values(prefix: str) -> str:
        return "(" + ", ".join(f"{prefix}{i}" for i in range(n)) + ")"

    conditions = " ".join(f"{a} in {values(a[0])}" for a in ("store", "register", "category", "sku"))
    out = [BAKERY,
           f"when sale {conditions} post VRK debiteuren -> omzet_web",
           f"when sale {conditions} source=web post VRK debiteuren -> omzet_brood"]
    return _write(folder / "client.rules", "\n".join(out))


def shape_includes(folder: Path, n: int) -> Path:
    _write(folder / f"l{n}a.rules", BAKERY)
    _write(folder / f"l{n}b.rules", "# the other file of the last level\n")
    for level in range(n - 1, 0, -1):
        for side in "ab":
            _write(folder / f"l{level}{side}.rules",
                   f'include "l{level + 1}a.rules"\ninclude "l{level + 1}b.rules"\n')
    return _write(folder / "client.rules", 'include "l1a.rules"\ninclude "l1b.rules"\n')


def shape_overlaps(folder: Path, n: int) -> Path:
    out = [BAKERY]
    for i in range(n):
        out.append(f"when sale category=k{i} post VRK debiteuren -> omzet_brood")
        out.append(f"when sale store=T{i} post VRK debiteuren -> omzet_web")
    # Every category rule meets every store rule: only the first ten of each are covered, so
    # the file is ambiguous and the check stops after its first fifty conflicts.
    for i in range(min(n, 10)):
        for j in range(min(n, 10)):
            out.append(f"when sale category=k{i} store=T{j} post VRK debiteuren -> omzet")
    return _write(folder / "client.rules", "\n".join(out))


def shape_covered(folder: Path, n: int) -> Path:
    k = math.isqrt(n)  # k categories and k stores, each pair settled by a rule for its overlap
    out = [BAKERY.replace("when sale category=brood", "# when sale category=brood")]
    for i in range(k):
        out.append(f"when sale category=k{i} post VRK debiteuren -> omzet_brood")
        out.append(f"when sale store=T{i} post VRK debiteuren -> omzet_web")
    out += [f"when sale category=k{i} store=T{j} post VRK debiteuren -> omzet" for i in range(k) for j in range(k)]
    return _write(folder / "client.rules", "\n".join(out))


def shape_repeated(folder: Path, n: int) -> Path:
    return _write(folder / "client.rules", BAKERY + "\nwhen sale " + "store=A " * n + "post VRK debiteuren -> omzet\n")


def shape_long_line(folder: Path, n: int) -> Path:
    bad = "\n".join(f"account broken{i}" for i in range(50))
    statements = [re.sub(r"#[^\n]*", "", BAKERY).replace("\n", " ")]  # a comment would end the line
    statements += [f"when sale category=c{i} post VRK debiteuren -> omzet" for i in range(n)]
    return _write(folder / "client.rules", " ".join(statements) + "\n" + bad + "\n")


SHAPES = {
    "rules": (shape_rules, 1250), "accounts": (shape_accounts, 2500), "in-lists": (shape_in_lists, 5),
    "includes": (shape_includes, 3), "overlaps": (shape_overlaps, 250), "covered": (shape_covered, 625),
    "repeated": (shape_repeated, 1250),
    "long-line": (shape_long_line, 2500),
}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def measure(make, folder: Path, n: int) -> dict:
    main = make(folder, n)
    size = sum(p.stat().st_size for p in folder.glob("*.rules"))
    start = time.process_time()
    ruleset, diagnostics = compile_file(main)
    shown = diagnostics.format()
    elapsed = time.process_time() - start
    return {"n": n, "kb": size / 1e3, "seconds": elapsed, "diagnostics": len(diagnostics.items),
            "shown_kb": len(shown) / 1e3, "ok": ruleset is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="sizes per shape, each twice the one before")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds a step may take before its shape stops")
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), help="only these shapes")
    args = parser.parse_args()
    from tillpost.engine.syntax import parser as lark_parser

    lark_parser()  # built (or loaded) once, outside the figures
    print(f"{'shape':<10} {'n':>7} {'file kB':>9} {'CPU s':>10} {'µs/kB':>8} {'diagnostics':>12} {'shown kB':>9}")
    for name in args.shape or SHAPES:
        make, n = SHAPES[name]
        for _ in range(args.steps):
            with tempfile.TemporaryDirectory() as tmp:
                run = measure(make, Path(tmp) / "rules", n)
            print(f"{name:<10} {run['n']:>7,} {run['kb']:>9,.0f} {run['seconds']:>10.3f} "
                  f"{run['seconds'] * 1e6 / run['kb']:>8,.0f} {run['diagnostics']:>12,} {run['shown_kb']:>9,.0f}",
                  flush=True)
            if run["seconds"] > args.budget:
                print(f"{name:<10} stopped: a step took more than {args.budget:.0f} s")
                break
            n *= 2


if __name__ == "__main__":
    sys.exit(main())
