"""The hot path's shortcuts keep their promises: memos (engine/memo.py) bounded and off when they
do not pay, booking the same either way; entries still proved balanced."""

from __future__ import annotations

from tillpost.api import book, compile_text
from tillpost.engine import receipts
from tillpost.engine.memo import Memo

from test_booking import RULES, line, receipt


def looked_up(memo: Memo, keys) -> int:
    hits = 0
    for key in keys:
        memo.lookups += 1
        if key in memo.table:
            hits += 1
        else:
            memo.add(key, str(key))
    return hits


def test_a_memo_that_hits_stays_on_and_keeps_what_it_learnt_first():
    memo = Memo(limit=10, probation=5)
    assert looked_up(memo, [k % 3 for k in range(100)]) == 97 and memo.on
    looked_up(memo, range(100, 200))
    assert memo.on and len(memo.table) == 10 and {0, 1, 2} <= set(memo.table)


def test_a_memo_that_misses_turns_itself_off_and_a_new_batch_retries_it():
    memo = Memo(limit=10, probation=5)
    looked_up(memo, range(5))
    assert not memo.on and not memo.table
    memo.retry()
    assert memo.on and memo.lookups == 0
    on = Memo(limit=10, probation=5)
    looked_up(on, [0, 0, 0, 0, 0, 0, 1, 2, 3, 4])  # 5 hits of 10 lookups: it pays
    assert on.on


def test_booking_is_the_same_whether_the_line_memo_is_on_or_off():
    rules = compile_text(RULES)[0]
    day = [receipt(f"R{i}", lines=[line("1", "12.10"), line(str(i % 3 + 1), "1.09", vat="low")],
                   payments=[{"method": "pin", "amount": f"{12.10 + 1.09 * (i % 3 + 1):.2f}"}]) for i in range(50)]
    on = book(rules, day)
    receipts._lines.on, receipts._lines.table = False, {}
    try:
        off = book(rules, day)  # a new batch retries it
        assert receipts._lines.on
        receipts._lines.on, receipts._lines.table = False, {}
        offs = [receipts.decode_receipt(b'{"id":"x","store":"S","date":"2026-11-20","status":"completed",'
                                        b'"currency":"EUR","prices_include_vat":true,"lines":[{"quantity":"1",'
                                        b'"unit_price":"1.00","vat":"high"}],"payments":[]}') for _ in range(2)]
        assert offs[0].lines[0] is not offs[1].lines[0]  # off: each line read anew
    finally:
        receipts._lines.retry()
    assert on == off and on.entries


def test_an_entry_that_does_not_balance_is_refused_as_a_bug():
    # Only a bug can unbalance an entry (both legs of a posting land in it): forge one, whose
    # half cents round apart, and the builder must refuse it rather than print it.
    from decimal import Decimal
    from types import SimpleNamespace

    import pytest

    from tillpost.engine.entries import EntryBuilder, UnbalancedEntry
    from tillpost.engine.postings import Booking, Stem

    rules = compile_text(RULES)[0]
    half = Decimal("0.005")
    stems = [Stem("VRK", ("1300", None, None), (account, None, None), None) for account in ("8000", "8010")]
    forged = Booking(SimpleNamespace(id="R1", date="2026-11-20"), "turnover", ("2026-11-20", "S1"),
                     [(stems[0], half), (stems[1], half)], rules)
    builder = EntryBuilder(rules)
    builder.add(forged)
    with pytest.raises(UnbalancedEntry):
        builder.entries()
