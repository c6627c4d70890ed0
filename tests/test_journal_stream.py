"""The canonical JSON written in chunks (`iter_json`) is orjson's text of `canonical`, byte for byte."""

from __future__ import annotations

import orjson
import pytest

from tillpost.api import book, canonical, compile_text, iter_json, to_json

from test_booking import RULES, line, receipt


@pytest.fixture(scope="module")
def rules():
    ruleset, d = compile_text(RULES)
    assert ruleset is not None, d.format()
    return ruleset


def whole(result, rules) -> str:
    return orjson.dumps(canonical(result, rules), option=orjson.OPT_INDENT_2).decode() + "\n"


def invoiced(i: int) -> dict:
    return receipt(f"I{i:04d}", lines=[line("1", f"{10 + i}.00", cost="3.10"), line("2", "1.05", vat="low")],
                   payments=[{"method": "invoice", "amount": f"{12.10 + i:.2f}"}],
                   customer={"id": f"C{i}", "debtor": "20001", "name": f"Klant {i}"})


@pytest.mark.parametrize("receipts", [
    [],  # no entries at all: "entries": []
    [receipt(status="open"), receipt("R2", status="voided"), receipt("R3", payments=[])],  # no entries, the rest
    [receipt()],
    [invoiced(i) for i in range(1234)] + [receipt("X", payments=[]), receipt("O", status="open")],  # several chunks
], ids=["empty", "no-entries", "one", "chunks"])
def test_chunks_make_the_whole_text(rules, receipts):
    result = book(rules, receipts)
    chunks = list(iter_json(result, rules))
    assert "".join(chunks) == whole(result, rules) == to_json(result, rules)
    if len(result.entries) > 1000:
        assert len(chunks) > 3 and max(map(len, chunks)) < len(whole(result, rules)) / 2
