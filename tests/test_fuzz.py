"""Fuzzing the input: mutants of the example days and of the POS export fixtures, through the CLI.

A seeded mutator (deterministic: the same seed gives the same mutants) breaks the
bundled receipt days and POS exports in the ways tills, exports and people do —
amounts as NaN, Infinity, 4,301-digit integers, commas or 16 digits; nesting
deeper than a decoder goes; lone surrogates and terminal escapes in any text;
missing, misspelt and doubled keys; bytes that are not UTF-8, a byte order mark,
a truncated file — and books each mutant through `tillpost.cli.main`, the entry
point of the installed command. Whatever the input:

- the exit code is 0, 1 or 2, never 3 (an internal error);
- every entry balances;
- every receipt of a readable input is in exactly one list: an entry's receipts,
  `errors`, `open` or `voided` — or, booked, in entries that netted to zero and
  were dropped (SPEC §6), which the API's bookings show.

CI runs a bounded number of mutants. A longer campaign:

    TILLPOST_FUZZ_MUTANTS=5000 TILLPOST_FUZZ_SEED=7 pytest tests/test_fuzz.py
"""

from __future__ import annotations

import copy
import io
import json
import os
import random
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tillpost.api import book, load_rules, read_receipts
from tillpost.cli import main

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "src" / "tillpost" / "rules"
EXAMPLES = RULES_DIR / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sources"
MUTANTS = int(os.environ.get("TILLPOST_FUZZ_MUTANTS", "120"))
SEED = int(os.environ.get("TILLPOST_FUZZ_SEED", "20261120"))

DAYS = [  # (rule file, receipt day)
    (EXAMPLES / "bakery.rules", EXAMPLES / "bakery-day.json"),
    (EXAMPLES / "bakery.rules", EXAMPLES / "bakery-late.json"),
    (EXAMPLES / "restaurant.rules", EXAMPLES / "restaurant-day.json"),
    (EXAMPLES / "exact-globe.rules", EXAMPLES / "exact-globe.json"),
    *[(RULES_DIR / client / "client.rules", case) for client in ("bistro-zuid", "fietsen-devries")
      for case in sorted((RULES_DIR / client / "cases").glob("*.json"))],
]
POS = EXAMPLES / "pos-sources.rules"
EXPORTS = sorted(FIXTURES.glob("*.json")) + sorted(FIXTURES.glob("*.csv"))

# Values JSON (or what passes for it) can put anywhere. Raw JSON text that Python's json
# module cannot write is spliced in for a placeholder after the receipts are serialized.
RAW = {
    "@NAN@": "NaN", "@INF@": "-Infinity", "@BIGINT@": "1" + "0" * 4300, "@DEEP@": "[" * 1500 + "]" * 1500,
    "@SURROGATE@": '"caf\\ud800"', "@LOWSURROGATE@": '"\\udc00x"', "@HUGE@": "1e400", "@TINY@": "1e-999999999",
}
JUNK = [
    None, True, False, 0, -1, 1.5, [], {}, [1, 2], {"a": 1}, "", " ", "12,95", "1.234,56", "+3", "1e3", ".5",
    "999999999999999.99", "1000000000000000", "-999999999999999.99", "0", "-0", "0.001", "12.10",
    "2026-02-30", "21-11-2026", "2026-11-20", "2026-11-20T10:31:00+01:00", "yesterday", "completed", "open",
    "voided", "done", "EUR", "eur", "USD", "high", "low", "cash", "pin", "invoice", "bitcoin", "brood",
    "\x1b]0;pwned\x07", "[/]", "[bold]x", "\u202eevil", "\U0001F600", "x" * 300, "a\nb", "\x00",
    *RAW,
]
KEYS = ["id", "ID", "ammount", "amount", "lnes", "lines", "receipts", "quantity", "unit_price", "vat", "method",
        "extra", "customer", "debtor", "attributes", "cash_rounding", "status", "\x1b[2J"]


