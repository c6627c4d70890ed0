"""`tillpost diff OLD NEW RECEIPTS…`: what a rule change does to the books.

Both versions of a rule file book the same receipts; per entry, the journal
lines that differ are shown, `-` as the old rules book them and `+` as the new
ones do, in a table a reviewer can read in a pull request (`--format markdown`
renders as one there). A version is a path, or `git:REV:path` for the file as
it was at a git revision (path as you would type it here; the rules folder of
that revision is read, so its includes are as they were too).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..engine.compiler import compile_file, rules_root
from ..engine.diagnostics import Diagnostic, Diagnostics, Position
from .cases import CASE_SUFFIXES

GIT_PREFIX = "git:"


class VersionError(Exception):
    """A rule file version that cannot be read or does not compile."""

    def __init__(self, message: str, diagnostics: Diagnostics | None = None):
        super().__init__(message)
        self.diagnostics = diagnostics


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise VersionError("git is not installed") from None
    if done.returncode != 0:
        raise VersionError(done.stderr.decode("utf-8", "replace").strip() or f"git {' '.join(args)} failed")
    return done.stdout


def compile_version(spec: str, scratch: Path):
    """Compile one version of a rule file: a path, or git:REV:path (exported into `scratch`)."""
    if not spec.startswith(GIT_PREFIX):
        ruleset, diagnostics = compile_file(spec)
        if ruleset is None:
            raise VersionError(f"{spec} does not compile", diagnostics)
        return ruleset
    rev, sep, path = spec[len(GIT_PREFIX):].partition(":")
    if not sep or not rev or not path:
        raise VersionError(f"'{spec}': expected git:REV:path, such as git:HEAD:rules/acme/client.rules")
    here = Path.cwd()
    top = Path(_git(["rev-parse", "--show-toplevel"], here).decode().strip()).resolve()
    wanted = (here / path).resolve()
    if not wanted.is_relative_to(top):
        raise VersionError(f"'{path}' is outside the git repository {top}")
    folder = rules_root(wanted).relative_to(top)
    archive = _git(["archive", "--format=tar", rev, "--", str(folder) if str(folder) != "." else "."], top)
    out = scratch / rev.replace("/", "_")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(out, filter="data")
    exported = out / wanted.relative_to(top)
    if not exported.is_file():
        raise VersionError(f"'{path}' does not exist at {rev}")
    ruleset, diagnostics = compile_file(exported)
    if ruleset is None:
        # Point the diagnostics at the spec, not at the scratch copy.
        shown = Diagnostics(sources=diagnostics.sources)
        shown.items = [Diagnostic(d.severity, Position(d.pos.file.replace(f"{out}/", f"{GIT_PREFIX}{rev}:"), d.pos.line,
                                                       d.pos.col, d.pos.width), d.message, d.source_line)
                       for d in diagnostics.items]
        raise VersionError(f"{spec} does not compile", shown)
    return ruleset


def receipt_files(paths: list[str]) -> list[Path]:
    """The receipt files named, a folder standing for its *.json and *.jsonl files."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix in CASE_SUFFIXES and f.is_file()))
        else:
            out.append(p)
    return out


# -- comparing two booked journals --------------------------------------------------

@dataclass(frozen=True)
class LineChange:
    sign: str  # "-" old, "+" new
    account: str
    name: str
    debtor: str
    vat: str
    debit: str
    credit: str


@dataclass
class EntryChange:
    source: str  # the receipt file
    journal: str
    date: str
    key: str
    description: str
    lines: list[LineChange]
    note: str = ""  # "new entry", "entry gone", "description: old → new"


def _lines(entry: dict | None) -> dict[tuple, tuple[str, str]]:
    if entry is None:
        return {}
    return {(l["account"], l["debtor"] or "", l["vat"] or ""): (l["debit"], l["credit"]) for l in entry["lines"]}


def _amount(value: str) -> str:
    return "" if value.strip("0.") == "" else value


