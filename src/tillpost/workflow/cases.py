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

from dataclasses import dataclass, field
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


def render_targets(result, ruleset) -> dict[str, str]:
    """The payloads of the targets the rule file names, where tillpost.targets can render them.

    Targets are optional here: a target that is unknown, or a targets package
    without a `render(result, ruleset, target)` function, is left out.
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
    payloads = {}
    for name in sorted(ruleset.targets):
        try:
            payload = render(result, ruleset, name)
        except (KeyError, LookupError, ValueError, NotImplementedError):
            continue
        payloads[name] = _as_text(payload)
    return payloads


def _as_text(payload) -> str:
    if isinstance(payload, bytes):
        return payload.decode("utf-8")
    if isinstance(payload, dict):  # one document per receipt or journal
        return "".join(f"==> {name} <==\n{_as_text(doc)}\n" for name, doc in sorted(payload.items()))
    return str(payload)


def book_case(ruleset, case: Path) -> CaseOutput | str:
    """Book one case file; its output, or why the file cannot be read."""
    from ..api import book, read_receipts, render_table, to_json
    from ..engine.receipts import InputError

    try:
        result = book(ruleset, read_receipts(str(case), ruleset))
    except InputError as e:
        return str(e)
    return CaseOutput(to_json(result, ruleset), render_table(result, ruleset), render_targets(result, ruleset))
