"""Till closings in the ledger (SPEC §11), on both backends: booked once and immutable, a changed closing
corrected by reversal and rebooking, a late one in a supplement, and per register and day the receipts
seen reconciled with what the POS counted."""

from __future__ import annotations

import json

import pytest

from test_ledger import BAKERY, DAY, dump, ledger_nets, run, statuses, tp
from tillpost.api import book, load_rules

ALL = json.loads(DAY.read_text())
RECEIPTS = [r for r in ALL if r.get("type") != "closing"]
CLOSINGS = {r["id"]: r for r in ALL if r.get("type") == "closing"}
K1, K2 = "AMS01-K1-2026-11-20", "AMS01-K2-2026-11-20"


@pytest.fixture(scope="module")
def rules():
    return load_rules(BAKERY)


def day_status(db, day="2026-11-20", shop="AMS01") -> dict:
    report = json.loads(tp("status", "--db", db, "--date", day, "--format", "json").stdout)
    return next(d for d in report["days"] if d["store"] == shop)


def register(day: dict, name: str) -> dict:
    return next(r for r in day["registers"] if r["register"] == name)


def method(reg: dict, name: str) -> dict:
    return next(m for m in reg["methods"] if m["method"] == name)


def closing_nets(rules, documents) -> dict:
    """What `book` books of receipts and closings from scratch, netted like ledger_nets."""
    result = book(rules, list(documents))
    nets: dict = {}
    for e in result.entries:
        for l in e.lines:
            k = (e.journal, e.mode, e.key, l.account, l.debtor, l.vat)
            nets[k] = nets.get(k, 0) + l.debit - l.credit
    return {k: v for k, v in nets.items() if v}


def test_a_day_with_its_closings_reconciles_per_register_and_method(db, rules):
    result = run(rules, db, ALL)
    assert {c.key[1]: c.status for c in result.changes if c.kind == "closing"} == {K1: "booked",
                                                                                          K2: "booked"}
    assert ledger_nets(db) == closing_nets(rules, [r for r in ALL if r.get("status") != "open"])
    d = day_status(db)
    k1 = register(d, "K1")
    assert (k1["closing"], k1["status"], k1["complete"], k1["missing"]) == (K1, "booked", True, "0.00")
    cash = method(k1, "cash")
    assert {k: cash[k] for k in ("expected", "counted", "difference", "float", "movements", "receipts",
                                 "pos_receipts", "reconciliation")} == {
        "expected": "105.55", "counted": "103.55", "difference": "-2.00", "float": "200.00",
        "movements": "-118.50", "receipts": "24.05", "pos_receipts": "24.05", "reconciliation": "0.00"}
    # The counted shortage is booked, and does not make the day incomplete; the open receipt does.
    assert not d["complete"] and d["counts"]["open"] == 1
    assert register(d, "K2")["complete"]


def test_a_receipt_missing_from_the_input_is_flagged_by_its_registers_closing(db, rules):
    missing = next(r for r in RECEIPTS if r["id"] == "AMS01-K1-1001")  # 9.30 cash
    run(rules, db, [r for r in ALL if r is not missing and r.get("status") != "open"])
    d = day_status(db)
    k1 = register(d, "K1")
    assert not k1["complete"] and k1["missing"] == "9.30"
    assert method(k1, "cash")["reconciliation"] == "-9.30" and method(k1, "pin")["reconciliation"] == "0.00"
    assert not d["complete"]
    table = tp("status", "--db", db, "--date", "2026-11-20").stdout
    assert "register K1 closing AMS01-K1-2026-11-20: 9.30 missing" in table
    assert "1 register(s) not reconciled" in table
    # The receipt arrives late: the register reconciles, and its day no longer lacks it.
    run(rules, db, [missing])
    k1 = register(day_status(db), "K1")
    assert k1["complete"] and k1["missing"] == "0.00"


def test_a_changed_closing_is_reversed_and_rebooked_and_a_late_one_goes_in_a_supplement(db, rules):
    run(rules, db, RECEIPTS)  # the day first, without closings
    late = run(rules, db, [CLOSINGS[K1]])
    kinds = {(e["kind"], e["journal"]) for e in late.entries}
    assert kinds == {("supplement", "KAS")}
    assert statuses(db)[K1] == "late"
    recount = dict(CLOSINGS[K1], counts=[{"method": "cash", "expected": "105.55", "counted": "105.55"},
                                         {"method": "pin", "expected": "16.45", "counted": "16.45"}])
    changed = run(rules, db, [recount])
    assert sorted((e["kind"], e["journal"]) for e in changed.entries) == [("rebooking", "KAS"), ("reversal", "KAS")]
    assert statuses(db)[K1] == "changed"
    # Originals plus corrections equal booking the day and the recounted closing from scratch.
    assert ledger_nets(db) == closing_nets(rules, [r for r in RECEIPTS if r.get("status") != "open"] + [recount])
    # The same closing again books nothing.
    before = dump(db)
    assert run(rules, db, [recount]).entries == []
    assert dump(db)["entries"] == before["entries"]