def compare(source: str, old: dict, new: dict, names: dict[str, str]) -> tuple[list[EntryChange], list[str]]:
    """Entries whose lines differ between two canonical journals, and changes in the receipt errors."""
    def by_key(journal: dict) -> dict:
        return {(e["journal"], e["date"], e["mode"], e["key"]): e for e in journal["entries"]}

    olds, news = by_key(old), by_key(new)
    changes = []
    for k in sorted(set(olds) | set(news), key=lambda k: (k[1], k[0], k[3])):
        o, n = olds.get(k), news.get(k)
        ol, nl = _lines(o), _lines(n)
        lines = []
        for line_key in sorted(set(ol) | set(nl)):
            if ol.get(line_key) == nl.get(line_key):
                continue
            account, debtor, vat = line_key
            for sign, side in (("-", ol), ("+", nl)):
                if line_key in side:
                    debit, credit = side[line_key]
                    lines.append(LineChange(sign, account, names.get(account, ""), debtor, vat,
                                            _amount(debit), _amount(credit)))
        note = "new entry" if o is None else "entry gone" if n is None else ""
        if o and n and o["description"] != n["description"]:
            note = f"description: {o['description']} → {n['description']}"
        if lines or note:
            entry = n or o
            changes.append(EntryChange(source, k[0], k[1], k[3], entry["description"], lines, note))
    errors = []
    oe = {_errant(e): e["message"] for e in old["errors"]}
    ne = {_errant(e): e["message"] for e in new["errors"]}
    for rid in sorted(set(oe) | set(ne)):
        if oe.get(rid) != ne.get(rid):
            if rid in oe:
                errors.append(f"- {rid}: {oe[rid]}")
            if rid in ne:
                errors.append(f"+ {rid}: {ne[rid]}")
    return changes, errors


def _errant(error: dict) -> str:
    """What an error is about: a receipt id, or a till closing (`{"closing": id, …}`)."""
    return error["receipt"] if "receipt" in error else f"closing {error['closing']}"


COLUMNS = ("", "account", "name", "debtor", "vat", "debit", "credit")
RIGHT = {"debit", "credit"}


def _row(line: LineChange) -> list[str]:
    return [line.sign, line.account, line.name, line.debtor, line.vat, line.debit, line.credit]


def render_text(changes: list[EntryChange], errors: dict[str, list[str]]) -> str:
    out = []
    for c in changes:
        head = f"{c.source} · {c.journal} · {c.date} · {c.description}"
        out.append(head + (f"  ({c.note})" if c.note else ""))
        if c.lines:
            rows = [list(COLUMNS)] + [_row(l) for l in c.lines]
            widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
            for r in rows:
                cells = [v.rjust(w) if COLUMNS[i] in RIGHT else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))]
                out.append("  " + "  ".join(cells).rstrip())
        out.append("")
    for source, lines in errors.items():
        out.append(f"{source} · receipts in errors")
        out.extend("  " + l for l in lines)
        out.append("")
    return "\n".join(out) + "\n" if out else ""


def render_markdown(changes: list[EntryChange], errors: dict[str, list[str]]) -> str:
    out = []
    for c in changes:
        out.append(f"**{c.source}** · {c.journal} · {c.date} · {c.description}" + (f" ({c.note})" if c.note else ""))
        out.append("")
        if c.lines:
            out.append("| | account | name | debtor | vat | debit | credit |")
            out.append("|---|---|---|---|---|--:|--:|")
            for l in c.lines:
                out.append("| " + " | ".join(_row(l)) + " |")
            out.append("")
    for source, lines in errors.items():
        out.append(f"**{source}** · receipts in errors")
        out.append("")
        out.extend(f"    {l}" for l in lines)
        out.append("")
    return "\n".join(out) + "\n" if out else ""


@dataclass
class DiffResult:
    changes: list[EntryChange]
    errors: dict[str, list[str]]  # receipt file → changed error lines
    files: int

    @property
    def changed(self) -> bool:
        return bool(self.changes or self.errors)

    def summary(self) -> str:
        if not self.changed:
            return f"no journal line changes in {self.files} receipt file(s)"
        n_lines = sum(len(c.lines) for c in self.changes)
        return (f"{len(self.changes)} entr{'y' if len(self.changes) == 1 else 'ies'} changed "
                f"({n_lines} line(s) -/+), {sum(len(v) for v in self.errors.values())} receipt error line(s) "
                f"changed, in {self.files} receipt file(s)")


def diff_books(old_spec: str, new_spec: str, receipts: list[str]) -> DiffResult:
    """Book every receipt file with both versions and collect what changes."""
    from ..api import book, canonical, read_receipts

    with tempfile.TemporaryDirectory(prefix="tillpost-diff-") as scratch:
        old_rules = compile_version(old_spec, Path(scratch))
        new_rules = compile_version(new_spec, Path(scratch))
    names = {a.number: a.description for a in old_rules.accounts.values()}
    names.update({a.number: a.description for a in new_rules.accounts.values()})
    changes: list[EntryChange] = []
    errors: dict[str, list[str]] = {}
    files = receipt_files(receipts)
    for f in files:
        old = canonical(book(old_rules, read_receipts(str(f), old_rules)), old_rules)
        new = canonical(book(new_rules, read_receipts(str(f), new_rules)), new_rules)
        c, e = compare(str(f), old, new, names)
        changes.extend(c)
        if e:
            errors[str(f)] = e
    return DiffResult(changes, errors, len(files))
