"""The ledger's invariants under random arrival orders, duplicates, changes and late receipts.

After every final run:
- every receipt ever seen has exactly one row, in exactly one status, and that status is the
  one the model of process.py's rules predicts;
- the sum of every booked entry equals booking the receipts' booked contents from scratch
  (corrections plus originals = the corrected books), and every entry balances;
- entries booked earlier are unchanged (immutability), and a receipt with nothing booked
  has legs that net to zero.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import ledgers

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tillpost.api import load_rules
from tillpost.ledger.process import content_of
from test_ledger import BAKERY, ledger_nets, receipt, run, scratch_nets, stored_entries

RULES = load_rules(BAKERY)
IDS = [f"AMS01-K1-{n}" for n in range(1, 6)] + ["AMS01-K2-7"]


def version(rid: str, v: str) -> dict:
    number = rid.rsplit("-", 1)[-1]
    register = rid.split("-")[1]
    base = dict(number=number, register=register)
    if rid.endswith("K2-7"):
        base["method"] = "invoice"
    return {
        "a": lambda: receipt(rid, amount="3.25", **base),
        "a2": lambda: receipt(rid, amount="3.25", created="2026-11-22T07:00:00+01:00", **base),  # same books
        "b": lambda: receipt(rid, amount="4.10", **({"method": "pin"} | base)),
        "c": lambda: receipt(rid, amount="2.00", date="2026-11-21", **base),  # moved to the next day
        "open": lambda: receipt(rid, status="open", **base),
        "voided": lambda: receipt(rid, status="voided", **base),
        "broken": lambda: receipt(rid, paid="0.01", **base),  # payments do not match the total
        "invalid": lambda: {"id": rid, "store": "AMS01", "date": "2026-11-20"},  # breaks the schema
    }[v]()


arrivals = st.lists(  # runs of receipts: (id, version), ids may repeat within a run
    st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(["a", "a2", "b", "c", "open", "voided", "broken", "invalid"])),
             min_size=1, max_size=6),
    min_size=1, max_size=5)


def digest(obj) -> str:
    return hashlib.sha256(content_of(obj).encode()).hexdigest()


# The same property on both backends; PostgreSQL, slower per example, with fewer of them.
EXAMPLES = {"sqlite": 100, "postgresql": 30}


def test_every_receipt_has_one_status_and_the_books_equal_booking_from_scratch(new_db, backend):
    @settings(max_examples=EXAMPLES[backend], deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(runs=arrivals)
    def check(runs):
        arrive(new_db(), runs)

    check()


def arrive(db, runs):
    model: dict[str, dict] = {}  # id → hash, status, booked (the content whose booking stands)
    regular: set = set()  # the groups (day/store, or an invoice's id) with a regular entry booked
    previous_entries: list = []
    for batch in runs:
        receipts = [version(rid, v) for rid, v in batch]
        counts = {}
        for r in receipts:
            counts[r["id"]] = counts.get(r["id"], 0) + 1
        booked_now = set()
        first = {}
        for r in receipts:
            first.setdefault(r["id"], r)
        for rid, r in first.items():
            m = model.get(rid)
            h = digest(r)
            booked = m["booked"] if m else None
            if counts[rid] == 1 and m and m["hash"] == h and m["status"] != "error":
                continue
            if counts[rid] == 1 and booked is not None and digest(booked) == h:
                # back to the content that is booked: its status again, nothing booked
                model[rid] = {"hash": h, "status": m["booked_as"], "booked": booked, "booked_as": m["booked_as"]}
                continue
            booked_as = m["booked_as"] if m else None
            if counts[rid] > 1 or "lines" not in r or r["payments"][0]["amount"] == "0.01":
                status = "error"
            elif r["status"] == "completed":
                group = rid if r["payments"][0]["method"] == "invoice" else (r["date"], r["store"])
                if booked and scratch_nets(RULES, [booked]) == scratch_nets(RULES, [r]):
                    status = booked_as  # other content, the same books: nothing to correct
                elif booked:
                    status = "changed"
                else:  # late when its group's entry was booked by an earlier run
                    status = "late" if group in regular else "booked"
                    booked_now.add(group)
                booked, booked_as = r, status
            elif r["status"] == "open":
                status = "error" if booked else "open"
            else:
                status, booked, booked_as = "voided", None, None
            model[rid] = {"hash": h, "status": status, "booked": booked, "booked_as": booked_as}

        run(RULES, db, receipts)
        regular |= booked_now

        rows = ledgers.query(db, "SELECT id, status, booked_as FROM receipts")
        entries = [(e["id"], e) for e in stored_entries(db)]
        postings = ledgers.query(db, "SELECT r.id, p.legs FROM postings p JOIN receipts r ON r.pk = p.receipt "
                                     "AND r.client = p.client")

        # One row per receipt ever seen, one status each, the status the rules predict.
        assert sorted(r[0] for r in rows) == sorted(model)
        for rid, status, booked in rows:
            assert status == model[rid]["status"], (rid, status, model[rid])
            assert booked == model[rid]["booked_as"], (rid, booked, model[rid])

        # Immutability: what was booked before is still there, unchanged.
        assert entries[: len(previous_entries)] == previous_entries
        previous_entries = entries
        for _, e in entries:
            assert sum(Decimal(l["debit"]) for l in e["lines"]) == sum(Decimal(l["credit"]) for l in e["lines"])

        # Corrections + originals = the booked contents booked from scratch.
        standing = [m["booked"] for m in model.values() if m["booked"] is not None]
        assert ledger_nets(db) == scratch_nets(RULES, standing)

        # A receipt with nothing booked nets to zero in every entry.
        per_receipt: dict = {}
        for rid, legs in postings:
            for g in json.loads(legs):
                for a, d, v, amount in g["l"]:
                    k = (rid, g["j"], g["k"], a, d, v)
                    per_receipt[k] = per_receipt.get(k, Decimal(0)) + Decimal(amount)
        for (rid, *_), amount in per_receipt.items():
            if model[rid]["booked"] is None:
                assert amount == 0, rid
