"""Automatic processing: book the receipt files that appear in an inbox, every N minutes.

Each file is one final run (one transaction) and then moves to INBOX/done/;
a file that is unusable as a whole (not JSON, wrong shape) moves to
INBOX/failed/ with a `.reason` file beside it, and nothing of it is booked.
Receipts in error inside a usable file do not fail the file: they wait in the
ledger's error queue. Hidden files and names ending in `.tmp` or `.part` are
left alone, so a sender writes a file under such a name and renames it when
complete.

SIGINT and SIGTERM only set a flag: the file being booked finishes (its
transaction commits or rolls back as a whole) and the watcher then stops.
Two watchers on one ledger cannot double-book: each run plans inside the
write lock, against what the other committed; a file the other one already
moved is simply gone.
"""

from __future__ import annotations

import datetime as _dt
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from ..engine.receipts import InputError
from .process import STATUSES, Selection, process, run_info
from .store import LedgerError, Store

IGNORED_SUFFIXES = (".tmp", ".part", ".reason")


def pending(inbox: Path) -> list[Path]:
    """The files waiting in the inbox, oldest name first."""
    try:
        names = sorted(os.listdir(inbox))
    except OSError:
        return []
    return [inbox / n for n in names
            if not n.startswith(".") and not n.endswith(IGNORED_SUFFIXES) and (inbox / n).is_file()]


def _move(path: Path, folder: Path) -> Path | None:
    """Move a processed file into done/ or failed/; None when another watcher moved it first."""
    folder.mkdir(exist_ok=True)
    dest = folder / path.name
    if dest.exists():
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        dest = folder / f"{path.name}.{stamp}"
    try:
        os.replace(path, dest)
    except FileNotFoundError:
        return None
    return dest


def _fail(path: Path, folder: Path, reason: str) -> None:
    dest = _move(path, folder)
    if dest is not None:
        dest.with_name(dest.name + ".reason").write_text(reason + "\n", encoding="utf-8")


class Watcher:
    def __init__(self, ruleset, rules_path: str, inbox: str, db: str, interval: int, source: str | None = None,
                 log: Callable[[str], None] = print, read=None):
        self.ruleset = ruleset
        self.rules_path = rules_path
        self.inbox = Path(inbox)
        self.db = db
        self.interval = interval
        self.source = source
        self.log = log
        self.stopping = False
        self.runs = 0
        if read is None:
            from ..api import read_receipts as read
        self.read = read

    def stop(self, *_args) -> None:
        self.stopping = True

    def run_once(self) -> str:
        """Book every file now in the inbox; return the run's log line."""
        self.runs += 1
        files = pending(self.inbox)
        done = failed = busy = 0
        counts = {s: 0 for s in STATUSES} | {"unchanged": 0, "entries": 0}
        store = Store.open(self.db)
        try:
            for path in files:
                if self.stopping:
                    break
                try:
                    records = self.read(str(path), self.ruleset, self.source)
                except InputError as e:
                    if not path.exists():  # another watcher took it while it was being read
                        continue
                    _fail(path, self.inbox / "failed", str(e))
                    failed += 1
                    continue
                if not path.exists():
                    continue
                info = run_info("watch", self.rules_path, [str(path)], Selection())
                try:
                    result = process(self.ruleset, store, [records], final=True, info=info)
                except InputError as e:  # a JSON Lines file broken further down
                    _fail(path, self.inbox / "failed", str(e))
                    failed += 1
                    continue
                except LedgerError:
                    busy += 1  # left in the inbox for the next run
                    continue
                for k, v in result.counts.items():
                    counts[k] += v
                _move(path, self.inbox / "done")
                done += 1
        finally:
            store.close()
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        left = f", {busy} left (ledger busy)" if busy else ""
        return (f"{now} run {self.runs}: {len(files)} files ({done} done, {failed} failed{left}): "
                f"{counts['booked']} booked, {counts['late']} late, {counts['changed']} changed, "
                f"{counts['open']} open, {counts['voided']} voided, {counts['error']} errors, "
                f"{counts['unchanged']} unchanged; {counts['entries']} entries")

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))

    def run(self, max_runs: int | None = None, poll: float = 1.0, once: bool = False) -> int:
        """Run until stopped (or after max_runs runs, or once now); returns the number of runs."""
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not self.stopping:
                # Interval 0: run as soon as files arrive (checked every `poll` seconds);
                # otherwise every `interval` minutes, files or not, so the log shows it is alive.
                if once or self.interval > 0 or pending(self.inbox):
                    self.log(self.run_once())
                    if once or (max_runs is not None and self.runs >= max_runs):
                        break
                self._sleep(self.interval * 60 if self.interval > 0 else poll)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.runs
