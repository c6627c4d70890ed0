"""`tillpost export`: every final entry not yet exported to a target, rendered once and recorded.

An export takes the client's booked entries that never went to the target — first bookings,
supplements, reversals and rebookings alike — in the order of the canonical journal (date,
journal, key, then entry number), renders them with the same target code as `book --target`,
and records in the same transaction which entry went into which export and as which document,
the file, its SHA-256, when, from which rule file and by whom. The database refuses an entry
to a target twice (export_entries' primary key); two exports at once are serialized by the
client's lock, so the second exports what the first did not.

Each entry is one document with a stable reference made of tillpost's ids — client, export,
document: `TP-<client>-<export>-<document>`, the client as six hex digits of its name's
SHA-256 (two clients in one package administration never share a reference, and it fits
Exact Online's 30 characters of YourRef). The packages' targets put it in their reference
field; for them the export also records each document's body, which `deliver` posts.

The file is written under a `.part` name, the export recorded, and only after the commit is
it renamed to its name: a failure at any point before leaves nothing recorded and no file;
a kill between the commit and the rename leaves the `.part` file, which the next export of
the client renames (its SHA-256 is recorded).

`--again ID` renders a past export anew from the ledger: the same entries, references and
creation date (the payload's `today` is pinned to the export's day), so the same bytes —
checked against the recorded SHA-256. A rule file changed since is said, and nothing written.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.ruleset import RuleSet
from ..ledger.store import Store
from ..targets import SINGLE, TargetError, get_target, render
from . import exact_online, moneybird

# The targets whose documents a package takes one by one: how their export file splits into them.
SPLITTERS = {"moneybird": moneybird.split, "exact-online-rest": exact_online.split}
PART = ".part"


class ExportError(Exception):
    """The export cannot be made: the target, the output, or (--again) a rendering that differs."""


@dataclass
class ExportResult:
    client: str
    target: str
    export: int | None = None  # None: nothing was exported
    path: Path | None = None
    sha256: str | None = None
    entries: list[int] = field(default_factory=list)
    documents: int = 0  # documents a package takes one by one (0 for other targets)
    errors: list[str] = field(default_factory=list)  # entries the target cannot express: left unexported
    unexported: list[int] = field(default_factory=list)
    again: bool = False

    def summary(self) -> str:
        if self.export is None:
            head = f"nothing new to export to {self.target} for client '{self.client}': no file written"
            if self.unexported:
                head += f"; {len(self.unexported)} entr{'y' if len(self.unexported) == 1 else 'ies'} the target " \
                        "cannot express wait (see the errors)"
            return head
        what = "written again" if self.again else f"{len(self.entries)} entr{'y' if len(self.entries) == 1 else 'ies'}"
        text = f"export {self.export} ({what}) to {self.target}: {self.path} (sha256 {self.sha256})"
        if self.unexported:
            text += f"; {len(self.unexported)} entr{'y' if len(self.unexported) == 1 else 'ies'} left unexported"
        return text

    def as_dict(self) -> dict:
        return {"client": self.client, "target": self.target, "export": self.export,
                "file": None if self.path is None else str(self.path), "sha256": self.sha256,
                "entries": self.entries, "documents": self.documents, "unexported": self.unexported,
                "errors": self.errors}


def reference(client: str, export: int, document: int) -> str:
    """The stable reference of document `document` of export `export` of `client`."""
    return f"TP-{hashlib.sha256(client.encode('utf-8')).hexdigest()[:6]}-{export}-{document}"


def file_name(client: str, target: str, export: int) -> str:
    return f"{client}-{target}-{export:05d}.{get_target(target).extension}"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tillpost")
    except PackageNotFoundError:
        return "dev"


def _rules_sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def _made_by() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def exportable(target: str):
    """The target, when an export can render it; ExportError says why not."""
    try:
        t = get_target(target)
    except TargetError as e:
        raise ExportError(str(e)) from None
    if t.renders == "invoices":
        raise ExportError(f"target {t.name} renders invoices from the receipts' lines, which the ledger does not "
                          f"keep: render it with `tillpost book RULES RECEIPTS --target {t.name}`")
    if t.documents != SINGLE:
        raise ExportError(f"target {t.name} writes a folder of documents; an export is one file")
    return t


def destination(out: str | Path, name: str, to_folder: bool) -> Path:
    """Where an export goes: OUT itself, or `name` in the folder OUT (an existing folder, or one
    named with a trailing slash). It must not exist yet."""
    folder = to_folder or str(out).endswith(("/", os.sep))
    out = Path(out)
    if folder:
        out.mkdir(parents=True, exist_ok=True)
    path = out / name if (folder or out.is_dir()) else out
    if not path.parent.is_dir():
        raise ExportError(f"{path}: the folder {path.parent} does not exist")
    if path.exists():
        raise ExportError(f"{path}: exists already; an export never overwrites a file: give a new name, or a folder")
    return path


def _canonical(entries: list[dict]) -> dict:
    return {"entries": entries, "errors": [], "open": [], "voided": []}


def _ordered(entries: list[dict]) -> list[dict]:
    return sorted(entries, key=lambda e: (e["date"], e["journal"], e["key"], e["id"]))


def _numbered(client: str, export_id: int, entries: list[dict]) -> list[dict]:
    return [{**e, "reference": reference(client, export_id, n)} for n, e in enumerate(entries, start=1)]


def _documents(target: str, text: str, entries: list[dict]) -> list:
    """The package documents of a rendering, numbered as their entries; [] for other targets."""
    split = SPLITTERS.get(target)
    if split is None:
        return []
    numbers = {e["reference"]: n for n, e in enumerate(entries, start=1)}
    docs = split(text)
    refs = [d.reference for d in docs]
    if sorted(refs) != sorted(numbers):  # a template that lost the reference: never deliver such a file
        raise ExportError(f"target {target}: the rendered documents do not carry the {len(numbers)} references "
                          "given to them; this is a bug in the target's template")
    from dataclasses import replace

    return sorted((replace(d, number=numbers[d.reference]) for d in docs), key=lambda d: d.number)


# -- a new export -------------------------------------------------------------------------------


def export(store: Store, ruleset: RuleSet, rules_path: str, target: str, out: str | Path, to_folder: bool = False,
           now: str | None = None) -> ExportResult:
    """Export every entry of the store's client not yet exported to `target` into OUT."""
    t = exportable(target)
    store.require_client(existing=True)
    result = ExportResult(store.client, t.name)
    store.begin()
    part: Path | None = None
    try:
        _finish_interrupted(store)
        cid = store.client_id
        pending = [row[0] for row in store.query(
            "SELECT id FROM entries e WHERE e.client = ? AND NOT EXISTS (SELECT 1 FROM export_entries x "
            "WHERE x.client = e.client AND x.target = ? AND x.entry = e.id) ORDER BY id", (cid, t.name))]
        if not pending:
            store.rollback()
            return result
        export_id = store.query("SELECT COALESCE(MAX(id), 0) FROM exports WHERE client = ?", (cid,))[0][0] + 1
        created = now or _now()
        entries = _ordered(store.entries(pending))
        numbered = _numbered(store.client, export_id, entries)
        rendering = render(_canonical(numbered), ruleset, t, today=created[:10])
        if rendering.left_out:
            result.errors = list(rendering.errors) + ([rendering.missing_ids] if rendering.missing_ids else [])
            left = set(rendering.left_out)
            result.unexported = sorted(e["id"] for i, e in enumerate(entries) if i in left)
            entries = [e for i, e in enumerate(entries) if i not in left]
            if not entries:
                store.rollback()
                return result
            numbered = _numbered(store.client, export_id, entries)  # documents numbered without gaps
            rendering = render(_canonical(numbered), ruleset, t, today=created[:10])
            if rendering.left_out:  # what renders alone renders together: never seen, but never half-recorded
                raise ExportError(f"target {t.name}: entries rendered alone but not together: {rendering.errors}")
        text = rendering.text
        documents = _documents(t.name, text, numbered)
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        path = destination(out, file_name(store.client, t.name, export_id), to_folder)
        part = path.with_name(path.name + PART)
        part.unlink(missing_ok=True)  # left by a run of this export's number killed before its commit
        with open(part, "x", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        last_run = store.query("SELECT COALESCE(MAX(id), 0) FROM runs WHERE client = ?", (cid,))[0][0]
        store._write("INSERT INTO exports (client, id, target, file, sha256, created, run, rules, rules_sha256, "
                     "version, made_by, entries, documents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (cid, export_id, t.name, str(path), sha, created, last_run, str(rules_path),
                      _rules_sha256(rules_path), _version(), _made_by(), len(entries), len(documents)))
        store._insert_many("export_entries", ("client", "target", "entry", "export", "document"),
                           [(cid, t.name, e["id"], export_id, n) for n, e in enumerate(entries, start=1)])
        store._insert_many("export_documents", ("client", "export", "document", "reference", "kind", "date", "body"),
                           [(cid, export_id, d.number, d.reference, d.kind, d.date, d.body) for d in documents])
        store._insert_many("deliveries", ("client", "export", "document", "reference", "state", "sent", "attempts",
                                          "updated"),
                           [(cid, export_id, d.number, d.reference, "pending", 0, 0, created) for d in documents])
        store.commit()
    except BaseException:
        store.rollback()
        if part is not None:
            try:
                part.unlink()
            except OSError:
                pass
        raise
    os.replace(part, path)
    result.export, result.path, result.sha256 = export_id, path, sha
    result.entries = [e["id"] for e in entries]
    result.documents = len(documents)
    return result


