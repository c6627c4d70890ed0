"""Source adapters: what a POS exports → normalized receipts (SPEC §4).

`read_receipts(path, ruleset, source)` is the one entry point the command line
and the API use. With no source named, RECEIPTS are tillpost's own normalized
receipts (JSON, JSON Lines, or '-' for stdin).
"""

from __future__ import annotations

from ..engine.receipts import InputError, Records, read_input


def read_receipts(path: str, ruleset=None, source: str | None = None) -> Records:
    if source in (None, "tillpost"):
        return read_input(path)
    raise InputError(path, f"unknown source '{source}'")
