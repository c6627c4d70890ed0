"""The pytest plugin: every case of every client folder is a snapshot-locked test.

A client folder is a folder holding `client.rules` and a `cases/` folder of
receipt days (`*.json`, `*.jsonl`). tillpost registers this module through the
`pytest11` entry point, so `pytest rules/` in a consultancy's repository finds
the client folders without a conftest. Each case is one test item, its id
`rules/<client>::<case>`; it books the case with the client's rules and compares
what came out with the locked output in `rules/<client>/locked/<case>.ambr`:

- `json`  — the canonical journal (SPEC §7),
- `table` — the readable table of `tillpost book --format table`,
- `target <name>` — the payload of each target the rule file names, when
  `tillpost.targets` can render it.

`pytest rules/ --snapshot-update` (syrupy) writes or rewrites the locked output.
A rule file that does not compile fails all its client's items with the
compiler's diagnostics; a case file that cannot be read fails its own item.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pytest
from syrupy.extensions.amber import AmberSnapshotExtension

from .cases import CLIENT_FILE, LOCKED_DIR, CaseOutput, book_case, case_files, is_client_folder, locked_path


class LockedOutput(AmberSnapshotExtension):
    """Amber snapshots at `<client>/locked/<case>.ambr`, whatever `--snapshot-dirname` says.

    The location is fixed so a consultancy's repository and ours agree on it,
    and so a reviewer finds the locked output of a case next to the case.
    """

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(Path(test_location.filepath) / LOCKED_DIR)

    @classmethod
    def get_file_basename(cls, *, test_location, index) -> str:
        return test_location.testname

    @classmethod
    def matches_test_location(cls, *, test_location, snapshot_location: str) -> bool:
        where = Path(snapshot_location)
        return where.parent == Path(cls.dirname(test_location=test_location)) and where.stem == test_location.testname


class CaseFailed(Exception):
    """A case whose booked output is not its locked output, or that could not be booked."""

    def __init__(self, report: str):
        super().__init__(report)
        self.report = report


def tillpost_case(request, snapshot) -> None:
    """The test function of every case item (syrupy names snapshots after the item)."""
    request.node.check(snapshot)


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent):
    if is_client_folder(path):
        return ClientFolder.from_parent(parent, path=path)
    return None


class ClientFolder(pytest.Directory):
    """`rules/<client>/`: its cases, booked with its `client.rules`."""

    def collect(self):
        for case in case_files(self.path):
            yield CaseItem.from_parent(self, name=case.stem, callobj=tillpost_case, case_path=case)

    @cached_property
    def compiled(self):
        from ..engine.compiler import compile_file

        return compile_file(self.path / CLIENT_FILE)


class CaseItem(pytest.Function):
    """One receipt day of a client: booked and compared with its locked output."""

    def __init__(self, *args, case_path: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.case_path = case_path

    def check(self, snapshot) -> None:
        ruleset, diagnostics = self.parent.compiled
        if ruleset is None:
            raise CaseFailed(f"{self.parent.path / CLIENT_FILE} does not compile, so no case of this client can be "
                             f"booked:\n{diagnostics.format()}")
        output = book_case(ruleset, self.case_path)
        if isinstance(output, str):
            raise CaseFailed(f"{self.case_path}: cannot be read: {output}")
        self.compare(snapshot, output)

    def compare(self, snapshot, output: CaseOutput) -> None:
        from syrupy.terminal import disable_color

        changed: list[str] = []
        # A fixture of its own for our extension: syrupy finds unused locks through the
        # extension each registered fixture has (a per-call extension would hide them).
        locked = snapshot.use_extension(LockedOutput)
        for name, text in output.parts():
            assertion = locked(name=name)
            if assertion == text:
                continue
            if self.config.option.no_colors:
                with disable_color():
                    diff = assertion.get_assert_diff()
            else:
                diff = assertion.get_assert_diff()
            changed.append(f"[{name}]\n" + "\n".join(diff))
        if changed:
            where = locked_path(self.case_path)
            shown = where.relative_to(self.config.rootpath) if where.is_relative_to(self.config.rootpath) else where
            if not where.exists():
                raise CaseFailed(f"{self.nodeid}: not locked yet: there is no {shown}; look at the booked output "
                                 "below and accept it with `pytest --snapshot-update`\n\n" + "\n\n".join(changed))
            raise CaseFailed(
                f"{self.nodeid}: the booked output differs from the locked output in {shown}\n"
                "  (- locked, + booked now; accept with `pytest --snapshot-update`)\n\n" + "\n\n".join(changed))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CaseFailed):
            return excinfo.value.report
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.case_path, None, f"{self.parent.name}::{self.name}"
