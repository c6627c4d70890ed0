"""Shared fixtures: the bundled examples, and a snapshot store in tests/snapshots/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tillpost.api import load_rules, read_receipts

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules" / "examples"


@pytest.fixture(scope="session")
def examples() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def bakery():
    return load_rules(EXAMPLES / "bakery.rules")


@pytest.fixture(scope="session")
def bakery_day():
    return read_receipts(str(EXAMPLES / "bakery-day.json"))