def _finish_interrupted(store: Store) -> None:
    """The client's last export, killed between its commit and its rename: finish the rename."""
    rows = store.query("SELECT file, sha256 FROM exports WHERE client = ? ORDER BY id DESC LIMIT 1", (store.client_id,))
    if not rows:
        return
    path = Path(rows[0][0])
    part = path.with_name(path.name + PART)
    try:
        if not path.exists() and part.is_file() and hashlib.sha256(part.read_bytes()).hexdigest() == rows[0][1]:
            os.replace(part, path)
    except OSError:
        pass  # not ours to reach from here (another machine's folder): `--again` writes it anew


# -- a past export, again ------------------------------------------------------------------------


def again(store: Store, ruleset: RuleSet, rules_path: str, export_id: int, out: str | Path,
          target: str | None = None) -> ExportResult:
    """Render export `export_id` again, byte for byte, into OUT."""
    store.check_current()
    store.require_client(existing=True)
    store.begin_read()
    try:
        cid = store.client_id
        row = store.query("SELECT target, file, sha256, created, rules_sha256, version FROM exports "
                          "WHERE client = ? AND id = ?", (cid, export_id))
        if not row:
            last = store.query("SELECT COALESCE(MAX(id), 0) FROM exports WHERE client = ?", (cid,))[0][0]
            known = f"its exports are 1–{last}" if last > 1 else "its one export is 1" if last else "it has none yet"
            raise ExportError(f"client '{store.client}' has no export {export_id}; {known}")
        t_name, file, sha, created, rules_then, version_then = row[0]
        if target is not None and target != t_name:
            raise ExportError(f"export {export_id} went to {t_name}, not to {target}")
        pairs = store.query("SELECT entry, document FROM export_entries WHERE client = ? AND export = ? "
                            "ORDER BY document", (cid, export_id))
        by_id = {e["id"]: e for e in store.entries(p[0] for p in pairs)}
    finally:
        store.end_read()
    entries = [by_id[entry] for entry, _ in pairs]
    numbered = [{**e, "reference": reference(store.client, export_id, n)} for e, (_, n) in zip(entries, pairs)]
    t = exportable(t_name)
    rendering = render(_canonical(numbered), ruleset, t, today=created[:10])
    text = rendering.text
    now_sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if rendering.left_out or now_sha != sha:
        rules_now = _rules_sha256(rules_path)
        why = []
        if rules_now != rules_then:
            why.append(f"the rule file differs from the one it was made with ({rules_path}: sha256 {rules_now[:12]}, "
                       f"then {rules_then[:12]}); render it with that rule file (its history in git)")
        if _version() != version_then:
            why.append(f"it was made by tillpost {version_then}, this is {_version()}")
        raise ExportError(f"export {export_id} rendered again is not the file it was (sha256 {sha[:12]}, now "
                          f"{now_sha[:12]}): " + ("; ".join(why) or "the target renders it differently now")
                          + "; nothing written")
    path = destination(out, Path(file).name, False)
    part = path.with_name(path.name + PART)
    part.unlink(missing_ok=True)
    with open(part, "x", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(part, path)
    return ExportResult(store.client, t_name, export_id, path, sha, [e["id"] for e in entries], again=True)
