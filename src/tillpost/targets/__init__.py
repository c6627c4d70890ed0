"""Payload targets: canonical entries → an accounting package's import format.

Each target is a folder here: `manifest.yaml` (what it renders, its file
extension, the settings it takes, what it cannot express) and Jinja templates.
Python builds one context from the canonical journal (SPEC §7) and the rule
file's declarations; templates only lay it out. Amounts, dates and receipt text
go through the filters of `filters.py`, so no template formats money or escapes
text by hand.

    from tillpost.targets import render
    rendering = render(result, ruleset, "hledger")   # BookResult or canonical dict
    rendering.errors                                 # entries the target cannot express
    rendering.documents                              # [Document(name, text)]
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, UndefinedError

from ..engine.diagnostics import Diagnostics
from ..engine.ruleset import CLOSING_KINDS, RuleSet
from . import filters
from .invoices import invoice_view, receipts_for_invoices

HERE = Path(__file__).resolve().parent
SINGLE = "single"  # one document for the whole batch
PER_INVOICE = "per-invoice"  # one document per individual sales entry (one receipt)
PER_JOURNAL = "per-journal"


class TargetError(Exception):
    """The target cannot render at all: unknown, or a required setting is missing."""


@dataclass(frozen=True)
class Setting:
    name: str
    description: str
    required: bool = False
    default: str | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    extension: str
    format: str  # xml | json | text | csv: decides autoescape and how documents are joined
    renders: str  # entries | invoices | both
    documents: str  # single | per-invoice | per-journal
    template: str
    folder: Path
    settings: dict[str, Setting] = field(default_factory=dict)
    debtors: bool = True  # can it carry a debtor on a line?
    vat_codes: bool = False  # does it need a `code` on every VAT it writes?
    # The longest code the package takes: {"journal": 3, "account": 20, "vat": 3}. A longer code is
    # an error, never cut: a cut code would book on another journal or account.
    limits: dict[str, int] = field(default_factory=dict)
    sales_debtor: bool = False  # does a sales entry need exactly one debtor line (the invoice's customer)?
    sales_line_kinds: tuple[str, ...] = ()  # when set: the only kinds of line a sales entry may have
    validated_by: str = ""
    docs: tuple[str, ...] = ()
    # The package's own ids of our accounts, journals, debtors and VAT names, given as settings
    # named by a prefix: `target snelstart grootboek-8000 "<uuid>"` is {"account": "grootboek-"}.
    ids: dict[str, str] = field(default_factory=dict)
    # per profile, what the customer must have (see buyers.py): [{field, rule, seller?, buyer?}]
    buyer_requires: dict = field(default_factory=dict)

    def setting(self, name: str) -> Setting | None:
        """The declared setting `name` is, also for a family of settings such as `grootboek-*`."""
        if name in self.settings:
            return self.settings[name]
        for declared, s in self.settings.items():
            if declared.endswith("*") and name.startswith(declared[:-1]) and len(name) > len(declared) - 1:
                return s
        return None


@dataclass(frozen=True)
class Document:
    name: str  # a file name, for targets that write a folder
    text: str


@dataclass
class Rendering:
    target: Target
    documents: list[Document]
    errors: list[str]  # one per entry the target cannot express, naming entry and target
    # positions (0-based) in the journal's entries of those not rendered: the ones in `errors`, and
    # for an invoice target the entries that are no invoices (an export leaves them unexported)
    left_out: list[int] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # the `target …` lines that would give the ids it lacks

    @property
    def missing_ids(self) -> str | None:
        """The ids the entries in `errors` lack, said once: the `target …` lines to add."""
        if not self.missing:
            return None
        return (f"target {self.target.name}: the rule file lacks {len(self.missing)} id(s); add:\n"
                + "\n".join(f"  {line}" for line in self.missing))

    @property
    def text(self) -> str:
        """All documents as one text (the single document of a single-document target)."""
        return "".join(d.text for d in self.documents)


def _load(folder: Path) -> Target:
    data = yaml.safe_load((folder / "manifest.yaml").read_text(encoding="utf-8"))
    settings = {
        name: Setting(name, s.get("description", ""), bool(s.get("required", False)),
                      None if s.get("default") is None else str(s["default"]),
                      tuple(s.get("choices", ())), s.get("pattern"))
        for name, s in (data.get("settings") or {}).items()
    }
    return Target(
        name=data["name"], description=data["description"], extension=data["extension"],
        format=data["format"], renders=data["renders"], documents=data.get("documents", SINGLE),
        template=data.get("template", "document.j2"), folder=folder, settings=settings,
        debtors=data.get("debtors", True), vat_codes=data.get("vat_codes", False),
        limits=dict(data.get("limits") or {}),
        sales_debtor=data.get("sales_debtor", False), validated_by=data.get("validated_by", ""),
        sales_line_kinds=tuple(data.get("sales_line_kinds", ())), docs=tuple(data.get("docs", ())),
        ids=dict(data.get("ids") or {}), buyer_requires=dict(data.get("buyer_requires") or {}),
    )


@cache
def targets() -> dict[str, Target]:
    """Every bundled target, by name."""
    found = {}
    for folder in sorted(HERE.iterdir()):
        if (folder / "manifest.yaml").is_file():
            target = _load(folder)
            found[target.name] = target
    return found


def get_target(name: str) -> Target:
    try:
        return targets()[name]
    except KeyError:
        raise TargetError(f"unknown target '{name}'; the targets are: {', '.join(targets())}") from None


# -- settings -----------------------------------------------------------------------------


def check_target_settings(ruleset: RuleSet, diagnostics: Diagnostics | None = None) -> Diagnostics:
    """Diagnostics for the rule file's `target` lines: unknown targets and settings, bad values,
    and required settings missing from a target the file configures. `tillpost check` can call it."""
    import re

    from ..engine.syntax import did_you_mean

    def guess(word: str, choices) -> str:
        close = did_you_mean(word, choices)
        return f"; did you mean '{close}'?" if close else ""

    d = diagnostics if diagnostics is not None else Diagnostics()
    if not ruleset.target_settings:
        return d  # nothing to check: not worth reading every target's manifest
    for file in ruleset.files:
        if file not in d.sources and os.path.isfile(file):
            d.add_source(file, Path(file).read_text(encoding="utf-8"))
    known = targets()
    first_pos = {}
    for ts in ruleset.target_settings:
        first_pos.setdefault(ts.target, ts.target_pos or ts.pos)
        target = known.get(ts.target)
        if target is None:
            d.error(ts.target_pos or ts.pos, f"unknown target '{ts.target}'; expected one of: {', '.join(known)}"
                    + guess(ts.target, known))
            continue
        setting = target.setting(ts.setting)
        if setting is None:
            expected = ", ".join(target.settings) or "none"
            d.error(ts.setting_pos or ts.pos, f"target '{ts.target}' has no setting '{ts.setting}'; its settings: {expected}"
                    + guess(ts.setting, [n for n in target.settings if not n.endswith("*")]))
        elif setting.choices and ts.value not in setting.choices:
            d.error(ts.pos, f"setting '{ts.setting}' of target '{ts.target}' is one of {', '.join(setting.choices)}, "
                            f"not '{ts.value}'" + guess(ts.value, setting.choices))
        elif setting.pattern and not re.fullmatch(setting.pattern, ts.value):
            d.error(ts.pos, f"setting '{ts.setting}' of target '{ts.target}': '{ts.value}' is not "
                            f"{setting.description or setting.pattern}")
    for name, pos in first_pos.items():
        target = known.get(name)
        for setting in (target.settings.values() if target else ()):
            if setting.required and setting.name not in ruleset.targets.get(name, {}):
                d.error(pos, f"target '{name}' needs setting '{setting.name}' ({setting.description}): "
                             f"add `target {name} {setting.name} \"…\"`")
        if target is not None and target.buyer_requires:
            _check_buyers(ruleset, target, d)
    return d


def _check_buyers(ruleset: RuleSet, target: Target, d: Diagnostics) -> None:
    """The customers the rule file knows lack nothing the chosen profile requires (see buyers.py)."""
    from . import buyers

    given = ruleset.targets.get(target.name, {})
    settings = {s.name: s.default for s in target.settings.values() if s.default is not None}
    settings.update(given)
    for debtor, pos in buyers.known_debtors(ruleset, target).items():
        lacks = buyers.missing(target, settings, debtor)
        if lacks:
            d.error(pos, f"target '{target.name}': " + buyers.message(target, settings, debtor, lacks))


def resolve_settings(target: Target, ruleset: RuleSet, overrides: dict | None = None) -> dict[str, str]:
    """The target's settings: the rule file's, then overrides, then defaults; a missing required one raises."""
    import re

    given = {**ruleset.targets.get(target.name, {}), **(overrides or {})}
    unknown = sorted(name for name in given if target.setting(name) is None)
    if unknown:
        raise TargetError(f"target '{target.name}' has no setting {', '.join(map(repr, unknown))}; "
                          f"its settings: {', '.join(target.settings) or 'none'}")
    out = {}
    for name, value in given.items():  # members of setting families (`grootboek-8000`)
        s = target.setting(name)
        if name not in target.settings and s.pattern and not re.fullmatch(s.pattern, value):
            raise TargetError(f"setting '{name}' of target '{target.name}': '{value}' is not {s.description}")
        out[name] = value
    missing = [s for s in target.settings.values()
               if not s.name.endswith("*") and s.required and given.get(s.name, s.default) is None]
    if missing:  # all of them at once: one round trip to the client's file, not one per setting
        lines = [f"target {target.name} {s.name} \"…\"" for s in missing]
        if len(lines) == 1:
            raise TargetError(f"target '{target.name}' needs setting '{missing[0].name}' ({missing[0].description}): "
                              f"add `{lines[0]}` to the rule file")
        width = max(map(len, lines))
        raise TargetError(f"target '{target.name}' needs {len(lines)} settings the rule file does not give; add:\n"
                          + "\n".join(f"  {line:<{width}}  # {s.description}" for line, s in zip(lines, missing)))
    for s in target.settings.values():
        if s.name.endswith("*"):
            continue
        value = given.get(s.name, s.default)
        if value is not None and s.choices and value not in s.choices:
            raise TargetError(f"setting '{s.name}' of target '{target.name}' is one of {', '.join(s.choices)}, "
                              f"not '{value}'")
        out[s.name] = value
    return out


# -- the context templates see ------------------------------------------------------------


def _declarations(ruleset: RuleSet) -> dict:
    # The accounts `tax` rules credit: their lines are VAT lines, other lines with a VAT name are its base.
    vat_accounts = sorted({r.post.credit.number for r in ruleset.rules if r.kind == "tax" and r.post})
    # The accounts payment rules debit in a journal: the cash or clearing account the journal is "of".
    # A journal no payment rule posts in is "of" what the till closing's rules debit there (SPEC §11
    # writes them `post KAS kas -> kasverschillen`: the drawer first, the sign doing the rest).
    journal_accounts: dict[str, list[str]] = {}
    for kinds in (("payment",), CLOSING_KINDS):
        found: dict[str, list[str]] = {}
        for r in ruleset.rules:
            if r.kind in kinds and r.post and r.post.journal.name not in journal_accounts \
                    and r.post.debit.number not in found.get(r.post.journal.name, []):
                found.setdefault(r.post.journal.name, []).append(r.post.debit.number)
        journal_accounts.update(found)
    journals = {j.name: {"code": j.name, "type": j.type, "description": j.description,
                         "accounts": journal_accounts.get(j.name, [])}
                for j in ruleset.journals.values()}
    accounts = {a.number: {"number": a.number, "key": a.name, "name": a.description or a.name, "debtors": a.debtors}
                for a in ruleset.accounts.values()}
    vats = {v.name: {"name": v.name, "code": v.code, "rate": v.rate} for v in ruleset.vats.values()}
    methods = {m.name: {"name": m.name, "mode": m.mode, "debtor": m.debtor} for m in ruleset.methods.values()}
    return {"client": ruleset.client, "currency": ruleset.currency, "decimals": ruleset.decimals,
            "counter_debtor": ruleset.counter_debtor, "journals": journals, "accounts": accounts,
            "vats": vats, "methods": methods, "vat_accounts": vat_accounts}


def _entry_view(entry: dict, index: int, decl: dict) -> dict:
    lines = []
    for l in entry["lines"]:
        debit, credit = Decimal(l["debit"]), Decimal(l["credit"])
        lines.append({
            "account": decl["accounts"].get(l["account"]) or {"number": l["account"], "key": l["account"],
                                                              "name": l["account"], "debtors": False},
            "debit": debit, "credit": credit, "amount": debit - credit,  # signed: debit > 0
            "debtor": l["debtor"], "vat": decl["vats"].get(l["vat"]) if l["vat"] else None,
            "tax": l["account"] in decl["vat_accounts"],  # a VAT line (else, with a VAT name, a base line)
        })
        line = lines[-1]
        line["kind"] = ("debtor" if line["debtor"] else "tax" if line["tax"] else "base" if line["vat"] else "other")
    _share_vat(lines, decl["decimals"])
    journal = decl["journals"].get(entry["journal"]) or {"code": entry["journal"], "type": "memo",
                                                         "description": entry["journal"], "accounts": []}
    debtors = [l["debtor"] for l in lines if l["debtor"]]
    revenue = [l for l in lines if l["vat"] and not l["tax"]]
    return {
        "index": index, "journal": journal, "date": entry["date"], "mode": entry["mode"], "key": entry["key"],
        "description": entry["description"], "receipts": list(entry["receipts"]), "lines": lines,
        # the document's reference in the package, when the ledger exports it (delivery/export.py)
        "reference": entry.get("reference"),
        "total": sum((l["debit"] for l in lines), Decimal(0)),
        "debtor": debtors[0] if len(set(debtors)) == 1 else None,
        # the receivable (debtor lines, signed) and the lines the invoice is made of
        "receivable": sum((l["amount"] for l in lines if l["debtor"]), Decimal(0)),
        "revenue": revenue,
    }


def _share_vat(lines: list[dict], decimals: int) -> None:
    """Give each base line its share of its VAT name's VAT lines (`vat_share`, signed like `amount`),
    for targets that put the VAT on the revenue line. Shares are in proportion to the base amounts
    and add up exactly; what rounding leaves over goes to the largest line (the first, on a tie)."""
    for line in lines:
        line["vat_share"] = Decimal(0)
    by_vat: dict[str, list[dict]] = {}
    for line in lines:
        if line["kind"] == "base":
            by_vat.setdefault(line["vat"]["name"], []).append(line)
    for name, bases in by_vat.items():
        vat = sum((l["amount"] for l in lines if l["kind"] == "tax" and l["vat"]["name"] == name), Decimal(0))
        total = sum((l["amount"] for l in bases), Decimal(0))
        if not vat or not total:
            continue
        quantum = Decimal(1).scaleb(-decimals)
        for l in bases:
            l["vat_share"] = (vat * l["amount"] / total).quantize(quantum, rounding=ROUND_HALF_UP)
        largest = max(bases, key=lambda l: abs(l["amount"]))
        largest["vat_share"] += vat - sum((l["vat_share"] for l in bases), Decimal(0))


def _needed_ids(target: Target, entry: dict) -> list[tuple[str, str, str]]:
    """(what, our name, setting) of each package id `entry` needs, in order, once."""
    needed = []
    if "journal" in target.ids:
        needed.append(("journal", entry["journal"]["code"], target.ids["journal"] + entry["journal"]["code"]))
    for l in entry["lines"]:
        if "account" in target.ids:
            needed.append(("account", l["account"]["number"], target.ids["account"] + l["account"]["number"]))
        if l["debtor"] and "debtor" in target.ids:
            needed.append(("debtor", l["debtor"], target.ids["debtor"] + l["debtor"]))
        if l["kind"] == "base" and "vat" in target.ids:
            needed.append(("VAT", l["vat"]["name"], target.ids["vat"] + l["vat"]["name"]))
    return list(dict.fromkeys(needed))


def _problems(target: Target, entry: dict, settings: dict) -> list[str]:
    """Why `target` cannot express `entry` (empty when it can)."""
    out = []
    missing = [(what, name) for what, name, setting in _needed_ids(target, entry) if setting not in settings]
    if missing:  # which `target …` lines would give them is said once, in `Rendering.missing`
        out.append(f"no {target.name} id for " + ", ".join(f"{what} {name}" for what, name in missing))
    if not target.debtors and any(l["debtor"] for l in entry["lines"]):
        out.append("it has a debtor line and this target books no debtors")
    if target.vat_codes:
        missing = sorted({l["vat"]["name"] for l in entry["lines"] if l["vat"] and not l["vat"]["code"]})
        if missing:
            out.append(f"VAT {', '.join(missing)} has no code (declare it as `vat NAME RATE code \"…\"`)")
    codes = {"journal": {entry["journal"]["code"]}, "account": {l["account"]["number"] for l in entry["lines"]},
             "vat": {l["vat"]["code"] for l in entry["lines"] if l["vat"] and l["vat"]["code"]}}
    for what, limit in target.limits.items():
        long = sorted(c for c in codes.get(what, ()) if len(c) > limit)
        if long:
            label = {"vat": "VAT code"}.get(what, what)
            out.append(f"{label} {', '.join(long)} is longer than the {limit} characters {target.name} takes")
    if target.sales_line_kinds and entry["journal"]["type"] == "sales":
        odd = sorted({l["account"]["number"] for l in entry["lines"] if l["kind"] not in target.sales_line_kinds})
        if odd:
            out.append(f"a sales entry here holds only {', '.join(target.sales_line_kinds)} lines; "
                       f"account {', '.join(odd)} is none of them")
    if target.sales_debtor and entry["journal"]["type"] == "sales":
        debtors = {l["debtor"] for l in entry["lines"] if l["debtor"]}
        if len(debtors) != 1:
            out.append(f"a sales entry needs exactly one debtor, it has {len(debtors)}")
    return out


def _invoice(t: Target, view: dict, receipts: dict, decl: dict, values: dict) -> list[str]:
    """Make `view["invoice"]` (invoices.py); why it cannot be made, or the customer lacks what
    the profile requires (buyers.py)."""
    from . import buyers

    view["invoice"], problems = invoice_view(view, receipts.get(view["receipts"][0]) if view["receipts"] else None,
                                             decl["vats"], decl["decimals"])
    lacks = buyers.missing(t, values, view["debtor"])
    if lacks:
        problems.append(buyers.message(t, values, view["debtor"], lacks))
    return problems


def _canonical(result, ruleset: RuleSet) -> dict:
    if isinstance(result, dict):
        return result
    from ..engine.journal import canonical

    return canonical(result, ruleset)


@cache
def _environment(folder: Path, fmt: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=fmt == "xml", undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    filters.install(env)
    return env


def render(result, ruleset: RuleSet, target: str | Target, settings: dict | None = None,
           today: str | None = None) -> Rendering:
    """Render a BookResult (or the canonical dict of SPEC §7) for `target`.

    Entries the target cannot express are left out and listed in `errors`;
    an unknown target or a missing required setting raises `TargetError`.
    `today` is the creation date the payload states (an export pins it to its own time,
    so that rendering it again gives the same bytes); by default the date of today.
    """
    t = target if isinstance(target, Target) else get_target(target)
    values = resolve_settings(t, ruleset, settings)
    journal = _canonical(result, ruleset)
    decl = _declarations(ruleset)
    entries, errors, left_out, missing = [], [], [], {}
    invoice_receipts = receipts_for_invoices(result) if t.renders == "invoices" else {}
    for i, raw in enumerate(journal["entries"], 1):
        view = _entry_view(raw, i, decl)
        if t.renders == "invoices" and not (view["mode"] == "individual" and view["journal"]["type"] == "sales"):
            left_out.append(i - 1)
            continue  # an invoice target renders only the invoices: individual sales entries
        problems = _problems(t, view, values)
        missing.update(dict.fromkeys(setting for _, _, setting in _needed_ids(t, view) if setting not in values))
        if t.renders == "invoices" and not problems:
            problems = _invoice(t, view, invoice_receipts, decl, values)
        if problems:
            errors.append(f"target {t.name}: entry {raw['journal']} {raw['key']} ({raw['description']}): "
                          + "; ".join(problems))
            left_out.append(i - 1)
            continue
        entries.append(view)
    template = _environment(t.folder, t.format).get_template(t.template)
    ids = {what: {key[len(prefix):]: value for key, value in values.items() if key.startswith(prefix)}
           for what, prefix in t.ids.items()}
    base = {**decl, "settings": values, "ids": ids, "receipts": _receipts(result), "target": t.name, "today": today or _today(), "version": _version(),
            "periods": _periods(entries), "vat_pay_accounts": _vat_pay_accounts(entries),
            # (account number, debtor) of every debtor line: targets that declare sub-accounts need them
            "debtor_accounts": sorted({(l["account"]["number"], l["debtor"])
                                       for e in entries for l in e["lines"] if l["debtor"]})}
    try:
        if t.documents == SINGLE:
            documents = [Document(f"{_slug(ruleset.client)}.{t.extension}", template.render(**base, entries=entries))]
        elif t.documents == PER_JOURNAL:
            documents = []
            for code in sorted({e["journal"]["code"] for e in entries}):
                part = [e for e in entries if e["journal"]["code"] == code]
                documents.append(Document(f"{_file_name(code)}.{t.extension}", template.render(**base, entries=part)))
        else:
            documents = _distinct([Document(f"{_file_name(e['key'])}.{t.extension}",
                                           template.render(**base, entry=e, entries=[e])) for e in entries],
                                  [e["key"] for e in entries], t.extension)
    except UndefinedError as e:  # a template bug, never the user's: say which template
        raise TargetError(f"target '{t.name}': template {t.template}: {e}") from e
    return Rendering(t, documents, errors, left_out,
                     missing=[f"target {t.name} {setting} \"…\"" for setting in sorted(missing)])


def _receipts(result) -> dict[str, dict]:
    """What the receipts tell beyond the entries (the customer's name, the printed number), by
    receipt id, when the BookResult kept its bookings (`book(…, keep_bookings=True)`)."""
    out = {}
    for booking in getattr(result, "bookings", None) or ():
        r = booking.receipt
        out[r.id] = {"id": r.id, "number": r.number, "store": r.store, "register": r.register,
                     "customer": r.customer_name or "", "customer_id": r.customer_id or ""}
    return out


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tillpost")
    except PackageNotFoundError:
        return "dev"


def _today() -> str:
    """The creation date a payload states; SOURCE_DATE_EPOCH pins it for reproducible output."""
    from datetime import date, datetime, timezone

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), timezone.utc).date().isoformat()
    return date.today().isoformat()


def _periods(entries: list[dict]) -> list[dict]:
    """The calendar months the entries fall in: number (the month), first and last day."""
    import calendar

    months = sorted({e["date"][:7] for e in entries})
    out = []
    for ym in months:
        year, month = int(ym[:4]), int(ym[5:7])
        last = calendar.monthrange(year, month)[1]
        out.append({"number": month, "year": year, "start": f"{ym}-01", "end": f"{ym}-{last:02d}"})
    return out


def _vat_pay_accounts(entries: list[dict]) -> dict[str, str]:
    """VAT name → the account its VAT lines are booked on (the first seen)."""
    found: dict[str, str] = {}
    for e in entries:
        for l in e["lines"]:
            if l["tax"] and l["vat"]:
                found.setdefault(l["vat"]["name"], l["account"]["number"])
    return found


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "document"


_NAME_MAX = 80


def _file_name(key: str, hashed: bool = False) -> str:
    """A file name of its own for a document key (a receipt id, a journal code), whatever it holds:
    the key itself when it is a plain name (letters, digits, `.`, `_`, `-`; not starting with a
    dot; at most 80 characters), else its slug, cut short, and a short hash of the key, so `INV/1`
    and `INV_1`, or two emoji ids, never share a file and a 300-character id stays a file name."""
    import hashlib
    import re

    if not hashed and len(key) <= _NAME_MAX and re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", key):
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{_slug(key)[:_NAME_MAX].rstrip('._-') or 'document'}-{digest}"


def _distinct(documents: list[Document], keys: list[str], extension: str) -> list[Document]:
    """Names that differ only in case (`INV-1`, `inv-1`) share a file on a case-insensitive disk:
    the later ones get the hashed name."""
    seen: set[str] = set()
    out = []
    for doc, key in zip(documents, keys):
        if doc.name.casefold() in seen:
            doc = Document(f"{_file_name(key, hashed=True)}.{extension}", doc.text)
        seen.add(doc.name.casefold())
        out.append(doc)
    return out


# -- the command line ---------------------------------------------------------------------


def render_to(result, ruleset: RuleSet, target: str, out: str | None) -> None:
    """`tillpost book … --target NAME [-o OUT]`: write the rendering; problems on stderr.

    Exits 2 when the target cannot render at all; entries it cannot express are
    reported as errors (exit 1, like receipts in `errors`), the rest is written.
    """
    import click

    try:
        rendering = render(result, ruleset, target)
    except TargetError as e:
        click.echo(f"tillpost: {e}", err=True)
        sys.exit(2)
    from ..engine.terminal import printable, printable_lines

    for err in rendering.errors:
        click.echo(printable(f"error: {err}"), err=True)
    if rendering.missing_ids:
        click.echo(printable_lines(f"error: {rendering.missing_ids}"), err=True, nl=False)
    try:
        write_rendering(rendering, out)
    except (OSError, TargetError) as e:
        click.echo(f"tillpost: {e}", err=True)
        sys.exit(2)
    if rendering.errors and not result_errors(result):
        sys.exit(1)


def result_errors(result) -> list:
    return result["errors"] if isinstance(result, dict) else result.errors


def write_rendering(rendering: Rendering, out: str | None) -> list[Path]:
    """Write to OUT: a file for single-document targets (stdout without OUT), a folder otherwise."""
    import click

    if rendering.target.documents == SINGLE:
        if out and out != "-":
            Path(out).write_text(rendering.text, encoding="utf-8", newline="")
            return [Path(out)]
        click.echo(rendering.text, nl=False)
        return []
    if not out or out == "-":
        raise TargetError(f"target '{rendering.target.name}' writes one document per "
                          f"{'invoice' if rendering.target.documents == PER_INVOICE else 'journal'}: "
                          f"give a folder with -o")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise TargetError(f"{out} is a file; target '{rendering.target.name}' writes a folder")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for doc in rendering.documents:
        path = folder / doc.name
        path.write_text(doc.text, encoding="utf-8", newline="")
        written.append(path)
    return written


__all__ = ["Document", "Rendering", "Setting", "Target", "TargetError", "check_target_settings", "get_target",
           "render", "render_to", "resolve_settings", "targets", "write_rendering"]