class Mutator:
    def __init__(self, seed: int):
        self.rnd = random.Random(seed)

    def pick(self, seq):
        return seq[self.rnd.randrange(len(seq))]

    def nodes(self, obj, path=()):
        """(container, key) of every value in obj, to mutate in place."""
        out = []
        if isinstance(obj, dict):
            for k in list(obj):
                out.append((obj, k))
                out.extend(self.nodes(obj[k]))
        elif isinstance(obj, list):
            for i in range(len(obj)):
                out.append((obj, i))
                out.extend(self.nodes(obj[i]))
        return out

    def mutate(self, doc, times: int):
        for _ in range(times):
            nodes = self.nodes(doc)
            if not nodes:
                return doc
            container, key = self.pick(nodes)
            action = self.rnd.random()
            if action < 0.5:
                container[key] = copy.deepcopy(self.pick(JUNK))
            elif action < 0.62 and isinstance(container, dict):
                del container[key]
            elif action < 0.74 and isinstance(container, dict):
                container[self.pick(KEYS)] = copy.deepcopy(self.pick(JUNK + [container[key]]))
            elif action < 0.82 and isinstance(container, list):
                container.append(copy.deepcopy(container[key]))  # a duplicate line, payment or receipt
            elif action < 0.9 and isinstance(container[key], str) and container[key][:1].isdigit():
                value = container[key]
                container[key] = "-" + value if not value.startswith("-") else value[1:]
            elif isinstance(container[key], (list, dict)) and container[key]:
                container[key] = type(container[key])()  # emptied
            else:
                container[key] = copy.deepcopy(self.pick(JUNK))
        return doc

    def text(self, value) -> str:
        text = json.dumps(value, ensure_ascii=self.rnd.random() < 0.5)
        for placeholder, raw in RAW.items():
            text = text.replace(json.dumps(placeholder), raw)
        return text

    def damage(self, data: bytes) -> bytes:
        """Byte-level damage, now and then: a BOM, a Windows-1252 byte, a cut."""
        roll = self.rnd.random()
        if roll < 0.05:
            return b"\xef\xbb\xbf" + data
        if roll < 0.08 and data:
            i = self.rnd.randrange(len(data))
            return data[:i] + b"\xe9" + data[i + 1:]
        if roll < 0.10 and data:
            return data[:self.rnd.randrange(len(data))]
        return data


