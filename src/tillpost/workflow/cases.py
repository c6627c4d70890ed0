"""Client folders: the layout the consultant workflow is built on.

    rules/
      common/rgs.rules            shared chart of accounts (included)
      <client>/client.rules       the client's rule file
      <client>/cases/<case>.json  receipt days: normal days and the awkward ones
      <client>/locked/<case>.ambr the locked output of each case (syrupy amber)

Booking a case gives the parts that are locked: the canonical JSON, the
readable table, and the payload of every target the rule file names that
`tillpost.targets` can render.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

CLIENT_FILE = "client.rules"
CASES_DIR = "cases"
LOCKED_DIR = "locked"
CASE_SUFFIXES = (".json", ".jsonl")


def is_client_folder(path: Path) -> bool:
    return (path / CLIENT_FILE).is_file() and (path / CASES_DIR).is_dir()


def case_files(client: Path) -> list[Path]:
    folder = client / CASES_DIR
    return sorted(p for p in folder.iterdir() if p.suffix in CASE_SUFFIXES and p.is_file())


def locked_path(case: Path) -> Path:
    return case.parent.parent / LOCKED_DIR / f"{case.stem}.ambr"


@dataclass
class CaseOutput:
    json: str
    table: str
    targets: dict[str, str] = field(default_factory=dict)  # target name → rendered payload

    def parts(self) -> list[tuple[str, str]]:
        return [("json", self.json), ("table", self.table)] + [(f"target {t}", p) for t, p in sorted(self.targets.items())]


def render_targets(result, ruleset, dates: list[str]) -> dict[str, str]:
    """The payload of each target the rule file names, as text to lock.

    Targets are optional here: without a `tillpost.targets.render`, none are
    rendered. A target that cannot render (unknown, a setting missing) locks
    its message, so the reviewer sees it. The payload's creation date is pinned
    to the case's last business day (SOURCE_DATE_EPOCH), so the lock holds
    tomorrow too.
    """
    if not ruleset.targets:
        return {}
    try:
        from .. import targets
    except ImportError:
        return {}
    render = getattr(targets, "render", None)
    if render is None:
        return {}
    failure = getattr(targets, "TargetError", LookupError)
    payloads = {}
    with _pinned_date(max(dates, default="2000-01-01")):
        for name in sorted(ruleset.targets):
            try:
                payloads[name] = _as_text(render(result, ruleset, name))
            except failure as e:
                payloads[name] = f"cannot render: {e}\n"
    return payloads


@contextmanager
def _pinned_date(day: str):
    if "SOURCE_DATE_EPOCH" in os.environ:  # the caller's pin wins
        yield
        return
    epoch = int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp())
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
    try:
        yield
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]


def _as_text(rendering) -> str:
    """A Rendering's documents, each under its name when there are several, then its errors."""
    documents = getattr(rendering, "documents", None)
    if documents is None:
        return str(rendering)
    if len(documents) == 1:
        text = documents[0].text
    else:
        text = "".join(f"==> {d.name} <==\n{d.text}\n" for d in documents)
    errors = getattr(rendering, "errors", [])
    return text + "".join(f"not rendered: {e}\n" for e in errors)


def book_case(ruleset, case: Path) -> CaseOutput | str:
    """Book one case file; its output, or why the file cannot be read."""
    from ..api import book, read_receipts, render_table, to_json
    from ..engine.receipts import InputError

    try:
        result = book(ruleset, read_receipts(str(case), ruleset))
    except InputError as e:
        return str(e)
    dates = [e.date for e in result.entries]
    return CaseOutput(to_json(result, ruleset), render_table(result, ruleset), render_targets(result, ruleset, dates))
