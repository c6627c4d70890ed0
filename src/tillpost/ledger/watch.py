"""Automatic processing: book the receipt files that appear in an inbox, every N minutes.

Each file is one final run (one transaction) and then moves to INBOX/done/;
a file that is unusable as a whole (not JSON, not UTF-8, wrong shape) moves to
INBOX/failed/ with a `.reason` file beside it, and nothing of it is booked.
Receipts in error inside a usable file do not fail the file: they wait in the
ledger's error queue. Hidden files and names ending in `.tmp` or `.part` are
left alone, so a sender writes a file under such a name and renames it when
complete; a file that changes while it is read anyway (a sender writing in place)
is left in the inbox, nothing of it booked, and tried again on the next run.
Files are taken in arrival order: modification time, then name.

A file is booked once, by its content: the final run that books it records its
SHA-256 in the ledger, in the same transaction, and the database refuses the
same content twice for a client. A watcher killed after the commit but before
the move finds the file booked already and only moves it.

SIGINT and SIGTERM only set a flag: the file being booked finishes (its
transaction commits or rolls back as a whole) and the watcher then stops.

`book_file` is what `tillpost watch` and `tillpost worker` share.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.linefile import FileChanged, stamp as file_stamp
from ..engine.receipts import InputError
from .process import STATUSES, Selection, process, run_info
from .store import LedgerError, Store

IGNORED_SUFFIXES = (".tmp", ".part", ".reason")


def pending(inbox: Path) -> list[Path]:
    """The files waiting in the inbox, in arrival order (modification time, then name)."""
    try:
        names = os.listdir(inbox)
    except OSError:
        return []
    found = []
    for n in names:
        if n.startswith(".") or n.endswith(IGNORED_SUFFIXES):
            continue
        path = inbox / n
        try:
            st = path.stat()
        except OSError:  # taken by another worker meanwhile
            continue
        if path.is_file():
            found.append((st.st_mtime_ns, n, path))
    return [p for _, _, p in sorted(found)]


def _move(path: Path, folder: Path) -> Path | None:
    """Move a processed file into done/ or failed/; None when another worker moved it first."""
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


@dataclass
class FileOutcome:
    """What became of one inbox file."""

    path: Path
    state: str  # done | failed | duplicate | gone | busy | writing (changed while read: tried again next run)
    counts: dict = field(default_factory=dict)
    reason: str = ""


def book_file(ruleset, rules_path: str, store: Store, path: Path, source: str | None = None, read=None,
              command: str = "watch", selection: Selection = Selection()) -> FileOutcome:
    """Book one inbox file as one final run and move it to done/ or failed/.

    A ledger that cannot be used (busy, unreachable) raises LedgerError and leaves
    the file where it is, for the next run.
    """
    if read is None:
        from ..api import read_receipts as read
    inbox = path.parent
    try:
        # Hashed as a stream: the run reads the file a line at a time (engine/linefile.py)
        # and holding it whole here would undo that.
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
            hashed = file_stamp(os.fstat(f.fileno()))
    except FileNotFoundError:
        return FileOutcome(path, "gone")
    except OSError as e:
        _fail(path, inbox / "failed", f"{path.name}: cannot be read: {e.strerror or e}")
        return FileOutcome(path, "failed", reason=str(e))
    try:
        records = read(str(path), ruleset, source)
        # What was read is what was hashed: a file still being written waits for the next run
        # (its reads past this point are checked against the read's own look at the file).
        if file_stamp(path.stat()) != hashed:
            return FileOutcome(path, "writing")
    except FileNotFoundError:
        return FileOutcome(path, "gone")
    except FileChanged:
        return FileOutcome(path, "writing")
    except InputError as e:
        if not path.exists():  # another worker took it while it was being read
            return FileOutcome(path, "gone")
        _fail(path, inbox / "failed", str(e))
        return FileOutcome(path, "failed", reason=str(e))
    except Exception as e:  # noqa: BLE001
        if _ledger_error(e):
            raise
        return _put_aside(path, e)
    if not path.exists():
        return FileOutcome(path, "gone")
    info = run_info(command, rules_path, [str(path)], selection)
    try:
        result = process(ruleset, store, [records], selection, final=True, info=info, file=(path.name, digest),
                         details=False, keep_input=False)
    except FileChanged:  # its run was rolled back
        return FileOutcome(path, "writing")
    except InputError as e:  # a JSON Lines file broken further down
        _fail(path, inbox / "failed", str(e))
        return FileOutcome(path, "failed", reason=str(e))
    except Exception as e:  # noqa: BLE001
        if _ledger_error(e):
            raise
        return _put_aside(path, e)  # its run was rolled back
    if result.duplicate_of is not None:
        name, run = result.duplicate_of
        _move(path, inbox / "done")
        return FileOutcome(path, "duplicate", reason=f"the same content as {name}, booked by run {run}")
    _move(path, inbox / "done")
    return FileOutcome(path, "done", counts=result.counts)


def _ledger_error(e: Exception) -> bool:
    """The ledger's trouble (busy, unreachable, restarted): the file waits for the next run."""
    if isinstance(e, (LedgerError, sqlite3.Error)):
        return True
    return type(e).__module__.startswith("psycopg")