def run(args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def check_journal(out: str, args) -> dict:
    journal = json.loads(out)
    for e in journal["entries"]:
        debit = sum(Decimal(l["debit"]) for l in e["lines"])
        credit = sum(Decimal(l["credit"]) for l in e["lines"])
        assert debit == credit, (args, e)
    assert all(err["message"] for err in journal["errors"]), args
    return journal


def listed(journal: dict) -> list[str]:
    """The receipts of the output, each time it is listed (till closings are listed apart)."""
    booked = {r for e in journal["entries"] for r in e["receipts"]}
    return (sorted(booked) + [e["receipt"] for e in journal["errors"] if "receipt" in e] + journal["open"]
            + journal["voided"])


def escaped(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def expected_ids(receipts: list, shape: str) -> list[str]:
    """Each receipt's id as `book` reports it: its own (lone surrogates written as \\udXXX), or
    its place `#n` when it has none — or, in JSON Lines, when it cannot be decoded at all."""
    if shape == "lines" and len(receipts) == 1:  # one line is one document: maybe an array, or `receipts`
        shape, only = "array", receipts[0]
        if isinstance(only, list):
            receipts = only
        elif isinstance(only, dict) and isinstance(only.get("receipts"), list):
            receipts = only["receipts"]
    ids = []
    for i, r in enumerate(receipts):
        if isinstance(r, dict) and r.get("type") == "closing":
            continue  # a till closing: reported among the closings (see closing_ids)
        if shape == "lines" and "@DEEP@" in json.dumps(r):
            ids.append(f"#{i + 1}")
            continue
        rid = r.get("id") if isinstance(r, dict) else None
        if isinstance(rid, str) and rid in RAW:
            rid = {"@SURROGATE@": "caf\\ud800", "@LOWSURROGATE@": "\\udc00x"}.get(rid)
        ids.append(escaped(rid) if isinstance(rid, str) and rid else f"#{i + 1}")
    return list(dict.fromkeys(ids))


def closing_ids(receipts: list) -> set[str]:
    """The till closings' ids. A closing that cannot be read as one (too deep, a lone surrogate)
    may be refused on the receipt path instead: then it is in `errors` as a receipt."""
    out = set()
    for r in receipts if isinstance(receipts, list) else []:
        if isinstance(r, dict) and r.get("type") == "closing" and isinstance(r.get("id"), str):
            rid = {"@SURROGATE@": "caf\\ud800", "@LOWSURROGATE@": "\\udc00x"}.get(r["id"], r["id"])
            out.add(escaped(rid))
    if len(receipts) == 1 and isinstance(receipts[0], (list, dict)):
        inner = receipts[0] if isinstance(receipts[0], list) else receipts[0].get("receipts")
        if isinstance(inner, list):
            out |= closing_ids(inner)
    return out


def netted_away(rules_path: Path, path: Path, missing: set[str]) -> set[str]:
    """Of the receipts in no list, those booked into entries that netted to zero (SPEC §6 drops them)."""
    if not missing:
        return set()
    rules = load_rules(rules_path)
    result = book(rules, read_receipts(str(path), rules), keep_bookings=True)
    entries = {(e.journal, e.mode, e.key) for e in result.entries}
    return {b.receipt.id for b in result.bookings if b.receipt.id in missing
            and all((s.journal, b.mode, "/".join(b.key)) not in entries for s, _ in b.postings)}


def receipt_mutants(seed: int, count: int):
    m = Mutator(seed)
    days = [(rules, json.loads(day.read_text(encoding="utf-8"))) for rules, day in DAYS]
    for n in range(count):
        rules, day = m.pick(days)
        receipts = m.mutate(copy.deepcopy(day), m.rnd.randint(1, 4))
        if not isinstance(receipts, list):
            receipts = [receipts]
        shape = m.pick(["array", "object", "lines", "lines"])
        if shape == "array":
            text = m.text(receipts)
        elif shape == "object":
            text = m.text({"receipts": receipts})
        else:
            text = "\n".join(m.text(r) for r in receipts) + "\n"
        whole = text.encode("utf-8", "surrogatepass")
        yield n, rules, receipts, shape, m.damage(whole), m.pick(["json", "json", "table", "explain", "process"]), whole


def test_receipt_mutants_never_crash_and_every_receipt_is_in_exactly_one_list(tmp_path):
    counts = {0: 0, 1: 0, 2: 0}
    for n, rules, receipts, shape, data, command, whole in receipt_mutants(SEED, MUTANTS):
        path = tmp_path / f"m{n}.{'jsonl' if shape == 'lines' else 'json'}"
        path.write_bytes(data)
        if command == "explain":
            args = ["explain", rules, path, "--receipt", "AMS01-K1-1001", "--receipt", "#2"]
        elif command == "process":
            args = ["process", rules, path, "--db", tmp_path / f"m{n}.sqlite", "--final", "--format", "summary"]
        else:
            args = ["book", rules, path, "--format", command]
        code, out, err = run(args)
        assert code in (0, 1, 2), (n, args, err[-2000:])
        assert "internal error" not in err and "Traceback" not in err, (n, args, err[-2000:])
        assert "\x1b" not in err, (n, args)
        counts[code] += 1
        if command != "json" or code == 2:
            continue
        journal = check_journal(out, args)
        ids = listed(journal)
        assert len(ids) == len(set(ids)), (n, "a receipt in two lists", args)
        wanted = set(expected_ids(receipts, shape))
        missing = wanted - set(ids)
        if len(data) < len(whole):
            missing = set()  # cut short where a line ends: the receipts after the cut are not in the input
        assert missing == netted_away(rules, path, missing), (n, args, sorted(missing))
        refused = {e["receipt"] for e in journal["errors"] if "receipt" in e}
        extra = set(ids) - wanted
        assert extra <= closing_ids(receipts) and extra <= refused, (n, args, sorted(extra))
    print(f"{MUTANTS} receipt mutants (seed {SEED}): exit 0 ×{counts[0]}, 1 ×{counts[1]}, 2 ×{counts[2]}")
    assert counts[0] + counts[1] > MUTANTS // 3, counts  # most mutants are readable


def export_mutants(seed: int, count: int):
    m = Mutator(seed)
    for n in range(count):
        fixture = m.pick(EXPORTS)
        data = fixture.read_bytes()
        files = {}
        if fixture.suffix == ".json":
            try:
                doc = m.mutate(json.loads(data), m.rnd.randint(1, 4))
                text = m.text(doc)
            except json.JSONDecodeError:  # JSON Lines: one record a line
                docs = m.mutate([json.loads(line) for line in data.splitlines() if line.strip()], m.rnd.randint(1, 4))
                text = "\n".join(m.text(d) for d in docs) + "\n"
            files[fixture.name] = m.damage(text.encode("utf-8", "surrogatepass"))
        else:
            rows = data.decode("utf-8").splitlines()
            delimiter = ";" if ";" in rows[0] else ","
            for _ in range(m.rnd.randint(1, 4)):
                r = m.rnd.randrange(len(rows))
                cells = rows[r].split(delimiter)
                c = m.rnd.randrange(len(cells))
                junk = m.pick(JUNK)
                cells[c] = junk if isinstance(junk, str) and junk not in RAW else json.dumps(junk)
                rows[r] = delimiter.join(cells)
                if m.rnd.random() < 0.1:
                    rows.insert(r, rows[r])
            files[fixture.name] = m.damage("\n".join(rows).encode("utf-8", "surrogatepass"))
            mapping = (fixture.with_suffix(".yaml")).read_text(encoding="utf-8")
            if m.rnd.random() < 0.3:
                mapping += m.pick(['\ndelimiter: ";;"\n', '\ndelimiter: "\\t"\n', '\ndelimiter: "\\n"\n',
                                   '\nquote: ";"\n', '\nencoding: "klingon"\n', '\ndecimal_separator: ","\n',
                                   "\nreceipt: []\n", "\n: :\n", '\ndate_format: "%Q"\n'])
            files[fixture.with_suffix(".yaml").name] = mapping.encode("utf-8")
        yield n, fixture, files


def test_pos_export_mutants_never_crash_and_every_entry_balances(tmp_path):
    counts = {0: 0, 1: 0, 2: 0}
    for n, fixture, files in export_mutants(SEED + 1, MUTANTS // 2):
        folder = tmp_path / f"m{n}"
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        args = ["book", POS, folder / fixture.name]
        code, out, err = run(args)
        assert code in (0, 1, 2), (n, fixture.name, err[-2000:])
        assert "internal error" not in err and "Traceback" not in err, (n, fixture.name, err[-2000:])
        counts[code] += 1
        if code != 2:
            ids = listed(check_journal(out, args))
            assert len(ids) == len(set(ids)), (n, fixture.name, "a receipt in two lists")
    print(f"{MUTANTS // 2} POS export mutants (seed {SEED + 1}): exit 0 ×{counts[0]}, 1 ×{counts[1]}, 2 ×{counts[2]}")
    assert counts[0] + counts[1] > 0, counts


@pytest.mark.parametrize("seed", [SEED])
def test_the_mutator_is_deterministic(seed):
    first = [(n, str(r), d) for n, r, _, _, d, _, _ in receipt_mutants(seed, 5)]
    assert first == [(n, str(r), d) for n, r, _, _, d, _, _ in receipt_mutants(seed, 5)]