def test_two_closings_of_one_register_and_day_are_errors_and_nothing_of_them_is_booked(db, rules):
    again = dict(CLOSINGS[K1], id="AMS01-K1-again")
    result = run(rules, db, RECEIPTS + [CLOSINGS[K1], again])
    errors = {c.key[1]: c.reason for c in result.changes if c.kind == "closing"}
    assert set(errors) == {K1, "AMS01-K1-again"}
    assert all("closed more than once on 2026-11-20" in r for r in errors.values())
    assert statuses(db)[K1] == "error"
    assert not any(e.get("closings") for e in result.entries)
    # Booked once, a closing of the same register and day under another id is refused.
    run(rules, db, [CLOSINGS[K1]])
    assert statuses(db)[K1] == "late"
    later = run(rules, db, [dict(CLOSINGS[K1], id="AMS01-K1-later")])
    (change,) = later.changes
    assert change.status == "error" and "was closed on 2026-11-20 already, by AMS01-K1-2026-11-20" in change.reason


def test_bad_closings_are_errors_that_name_them_and_the_day_is_booked(db, rules):
    bad = [dict(CLOSINGS[K1], currency="USD"),
           dict(CLOSINGS[K2], counts=[{"method": "ideal", "expected": "1.00", "counted": "1.00"}])]
    result = tp_process(db, RECEIPTS + bad)
    assert result.exit_code == 1
    assert f"error: closing {K1}: currency USD is not the rule file's EUR" in result.stderr
    assert f"error: closing {K2}: counts[0] counts method 'ideal', which the rule file does not declare" \
        in result.stderr
    st = statuses(db)
    assert st[K1] == st[K2] == "error" and st["AMS01-K1-1001"] == "booked"
    d = day_status(db)
    assert register(d, "K1")["status"] == "error" and not register(d, "K1")["complete"]
    assert "currency USD" in register(d, "K1")["reason"]


def tp_process(db, documents, *args):
    import os
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(documents, f)
    try:
        return tp("process", BAKERY, f.name, "--db", db, "--final", "--format", "summary", *args)
    finally:
        os.unlink(f.name)


def test_a_closing_in_error_waits_and_is_retried_after_the_rule_file_is_fixed(db, rules, tmp_path):
    odd = dict(CLOSINGS[K1], movements=CLOSINGS[K1]["movements"] + [
        {"kind": "payin", "method": "cash", "amount": "50.00", "reason": "Wisselgeld"}])
    nopayin = tmp_path / "nopayin.rules"
    nopayin.write_text("\n".join(line for line in BAKERY.read_text().splitlines()
                                 if "movement kind=payin" not in line) + "\n")
    assert "movement kind=payin" in BAKERY.read_text() and "movement kind=payin" not in nopayin.read_text()
    first = tp("process", nopayin, "-", "--db", db, "--final", input=json.dumps(RECEIPTS + [odd]))
    assert first.exit_code == 1 and f"error: closing {K1}: no rule matches the fact movement" in first.stderr
    assert statuses(db)[K1] == "error"
    retried = tp("process", BAKERY, "--db", db, "--final", "--retry-errors", "--format", "summary")
    assert retried.exit_code == 0, retried.stderr
    assert "1 till closing(s) booked, 0 in error" in retried.stderr
    assert statuses(db)[K1] == "late"


def test_a_closing_for_a_day_without_receipts_is_shown_and_a_store_that_closes_must_close_each_register(
        db, rules):
    quiet = dict(CLOSINGS[K2], id="AMS01-K2-2026-11-21", date="2026-11-21",
                 counts=[{"method": "cash", "expected": "100.00", "counted": "100.00"}])
    run(rules, db, ALL + [quiet])
    d = day_status(db, "2026-11-21")
    assert d["receipts"] == 0 and register(d, "K2")["complete"] and d["complete"]
    # K1 sells on the 21st and is not closed: a store that sends closings closes every register.
    from test_ledger import receipt

    run(rules, db, [receipt("AMS01-K1-2001", number="2001", date="2026-11-21")])
    d = day_status(db, "2026-11-21")
    k1 = register(d, "K1")
    assert (k1["closed"], k1["status"], k1["complete"]) == (False, "not closed", False) and not d["complete"]
    assert "register K1: not closed (no till closing)" in tp("status", "--db", db, "--date", "2026-11-21").stdout
    # The webshop closes no register and is not held to it.
    assert day_status(db, shop="WEB")["complete"]


def test_every_document_has_one_status_and_the_counts_add_up(db, rules):
    run(rules, db, ALL)
    rows = statuses(db)
    assert len(rows) == len(RECEIPTS) + len(CLOSINGS)
    report = json.loads(tp("status", "--db", db, "--format", "json").stdout)
    assert report["receipts"] == len(RECEIPTS)  # closings are counted per register, not as receipts
    closings = [r for d in report["days"] for r in d["registers"] if r["closed"]]
    assert sorted(r["closing"] for r in closings) == sorted(CLOSINGS)
