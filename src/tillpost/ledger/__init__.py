"""The processing ledger (SPEC §9): trial and final runs into a database of immutable entries,
one status per receipt ever seen, corrections for late and changed receipts, completeness status."""

from .process import RunResult, Selection, process, run_info
from .store import LedgerError, Store

__all__ = ["LedgerError", "RunResult", "Selection", "Store", "process", "run_info"]