def _put_aside(path: Path, e: Exception) -> FileOutcome:
    """A file tillpost itself fails on must not block the inbox for good: it goes to failed/
    with what went wrong, and the files after it are booked."""
    reason = (f"{path.name}: tillpost could not book this file ({type(e).__name__}: {e}); nothing of it is "
              "booked; please report it with the file")
    _fail(path, path.parent / "failed", reason)
    return FileOutcome(path, "failed", reason=reason)


def summarize(outcomes: list[FileOutcome]) -> tuple[str, dict]:
    """The files part of a log line, and the summed counts."""
    counts = {s: 0 for s in STATUSES} | {"unchanged": 0, "entries": 0}
    states = {s: 0 for s in ("done", "failed", "duplicate", "busy", "writing")}
    for o in outcomes:
        if o.state in states:
            states[o.state] += 1
        for k, v in o.counts.items():
            counts[k] = counts.get(k, 0) + v
    files = sum(1 for o in outcomes if o.state != "gone")
    extra = "".join(f", {states[s]} {label}" for s, label in (("duplicate", "booked before"),
                                                               ("busy", "left (ledger busy)"),
                                                               ("writing", "left (still being written)")) if states[s])
    return f"{files} files ({states['done']} done, {states['failed']} failed{extra})", counts


def counts_text(counts: dict) -> str:
    return (f"{counts['booked']} booked, {counts['late']} late, {counts['changed']} changed, "
            f"{counts['open']} open, {counts['voided']} voided, {counts['error']} errors, "
            f"{counts['unchanged']} unchanged; {counts['entries']} entries")


class Watcher:
    def __init__(self, ruleset, rules_path: str, inbox: str, db: str, interval: int, source: str | None = None,
                 log: Callable[[str], None] = print, read=None, client: str | None = None):
        self.ruleset = ruleset
        self.rules_path = rules_path
        self.inbox = Path(inbox)
        self.db = db
        self.interval = interval
        self.source = source
        self.log = log
        self.client = client
        self.stopping = False
        self.runs = 0
        self.read = read

    def stop(self, *_args) -> None:
        self.stopping = True

    def run_once(self) -> str:
        """Book every file now in the inbox; return the run's log line."""
        self.runs += 1
        outcomes = []
        store = Store.open(self.db, client=self.client)
        try:
            for path in pending(self.inbox):
                if self.stopping:
                    break
                try:
                    outcomes.append(book_file(self.ruleset, self.rules_path, store, path, self.source, self.read))
                except LedgerError:
                    outcomes.append(FileOutcome(path, "busy"))  # left in the inbox for the next run
        finally:
            store.close()
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        files, counts = summarize(outcomes)
        return f"{now} run {self.runs}: {files}: {counts_text(counts)}"

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
