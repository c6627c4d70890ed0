"""What a worker does for a client with `export` configured, after the client's final runs (SPEC §12, §14):
export every entry not yet exported into the client's `to` folder, then deliver, when configured.

Nothing here stops the worker: every problem becomes the text of its log line, and what was
not exported or delivered is taken up by the next run (exports take every entry not yet
exported; deliveries every document not yet accepted).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def export_and_deliver(store, ruleset, rules_path: str, export: dict, secrets: Path | None,
                       log: Callable[[str], None]) -> str:
    """Export (and deliver) the store's client; one line saying what happened."""
    from ..targets import TargetError
    from .credentials import CredentialError, resolve
    from .deliver import deliver
    from .export import ExportError
    from .export import export as make_export

    parts = []
    try:
        result = make_export(store, ruleset, rules_path, export["target"], export["to"], to_folder=True)
        parts.append(result.summary())
        if result.errors:
            parts.append(f"{len(result.errors)} entr{'y' if len(result.errors) == 1 else 'ies'} the target cannot "
                         f"express: {result.errors[0]}" + (" …" if len(result.errors) > 1 else ""))
    except (ExportError, TargetError, OSError) as e:
        parts.append(f"export to {export['target']} failed: {e}")
    settings = export.get("deliver")
    if settings is not None:
        try:
            # The worker's log: a line per run, and one per document only when something is amiss.
            report = deliver(store, settings, resolve(settings.credentials, secrets), log=log, details=False)
            parts.append(report.summary().split(": ", 1)[1])
        except CredentialError as e:
            parts.append(f"not delivered: {e}")
    return "; ".join(parts)
