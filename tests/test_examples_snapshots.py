"""The bundled examples' books, locked by reviewed snapshots (canonical JSON and table)."""

from __future__ import annotations

import pytest

from tillpost.api import book, load_rules, read_receipts, render_table, to_json

EXAMPLES = [("bakery", "bakery-day.json"), ("restaurant", "restaurant-day.json"), ("exact-globe", "exact-globe.json")]


@pytest.mark.parametrize("rules_name, day", EXAMPLES)
def test_example_books_as_locked(examples, snapshot, rules_name, day):
    rules = load_rules(examples / f"{rules_name}.rules")
    result = book(rules, read_receipts(str(examples / day)))
    assert result.errors == []
    assert to_json(result, rules) == snapshot(name="json")
    assert render_table(result, rules) == snapshot(name="table")
