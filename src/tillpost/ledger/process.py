"""Trial and final runs: receipts in, immutable entries and one status per receipt out.

Statuses. Every receipt the ledger has seen has one row and exactly one status, which says where it stands now:

    booked    its content is booked, in the entry of its group (day/store, or its own invoice)
    late      its content is booked, in a supplementary entry: it arrived after its day was booked
    changed   its content is booked through a correction: the earlier booking reversed, the new booked
    open      seen as open; nothing booked; booked when it comes again completed
    voided    seen as voided; nothing booked (a voided receipt that was booked is reversed)
    error     cannot be booked; the reason says why; every later run that sees it retries it, and
              `--retry-errors` retries the queue alone. If it was booked before (its new content is
              broken, or it went back to open), that booking stands until the content books.

Receipts are told apart by id, as within one input (`book` reports an id seen twice
as an error): give each POS its own id prefix when several feed one ledger.

What a run does with a receipt it sees, given what the ledger holds:

    same content hash as stored     nothing (an error is retried)
    new, or not booked yet          booked in the group's entry; if the group (journal, mode, key)
                                    already has a booked entry, in a supplementary entry: late
    booked, content changed         a reversal of exactly the legs it booked (as stored, whatever
                                    the rule file says now) + its new booking, each in a correction
                                    entry pointing at the entries it corrects: changed. Only the
                                    groups (journal, day/store) whose books change are corrected;
                                    the same books under other content correct nothing.
    booked, now voided              the reversal only: voided
    booked, now broken or open      error; its booking stands (the booked content again restores
                                    its status, with no correction entries)

Booked entries are never updated or deleted (the store's triggers refuse it).
A final run is one transaction; a trial run plans the same and writes nothing.
"""

from __future__ import annotations

import datetime as _dt
import gc
import getpass
import hashlib
import itertools
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple
from decimal import Decimal, localcontext

import msgspec
import orjson

from ..engine.book import _read
from ..engine.entries import ZERO, Entry, EntryBuilder, EntryLine, _entry
from ..engine.journal import entry_dict, entry_fields, entry_lines
from ..engine.postings import Booking, ReceiptError, Stem, book_receipt, receipt_attributes
from ..engine.exact import EXACT
from ..engine.closings import ClosingError, ClosingItem, book_closing, closing_id, take_closings
from ..engine.decoding import escaped
from ..engine.receipts import Receipt, ReceiptInvalid, Records, _FloatSeen, decode_receipt, receipt_id
from ..engine.ruleset import RuleSet
from .store import ReceiptRow, Store, StoredReceipt

STATUSES = ("booked", "late", "changed", "open", "voided", "error")
BOOKED = ("booked", "late", "changed")
KIND_ORDER = {"regular": 0, "supplement": 1, "reversal": 2, "rebooking": 3}
FROM_LEDGER = "<ledger>"  # the input name of receipts retried from their stored content
STANDS = " (its earlier booking stands)"
WAITING = ("error", "open")  # statuses whose receipts keep their content in the ledger

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Selection:
    """Which receipts of the input a run processes (the Exact Globe selection)."""

    stores: tuple[str, ...] = ()
    registers: tuple[str, ...] = ()
    receipts: tuple[str, ...] = ()
    retry_errors: bool = False

    def matches(self, obj) -> bool:
        if not isinstance(obj, dict):
            return not (self.stores or self.registers or self.receipts)
        if self.stores and obj.get("store") not in self.stores:
            return False
        if self.registers and obj.get("register") not in self.registers:
            return False
        if self.receipts and obj.get("id") not in self.receipts:
            return False
        return True

    def as_dict(self) -> dict:
        return {"store": list(self.stores), "register": list(self.registers), "receipt": list(self.receipts),
                "retry_errors": self.retry_errors}


@dataclass(slots=True)
class Seen:
    """One receipt of the input: its identity, content hash and where to read it again.

    Its content is not kept: a run of 100,000 receipts would hold them all. The few
    that wait in the ledger (open, error) are read again when they are written. A run
    holds the Seen of one batch at a time (`scan_batches`).
    """

    key: tuple[str, str]  # (source, id)
    hash: str
    fields: tuple  # store, register, number, date, created (as found, "" when unreadable)
    records: Records | None  # where a receipt is (None for a closing)
    index: int
    copies: int = 1
    closing: ClosingItem | None = None  # a till closing (SPEC §11) instead of a receipt

    @property
    def kind(self) -> str:
        return "receipt" if self.closing is None else "closing"

    @property
    def content(self) -> str:
        if self.closing is not None:
            return content_of(self.closing.decoded())
        return content_of(decoded(self.records, self.index))


@dataclass(slots=True)
class Change:
    """What a run does to one receipt."""

    seen: Seen
    stored: StoredReceipt | None
    status: str
    reason: str | None
    booked_as: str | None  # the status its standing booking was made under; None: nothing booked
    booked_hash: str | None  # the content hash of that booking
    payments: str  # JSON: [[method, amount, journal (null while nothing is booked)], …]
    booking: Booking | None = None  # the new legs to book
    reverse: bool = False  # take out what it booked before (a change, or voided after booking)
    groups: list = field(default_factory=list)  # (group, legs as JSON) this run posts, per entry
    pk: int = 0


class Outcome(NamedTuple):
    """What a run did to one receipt (or closing): all its result keeps of it once it is written."""

    kind: str  # receipt | closing
    key: tuple[str, str]  # (source, id)
    status: str
    reason: str | None


@dataclass
class RunResult:
    run: int
    final: bool
    entries: list[dict]  # ledger entries: id, kind, corrects + the canonical entry (see `n_entries`)
    changes: list[Outcome]
    unchanged: int
    decimals: int
    entry_ids: dict = field(default_factory=dict)  # group (kind, journal, mode, key, corrects) → entry id
    duplicate_of: tuple[str, int] | None = None  # (file name, run) that booked the same file before
    n_entries: int | None = None  # the entries made, when a final run kept none of them (details=False)
    tally: dict = field(default_factory=dict)  # counts (as `counts`) of the outcomes not kept (details=False)

    @property
    def counts(self) -> dict:
        """Receipts per status; till closings booked (in any status but error) and in error."""
        counts = {s: 0 for s in STATUSES}
        counts["closings"] = counts["closing_errors"] = 0
        for c in self.changes:
            if c.kind == "receipt":
                counts[c.status] += 1
            else:
                counts["closing_errors" if c.status == "error" else "closings"] += 1
        for what, n in self.tally.items():
            counts[what] += n
        counts["unchanged"] = self.unchanged
        counts["entries"] = len(self.entries) if self.n_entries is None else self.n_entries
        return counts

    def receipts(self, kind: str = "receipt") -> dict:
        """The ids per status (errors with their message) of the receipts (or closings) the run changed."""
        out: dict = {s: [] for s in STATUSES}
        for c in sorted(self.changes, key=lambda c: c.key[1]):
            if c.kind != kind:
                continue
            rid = c.key[1]
            out[c.status].append({kind: rid, "message": c.reason} if c.status == "error" else rid)
        return out

    def closings(self) -> dict:
        out = self.receipts("closing")
        return {s: ids for s, ids in out.items() if s in ("booked", "late", "changed", "error")}

    def as_dict(self) -> dict:
        out = {"run": self.run, "mode": "final" if self.final else "trial", "entries": self.entries,
               "receipts": self.receipts(), "counts": self.counts}
        if any(c.kind == "closing" for c in self.changes):
            out["closings"] = self.closings()
        return out

    def summary(self) -> str:
        c = self.counts
        what = "final run" if self.final else "trial run (nothing written)"
        closings = ""
        if c["closings"] or c["closing_errors"]:
            closings = f"; {c['closings']} till closing(s) booked, {c['closing_errors']} in error"
        return (f"{what} {self.run}: {sum(c[s] for s in STATUSES) + c['unchanged']} receipts: {c['booked']} booked, "
                f"{c['late']} late, {c['changed']} changed, {c['open']} open, {c['voided']} voided, "
                f"{c['error']} errors, {c['unchanged']} unchanged{closings}; {c['entries']} entries")


# -- reading the input ---------------------------------------------------------------------


_exact = msgspec.json.Decoder(float_hook=Decimal)


def decoded(records: Records, i: int):
    """Receipt i of the input as data, a JSON number with a fraction as Decimal: the content the
    ledger hashes and keeps must say 12.50 where the input did, never a float's 12.5."""
    item = records.items[i]
    if type(item) is bytes:
        try:
            return _exact.decode(item)
        except (msgspec.MsgspecError, RecursionError):
            pass  # what plain JSON is not (malformed, NaN, too deep, huge integers): `get` reads it carefully
    return records.get(i)


def content_of(obj) -> str:
    """The canonical JSON of a decoded receipt (sorted keys): what its hash is taken of."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS, default=str).decode()
    except TypeError:  # integers past 64 bits: the standard library writes them
        return json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"), ensure_ascii=False)


def content_digest(obj) -> str:
    """The sha256 of `content_of(obj)`, from orjson's bytes when it can write them."""
    try:
        data = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:
        data = content_of(obj).encode()
    return hashlib.sha256(data).hexdigest()


_SEEN_TEXTS = ("source", "store", "register", "number", "date", "created")


def _seen_texts(obj) -> list[str]:
    """`_text` of a receipt's source, store, register, number, date and created, in one call:
    `scan_batches` reads them for every receipt of the input."""
    if type(obj) is not dict:
        return ["", "", "", "", "", ""]
    out = []
    for value in map(obj.get, _SEEN_TEXTS):
        out.append(value if isinstance(value, str) else "")
    return out


def _text(obj, key: str) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""


def _seen_once(seen: dict[str, Seen], obj, rid: str, make) -> None:
    digest = content_digest(obj)
    if rid.startswith("#"):
        # No id: it can only be told apart by its content.
        rid = "#" + digest[:12]
    if rid in seen:
        seen[rid].copies += 1
        return
    source, store, register, number, date, created = _seen_texts(obj)
    fields = (store, register, number, date, created or _text(obj, "closed") or None)
    seen[rid] = make((source, rid), digest, fields)


def scan_closings(inputs: list[Records], selection: Selection) -> dict[str, Seen]:
    """Every selected till closing of the inputs once (by id), with how often its id occurs."""
    seen: dict[str, Seen] = {}
    for records in inputs:
        for item in records.closings:
            obj = item.decoded()
            if selection.matches(obj):
                _seen_once(seen, obj, closing_id(obj, item.position),
                           lambda key, digest, fields, item=item: Seen(key, digest, fields, None, item.position,
                                                                       closing=item))
    return seen


class _Head(msgspec.Struct):
    """What the first pass over the input reads of a receipt: its id, and what a selection looks at."""

    id: object = None
    store: object = None
    register: object = None


_head = msgspec.json.Decoder(_Head)


def _selected_id(records: Records, i: int, selection: Selection) -> str | None:
    """The id a run knows receipt i of the input by (None: not selected), as `scan_batches` finds it:
    read from its id alone when it is plain JSON with a plain id, else from the whole receipt."""
    item = records.items[i]
    if type(item) is bytes and not (records.errors and i in records.errors):
        try:
            head = _head.decode(item)
        except (msgspec.MsgspecError, RecursionError):
            head = None
        if head is not None and type(head.id) is str and head.id:
            if selection.matches({"id": head.id, "store": head.store, "register": head.register}):
                return escaped(head.id)
            return None
    obj = decoded(records, i)
    if not selection.matches(obj):
        return None
    rid = receipt_id(obj, i)
    return rid if not rid.startswith("#") else "#" + content_digest(obj)[:12]


def _copies(inputs: list[Records], selection: Selection) -> dict[str, int]:
    """The ids that occur more than once among the selected receipts, and how often."""
    once: set[str] = set()
    more: dict[str, int] = {}
    for records in inputs:
        for i in range(len(records)):
            rid = _selected_id(records, i, selection)
            if rid is None:
                continue
            if rid in once:
                more[rid] = more.get(rid, 1) + 1
            else:
                once.add(rid)
    return more


def scan_batches(inputs: list[Records], selection: Selection, progress: Progress | None = None,
                 size: int = 5000):
    """Every selected receipt of the inputs once (by id), with how often its id occurs, in batches of
    `size`: a first pass counts the ids (reading them alone), so that a run holds one batch at a time."""
    copies = _copies(inputs, selection)
    met: set[str] = set()  # the ids that occur more than once, met already
    batch: list[Seen] = []
    total = sum(len(r) for r in inputs)
    done = 0
    # The receipts of a day share their source, stores, registers, date and many a time stamp:
    # one string each, not one per receipt, for as long as the run holds them.
    shared: dict[str, str] = {}
    one = shared.setdefault
    for records in inputs:
        for i in range(len(records)):
            done += 1
            if progress and done % 1000 == 0:
                progress("reading", done, total)
            obj = decoded(records, i)
            if not selection.matches(obj):
                continue
            digest = content_digest(obj)
            rid = receipt_id(obj, i)
            if rid.startswith("#"):
                # No id: it can only be told apart by its content.
                rid = "#" + digest[:12]
            n = copies.get(rid, 1)
            if n > 1:
                if rid in met:
                    continue
                met.add(rid)
            source, store, register, number, date, created = _seen_texts(obj)
            fields = (one(store, store), one(register, register), number, one(date, date),
                      one(created, created) if created else None)
            batch.append(Seen((one(source, source), rid), digest, fields, records, i, n))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch
    if progress:
        progress("reading", total, total)


def scan(inputs: list[Records], selection: Selection, progress: Progress | None = None) -> dict[str, Seen]:
    """Every selected receipt of the inputs once (by id), with how often its id occurs."""
    return {s.key[1]: s for batch in scan_batches(inputs, selection, progress) for s in batch}


def stored_records(rows: list[tuple[str, str, str]]) -> Records:
    """Stored receipt (and closing) contents, readable again exactly like JSON Lines."""
    records = Records(FROM_LEDGER, [content.encode() for _, _, content in rows])
    take_closings(records)
    return records


# -- deciding, per receipt -----------------------------------------------------------------


def _booked_payments(booking: Booking, ruleset: RuleSet, cache: dict) -> str:
    """[method, amount, journal] per payment of a booked receipt: the journal its rule posts it in, or "skip".

    The payment rule is looked up again rather than through `Booking.matched`, which
    decomposes the receipt a second time; a booked receipt's total is what it paid.
    """
    receipt = booking.receipt
    total = sum((p.amount for p in receipt.payments), receipt.cash_rounding)
    rvalues = receipt_attributes(receipt, ruleset, booking.mode, total < 0)
    out = []
    for p in receipt.payments:
        journal = cache.get((rvalues, p.method))
        if journal is None:
            rule = ruleset.matcher.lookups["payment"](rvalues, (p.method,))
            journal = cache[(rvalues, p.method)] = rule.post.journal.name if rule and rule.post else "skip"
        out.append([p.method, str(p.amount), journal])
    return orjson.dumps(out).decode()


def _payments(obj) -> str:
    """[method, amount, None] per payment of a receipt that is not booked (as far as readable)."""
    out = []
    if isinstance(obj, Receipt):
        out = [[p.method, str(p.amount), None] for p in obj.payments]
    elif isinstance(obj, dict) and isinstance(obj.get("payments"), list):
        for p in obj["payments"]:
            if isinstance(p, dict) and isinstance(p.get("method"), str):
                out.append([p["method"], str(p.get("amount")), None])
    return orjson.dumps(out, default=str).decode()


def _read_seen(seen: Seen):
    """(decoded object or Receipt, Receipt or None, problem) of a receipt of the input: its JSON
    text straight into a Receipt when it reads cleanly (as `book` does), else the careful way."""
    records = seen.records
    item = records.items[seen.index]
    if type(item) is bytes and not (records.errors and seen.index in records.errors):
        try:
            receipt = decode_receipt(item)
            return receipt, receipt, None
        except (ReceiptInvalid, _FloatSeen):
            pass
    return _read(records, seen.index)


def decide(ruleset: RuleSet, seen: Seen, stored: StoredReceipt | None, stored_payments, cache: dict) -> Change:
    was_booked = bool(stored and stored.booked_as)
    if was_booked and seen.copies == 1 and seen.hash == stored.booked_hash:
        # Back to the content that is booked (after a broken version or a duplicate): nothing to book.
        return Change(seen, stored, stored.booked_as, None, stored.booked_as, stored.booked_hash, stored_payments)
    obj, receipt, problem = _read_seen(seen)
    if problem is not None and stored and stored.status == "error" and stored.hash == seen.hash \
            and seen.records.source == FROM_LEDGER:
        # Retried from the ledger, the same unreadable content keeps the reason it was given
        # when read (a source adapter's message says more than the schema check of its stand-in).
        problem = (stored.reason or problem).removesuffix(STANDS)
    keep = (stored.booked_as, stored.booked_hash) if was_booked else (None, None)
    stands = STANDS if was_booked else ""
    if seen.copies > 1:
        problem = f"id {seen.key[1]} occurs {seen.copies} times in this input; none of them is booked"
    if problem is None and receipt.status == "completed":
        booking = book_receipt(receipt, ruleset)
        if isinstance(booking, ReceiptError):
            problem = booking.message
        else:
            status = "changed" if was_booked else "booked"  # or late: decided when its entries are
            change = Change(seen, stored, status, None, status, seen.hash,
                            _booked_payments(booking, ruleset, cache), booking=booking)
            change.reverse = was_booked
            return change
    if problem is not None:
        payments = stored_payments if was_booked else _payments(obj)
        return Change(seen, stored, "error", problem + stands, *keep, payments)
    if receipt.status == "open":
        if was_booked:
            return Change(seen, stored, "error", "reported open after it was booked" + stands, *keep, stored_payments)
        return Change(seen, stored, "open", None, None, None, _payments(obj))
    # voided
    change = Change(seen, stored, "voided", "voided after it was booked: its booking is reversed" if was_booked
                    else None, None, None, _payments(obj))
    change.reverse = was_booked
    return change


def decide_closing(ruleset: RuleSet, seen: Seen, stored: StoredReceipt | None, clash: str | None) -> Change:
    """What a run does with a till closing: booked (late, changed) like a receipt, or an error.

    `clash` is why it cannot be booked for its register and day whatever its content (another
    closing of that register and day, in this input or booked before)."""
    was_booked = bool(stored and stored.booked_as)
    if was_booked and seen.copies == 1 and seen.hash == stored.booked_hash and clash is None:
        return Change(seen, stored, stored.booked_as, None, stored.booked_as, stored.booked_hash, "[]")
    obj, closing, problem = seen.closing.read()
    keep = (stored.booked_as, stored.booked_hash) if was_booked else (None, None)
    stands = STANDS if was_booked else ""
    if seen.copies > 1:
        problem = f"id {seen.key[1]} occurs {seen.copies} times in this input; none of them is booked"
    elif problem is None and clash is not None:
        problem = clash
    if problem is None:
        booking = book_closing(closing, ruleset)
        if isinstance(booking, ClosingError):
            problem = booking.message
        else:
            status = "changed" if was_booked else "booked"
            change = Change(seen, stored, status, None, status, seen.hash, "[]", booking=booking)
            change.reverse = was_booked
            return change
    return Change(seen, stored, "error", problem + stands, *keep, "[]")


def closing_clashes(seen: dict[str, Seen], store: Store) -> dict[str, str]:
    """Closing id → why it clashes: a register closes once a day, so two closings of one store,
    register and day (in this input, or one booked before under another id) are errors."""
    by_register: dict[tuple, list[str]] = {}
    for cid, s in seen.items():
        shop, register, _, date, _ = s.fields
        if shop and date:
            by_register.setdefault((shop, register, date), []).append(cid)
    out: dict[str, str] = {}
    booked = store.closings_of(list(by_register))
    for (shop, register, date), ids in by_register.items():
        others = [o for o in ids]
        earlier = [b for b in booked.get((shop, register, date), []) if b not in ids]
        for cid in ids:
            also = [o for o in others if o != cid]
            if also:
                out[cid] = (f"register {register or '(none)'} of store {shop} is closed more than once on {date} "
                            f"in this input (also by {', '.join(also)}); a register closes once a day: none of "
                            "them is booked")
            elif earlier:
                out[cid] = (f"register {register or '(none)'} of store {shop} was closed on {date} already, by "
                            f"{', '.join(earlier)}; a register closes once a day (send that closing again, "
                            "corrected, under its own id)")
    return out


# -- building the entries ------------------------------------------------------------------


def _net(lines: dict, legs) -> None:
    for account, debtor, vat, amount in legs:
        k = (account, debtor, vat)
        lines[k] = lines.get(k, ZERO) + Decimal(amount)


def _entry_from(journal: str, date: str, mode: str, key: str, description: str, receipts, lines: dict,
                closings=()) -> Entry | None:
    out = []
    for (account, debtor, vat) in sorted(lines, key=lambda k: (k[0], k[1] or "", k[2] or "")):
        net = lines[(account, debtor, vat)]
        if net:
            out.append(EntryLine(account, net if net > 0 else ZERO, -net if net < 0 else ZERO, debtor, vat))
    if not out:
        return None
    return Entry(journal, date, mode, key, description, tuple(sorted(receipts)), tuple(out), tuple(sorted(closings)))


def _current_entries(rows: list[list[dict]]) -> dict[tuple, list[int]]:
    """Per group (journal, mode, key): the entries that hold the receipt's current booking there,
    those it was posted into since the group's last reversal."""
    current: dict[tuple, list[int]] = {}
    for row in rows:
        for g in row:
            group = (g["j"], g["m"], g["k"])
            if g["t"] == "reversal":
                current[group] = []
            elif g["e"] is not None:
                current.setdefault(group, []).append(g["e"])
    return current


def _stored_nets(rows: list[list[dict]]) -> dict[tuple, dict]:
    """Per group: what the receipt has booked there now, netted per (account, debtor, VAT)."""
    nets: dict[tuple, dict] = {}
    for row in rows:
        for g in row:
            _net(nets.setdefault((g["j"], g["m"], g["k"]), {}), g["l"])
    return {group: {k: v for k, v in lines.items() if v} for group, lines in nets.items()}


def _new_nets(booking: Booking) -> dict[tuple, dict]:
    key = "/".join(booking.key)
    nets: dict[tuple, dict] = {}
    for l in booking.legs:
        _net(nets.setdefault((l.journal, booking.mode, key), {}), [(l.account, l.debtor, l.vat, l.amount)])
    return {group: {k: v for k, v in lines.items() if v} for group, lines in nets.items()}


def _ids(ids) -> str:
    return ", ".join(str(i) for i in ids)


class _Planner:
    """Groups the run's bookings and reversals into new entries and numbers them."""

    def __init__(self, ruleset: RuleSet, store: Store, next_entry: int):
        self.ruleset = ruleset
        self.store = store
        self.booked_groups: set = set()  # (journal, mode, key) with a regular entry before this run
        self.asked: set[str] = set()  # the group keys the ledger was asked about
        self.next_entry = next_entry
        self.builders: dict[tuple, EntryBuilder] = {}  # (kind, corrects) → builder
        self.batch_builders: dict[tuple, EntryBuilder] = {}  # the same, for the batch's individual receipts
        self.made: list[tuple] = []  # (order, group, entry or None) of the entries made so far (see _keep)
        self.spool: list | None = None  # a final run's entries on their way to its spool
        self.reversals: dict[tuple, dict] = {}  # (journal, mode, key, corrects) → lines, receipts, entry ids
        # (group, store, date of the receipt) → stem (or (account, debtor, vat) for a reversal) → net:
        # what the run adds to the days
        self.totals: dict[tuple, dict] = {}
        self.heads: dict = {}  # stem → the JSON heads of its two legs (see _legs)
        self.groups: dict = {}  # (kind, journal, mode, key, corrects) → its number (see `group`)
        self.numbered: list[tuple] = []

    def _builder(self, kind: str, corrects: tuple, mode: str) -> EntryBuilder:
        # A receipt booked individually is the only one in its entries: they are made when its
        # batch is booked (`_made`), rather than kept as builders' groups to the end.
        builders = self.batch_builders if mode == "individual" else self.builders
        b = builders.get((kind, corrects))
        if b is None:
            b = builders[(kind, corrects)] = EntryBuilder(self.ruleset)
        return b

    def _made(self, builders: dict) -> None:
        """The entries of builders, described by their kind, into `made`; the builders emptied."""
        prefix = {"regular": "", "supplement": "Supplement: "}
        for kind, corrects in list(builders):
            before = prefix.get(kind, f"Correction of {_ids(corrects)}: ")
            for e in builders.pop((kind, corrects)).entries():
                self._keep(kind, corrects, e, before + e.description if before else e.description)

    def _keep(self, kind: str, corrects: tuple, e: Entry, description: str | None = None) -> None:
        """An entry made (`description` in place of its own): its order and group in `made`, with the
        entry itself, or, in a final run, with None: the entry waits in `spool` (see `_entry_row`)."""
        seq = len(self.made)
        group = self.group((kind, e.journal, e.mode, e.key, corrects))
        order = (e.date, e.journal, e.key, KIND_ORDER[kind], corrects, seq)
        if description is None:
            description = e.description
        if self.spool is not None:
            self.spool.append((seq, None, _entry_row(kind, corrects, e, description, self.ruleset.decimals)))
            self.made.append((order, group, None))
        else:
            if description is not e.description:  # the builder proved it balanced: not again
                e = _entry(e.journal, e.date, e.mode, e.key, description, e.receipts, e.lines, e.closings)
            self.made.append((order, group, e))

    def book_all(self, pending: list[tuple[Change, tuple, frozenset]]) -> None:
        """Book a batch of changes, asking the ledger once which of their groups are booked."""
        keys = {"/".join(c.booking.key) for c, _, _ in pending} - self.asked
        if keys:
            self.booked_groups |= self.store.booked_groups(keys)
            self.asked |= keys
        for change, corrects, keep in pending:
            self.book(change, corrects, keep)
            if change.reverse and not change.groups:
                # Other content, the same books (a name, a time stamp): nothing to correct.
                change.status = change.booked_as = change.stored.booked_as
            change.booking = None  # its legs are in the planner and in change.groups now
        self._made(self.batch_builders)

    def book(self, change: Change, corrects: tuple = (), keep: frozenset = frozenset()) -> None:
        """Book the change's new legs; groups in `keep` already hold exactly these and are left alone.

        Each journal's part goes into a regular entry, a supplement (its group was booked
        before this run) or a rebooking (a correction); the parts of one kind are added to
        that kind's entries in one go.
        """
        booking = change.booking
        mode, key = booking.mode, "/".join(booking.key)
        by_journal: dict[str, list] = {}
        for posting in booking.postings:
            journal = posting[0].journal
            part = by_journal.get(journal)
            if part is None:
                if (journal, mode, key) in keep:
                    continue
                part = by_journal[journal] = []
            part.append(posting)
        by_kind: dict[str, list] = {}
        shop, date = change.seen.fields[0], change.seen.fields[3]
        for journal, postings in by_journal.items():
            if corrects:
                kind = "rebooking"
            elif (journal, mode, key) in self.booked_groups:
                kind = "supplement"
            else:
                kind = "regular"
            by_kind.setdefault(kind, []).extend(postings)
            group = self.group((kind, journal, mode, key, corrects))
            change.groups.append((group, self._legs(postings)))
            self._total(group, shop, date, postings)
        for kind, postings in by_kind.items():
            part = booking if len(by_kind) == 1 and len(postings) == len(booking.postings) else \
                type(booking)(booking.receipt, mode, booking.key, postings, booking.ruleset)
            self._builder(kind, corrects, mode).add(part)
        if "supplement" in by_kind and change.status == "booked":
            change.status = change.booked_as = "late"

    def _legs(self, postings) -> str:
        """The postings' legs as the JSON the ledger keeps: [[account, debtor, vat, amount], …],
        debit then credit per posting. Written from each stem's two JSON heads, made once:
        booking a day writes this for every receipt."""
        heads = self.heads
        parts = []
        for stem, amount in postings:
            pair = heads.get(stem)
            if pair is None:
                pair = heads[stem] = (orjson.dumps(list(stem.debit)).decode()[:-1] + ',"',
                                      orjson.dumps(list(stem.credit)).decode()[:-1] + ',"')
            text = str(amount)
            parts.append(pair[0] + text + '"]')
            parts.append(pair[1] + (text[1:] if text[0] == "-" else "-" + text) + '"]')
        return "[" + ",".join(parts) + "]"

    def _total(self, group: tuple, shop: str, date: str, postings) -> None:
        """Add a group's postings to the day totals, per stem (spread over lines in `day_deltas`).

        An entry of one receipt (individual) is dated the receipt's day, so its sums join
        those of its journal, store and day: a day of invoices keeps a few sums, not one per invoice."""
        if group[2] == "individual":
            group = (None, group[1])
        sums = self.totals.get((group, shop, date))
        if sums is None:
            sums = self.totals[(group, shop, date)] = {}
        get = sums.get
        for stem, amount in postings:
            sums[stem] = get(stem, ZERO) + amount

    def reverse(self, change: Change, rows: list[list[dict]], keep: frozenset = frozenset()) -> tuple:
        """Take out exactly what the receipt booked, as stored, except in the groups in `keep`
        (where its new booking is the same); returns the entries it corrects."""
        current = _current_entries(rows)
        nets = _stored_nets(rows)
        reversed_groups = [g for g, lines in nets.items() if lines and g not in keep]
        corrects = tuple(sorted({e for g in (reversed_groups or current) for e in current.get(g, ())}))
        for (journal, mode, key) in reversed_groups:
            legs = [[a, d, v, str(-amount)] for (a, d, v), amount in nets[(journal, mode, key)].items()]
            slot = self.reversals.setdefault((journal, mode, key, corrects),
                                             {"lines": {}, "receipts": set(), "closings": set(), "entries": set()})
            _net(slot["lines"], legs)
            slot["closings" if change.seen.closing is not None else "receipts"].add(change.seen.key[1])
            slot["entries"].update(g["e"] for row in rows for g in row
                                   if (g["j"], g["m"], g["k"]) == (journal, mode, key) and g["e"] is not None)
            group = self.group(("reversal", journal, mode, key, corrects))
            change.groups.append((group, orjson.dumps(legs).decode()))
            stored = change.stored
            sums = self.totals.setdefault((group, stored.store, stored.date), {})
            for (a, d, v), amount in nets[(journal, mode, key)].items():
                sums[(a, d, v)] = sums.get((a, d, v), ZERO) - amount
        return corrects

    def entries(self) -> tuple[list[tuple], dict]:
        """The new entries in their order, (order, group, entry or None), the first numbered
        `next_entry`; and the map from group to entry id. The builders are emptied as they go."""
        self._made(self.builders)
        headers = self.store.entry_headers(i for slot in self.reversals.values() for i in slot["entries"])
        for (journal, mode, key, corrects), slot in self.reversals.items():
            olds = [headers[i] for i in sorted(slot["entries"]) if i in headers]
            date = max((h["date"] for h in olds), default=key.split("/")[0])
            base = next((h["description"] for h in reversed(olds) if h["kind"] in ("regular", "supplement")),
                        olds[-1]["description"] if olds else key)
            base = base.split(": ", 1)[1] if base.startswith(("Correction of", "Supplement: ")) else base
            e = _entry_from(journal, date, mode, key, f"Reversal of {_ids(corrects)}: {base}",
                            slot["receipts"], slot["lines"], slot["closings"])
            if e is not None:
                self._keep("reversal", corrects, e)
        made, self.made = self.made, []
        made.sort(key=_first)  # by date, journal, key, kind, what it corrects; then as made
        ids = {group: n for n, (_, group, _) in enumerate(made, start=self.next_entry)}
        return made, ids

    def group(self, group: tuple) -> tuple:
        """One tuple per entry group (the receipts of a day post into the same few), numbered
        in `numbered` (a final run's spool names groups by number)."""
        n = self.groups.get(group)
        if n is None:
            n = self.groups[group] = len(self.numbered)
            self.numbered.append(group)
        return self.numbered[n]


# -- the run -------------------------------------------------------------------------------


def run_info(command: str, rules_path: str, inputs: list[str], selection: Selection) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        tillpost_version = version("tillpost")
    except PackageNotFoundError:
        tillpost_version = "unknown"
    try:
        with open(rules_path, "rb") as f:
            rules_hash = hashlib.sha256(f.read()).hexdigest()
    except OSError:
        rules_hash = ""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return {"command": command, "rules": str(rules_path), "rules_sha256": rules_hash, "version": tillpost_version,
            "input": json.dumps(inputs), "selection": json.dumps(selection.as_dict(), sort_keys=True),
            "ran_by": f"{user}@{socket.gethostname()}"}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


BATCH = 5000  # receipts decided (and, in a final run, written) at a time
ENTRY_BATCH = 2000  # entries converted and written at a time
ANALYZE_AFTER = 10_000  # new receipts after which a run has the database look at its tables again


def _selected(store: Store, inputs: list[Records], selection: Selection, kind: str,
              progress: Progress | None = None) -> tuple[dict[str, Seen], dict[str, StoredReceipt]]:
    """The receipts (or closings) a run looks at, and what the ledger holds of them.

    `--retry-errors` looks at those in error only: as the input has them (fixed at the
    POS), else from the content the ledger kept."""
    scanner = scan if kind == "receipt" else lambda inputs, selection, progress=None: scan_closings(inputs, selection)
    if not selection.retry_errors:
        seen = scanner(inputs, selection, progress)
        return seen, store.receipts_by_id(seen, kind=kind)
    index = store.receipts_in_status("error", kind=kind)
    seen = {k: s for k, s in scanner(inputs, selection, progress).items() if k in index}
    waiting = [row for row in store.stored_contents("error", kind=kind) if row[1] not in seen]
    for k, s in scanner([stored_records(waiting)], selection).items():
        if k in index and k not in seen:
            seen[k] = s
    return seen, index


def plan(ruleset: RuleSet, store: Store, inputs: list[Records], selection: Selection,
         progress: Progress | None = None, final: bool = False, writer: "_Writer | None" = None) -> RunResult:
    """What a run books: computed against the ledger as it is (inside the lock, for a final run).

    Only the receipts the input holds are read from the ledger, and only the entry
    groups they book into: a run of a thousand receipts costs the same in a ledger
    of a hundred or of a million. The input's till closings are planned after its
    receipts, the same way.

    Receipts are read, decided and booked a batch at a time. A final run (`writer`)
    writes each batch's receipt rows as soon as it is booked and forgets the batch,
    keeping per receipt at most its outcome: the entries it makes, and each receipt's
    postings (which name them), wait in the spool until all entries are made and
    numbered, at the end. One transaction throughout.
    """
    run_id, next_entry, next_pk = store.next_ids()
    if writer is not None:
        writer.start(run_id)
    if selection.retry_errors:
        seen, index = _selected(store, inputs, selection, "receipt", progress)
        batches = [list(seen.values())]
        del seen
    else:
        # A batch's stored receipts are looked up at once; PostgreSQL answers with a pass over the
        # table (a ledger just loaded has no statistics): fewer, larger batches there.
        size = BATCH if store.backend.name == "sqlite" else 5 * BATCH
        batches, index = scan_batches(inputs, selection, progress, size), None
    closings, closing_index = _selected(store, inputs, selection, "closing")
    clashes = closing_clashes(closings, store) if closings else {}

    planner = _Planner(ruleset, store, next_entry)
    if writer is not None:
        store.open_spool()
        planner.spool = []
    outcomes: list[Outcome] = []
    tally: dict[str, int] = {}
    posted = 0  # the receipts whose postings a final run has spooled
    spool: list[tuple[int, int, str]] = []  # the batch's (seq, pk, postings) on their way there
    number = planner.groups
    batch: list[Change] = []
    journals: dict = {}  # (receipt attributes, method) → the journal its payments are booked in
    unchanged = 0
    pending: list[tuple[Change, tuple, frozenset]] = []
    total, done = sum(len(r) for r in inputs), 0
    pks = itertools.count(next_pk)

    def plan_change(change: Change) -> None:
        """Reverse what it booked (where its new booking differs), and queue its new booking."""
        corrects, keep = (), frozenset()
        if change.reverse:
            rows = store.postings_of(change.stored.pk)
            if change.booking is not None:
                # Journals where the new content books exactly what is booked need no correction.
                new = _new_nets(change.booking)
                keep = frozenset(g for g, lines in _stored_nets(rows).items() if new.get(g, {}) == lines)
            corrects = planner.reverse(change, rows, keep)
        batch.append(change)
        if change.booking is not None:
            pending.append((change, corrects, keep))

    def flush() -> None:
        """Book the batch; then all a run needs of its receipts is their outcome (and rows)."""
        nonlocal posted
        planner.book_all(pending)
        pending.clear()
        new, old = [], []
        for c in batch:
            s = c.seen
            c.pk = next(pks) if c.stored is None else c.stored.pk
            if writer is None or writer.details or c.status == "error":
                outcomes.append(Outcome(s.kind, s.key, c.status, c.reason))
            else:  # counted only
                what = c.status if s.kind == "receipt" else "closings"
                tally[what] = tally.get(what, 0) + 1
            if writer is None:
                continue
            if c.groups:  # a line per group: its number (in planner.numbered), a tab, its legs
                spool.append((posted + len(spool), c.pk,
                              "\n".join(f"{number[g]}\t{legs}" for g, legs in c.groups)))
            (new if c.stored is None else old).append(_row(c))
            if writer.release_input and s.records is not None:
                s.records.items[s.index] = None  # its text is hashed, and kept in its row if it waits
        batch.clear()
        if writer is not None:
            writer.receipts(new, old)
            store.spool("postings", spool)
            posted += len(spool)
            spool.clear()
            store.spool("entries", planner.spool)
            planner.spool.clear()

    for seen in batches:
        stored_of = index if index is not None else store.receipts_by_id([s.key[1] for s in seen])
        for s in seen:
            done += 1
            if progress and done % 1000 == 0:
                progress("booking", done, total)
            stored = stored_of.get(s.key[1])
            if stored and stored.hash == s.hash and stored.status != "error" and s.copies == 1:
                unchanged += 1
                continue
            stored_payments = store.payments_of(stored.pk) if stored and stored.booked_as else "[]"
            plan_change(decide(ruleset, s, stored, stored_payments, journals))
            if len(batch) >= BATCH:
                flush()
        del seen, stored_of  # let go of the batch's receipts
    for key, s in closings.items():
        stored = closing_index.get(key)
        if stored and stored.hash == s.hash and stored.status != "error" and s.copies == 1 and key not in clashes:
            continue  # a closing seen again as booked: nothing to do, and no receipt to count
        plan_change(decide_closing(ruleset, s, stored, clashes.get(key)))
    flush()
    if progress:
        progress("booking", total, total)

    made, ids = planner.entries()
    result = RunResult(run_id, final, [], outcomes, unchanged, ruleset.decimals, ids, tally=tally)
    if writer is None:
        result.entries = [_entry_dict(n, group[0], group[4], e, ruleset.decimals)
                          for n, (_, group, e) in enumerate(made, start=next_entry)]
        return result
    store.spool("entries", planner.spool)
    ids_by_seq = [0] * len(made)
    dates = {}
    for n, (order, _, _) in enumerate(made, start=next_entry):
        ids_by_seq[order[-1]] = n
        dates[n] = order[0]
    result.n_entries = len(made)
    del made
    part = []
    for seq, _, entry in store.spooled("entries", ENTRY_BATCH):
        part.append((ids_by_seq[seq], orjson.loads(entry)))
        if len(part) == ENTRY_BATCH:
            writer.entries(part)
            part = []
    writer.entries(part)
    heads: dict = {}
    groups = planner.numbered
    part = []
    for _, pk, text in store.spooled("postings"):
        part.append((pk, postings_json([(groups[int(g)], legs) for g, legs in
                                        (line.split("\t", 1) for line in text.split("\n"))], ids, heads)))
        if len(part) == BATCH:
            writer.postings(part)
            part = []
    writer.postings(part)
    store.close_spool()
    writer.finish(day_deltas(planner.totals, ids, dates), result)
    return result


def _first(item: tuple):
    return item[0]


def _entry_id(entry: dict) -> int:
    return entry["id"]


def _entry_dict(n: int, kind: str, corrects: tuple, e: Entry, decimals: int) -> dict:
    return {"id": n, "kind": kind, "corrects": list(corrects), **entry_dict(e, decimals)}


def _entry_row(kind: str, corrects: tuple, e: Entry, description: str, decimals: int) -> str:
    """An entry as a final run spools it, the JSON of what the ledger's tables get of it but its id
    (given once all entries are made): [kind, journal, date, mode, key, description, receipts,
    lines as [account, debit, credit, debtor, vat], closings, corrects]. Amounts as `entry_dict` writes them."""
    lines = entry_lines(e, decimals)
    return orjson.dumps((kind, e.journal, e.date, e.mode, e.key, description, e.receipts, lines, e.closings,
                         corrects)).decode()


def _spooled_entry(n: int, row: list) -> dict:
    """A spooled entry (`_entry_row`) as the result of a run with details has it: as `_entry_dict`."""
    kind, journal, date, mode, key, description, receipts, lines, closings, corrects = row
    return {"id": n, "kind": kind, "corrects": corrects,
            **entry_fields(journal, date, mode, key, description, receipts, lines, closings)}


def _row(c: Change) -> ReceiptRow:
    """The receipt's row as the run leaves it."""
    shop, register, number, date, created = c.seen.fields
    # The content is kept while the receipt waits (error, open): `--retry-errors` books it from there.
    # A closing's content is kept for good: status reconciles its register's day with it.
    kind = c.seen.kind
    return ReceiptRow(c.pk, kind, c.seen.key[0], c.seen.key[1], shop, register, number, date, created,
                      c.seen.hash, c.status, c.reason, c.booked_as, c.booked_hash, c.payments,
                      c.seen.content if c.status in WAITING or kind == "closing" else None)


def postings_json(groups, ids: dict, heads: dict | None = None) -> str:
    """A receipt's postings of one run: [{e: entry id, t: kind, j: journal, m: mode, k: key, l: legs}].

    `heads` remembers each group's head: the receipts of a day share their groups."""
    parts = []
    for group, legs in groups:
        head = heads.get(group) if heads is not None else None
        if head is None:
            kind, journal, mode, key, corrects = group
            head = orjson.dumps({"e": ids.get(group), "t": kind, "j": journal, "m": mode, "k": key}).decode()[:-1]
            if heads is not None:
                heads[group] = head
        parts.append(head + ',"l":' + legs + "}")
    return "[" + ",".join(parts) + "]"


def day_deltas(totals: dict, entry_ids: dict, dates: dict) -> dict[tuple, Decimal]:
    """What the run adds to each day's totals, per (date, store, journal, account, debtor, vat).

    A leg counts on the date of the entry it went into (the receipt's date, when its
    group booked nothing in the end) and on the store of the receipt as it was when
    that leg was booked: a reversal on the store it takes the booking back from.
    """
    deltas: dict[tuple, Decimal] = {}
    for (group, shop, fallback), sums in totals.items():
        date = fallback if group[0] is None else dates.get(entry_ids.get(group), fallback)
        journal = group[1]
        for what, amount in sums.items():
            # A stem (booked) is two lines, debit and credit; a reversal's sums are by line already.
            lines = ((what.debit, amount), (what.credit, -amount)) if isinstance(what, Stem) else ((what, amount),)
            for (account, debtor, vat), value in lines:
                k = (date, shop, journal, account, debtor, vat)
                deltas[k] = deltas.get(k, ZERO) + value
    return {k: v for k, v in deltas.items() if v}


class _Writer:
    """Writes a final run as it is planned, inside its one transaction: the run's row first,
    each batch of receipt rows once booked, then the entries, postings and day totals."""

    def __init__(self, store: Store, info: dict, file: tuple[str, str] | None, details: bool,
                 release_input: bool):
        self.store = store
        self.release_input = release_input
        self.info = info
        self.file = file
        self.details = details
        self.kept: list[dict] = []
        self.run = 0
        self.new = 0  # receipts first seen in this run

    def start(self, run_id: int) -> None:
        self.run = run_id
        self.store.insert_run({"id": run_id, "started": self.info.get("started") or _now(), **self.info})
        if self.file is not None:
            self.store.insert_file(self.file[1], self.file[0], run_id)

    def receipts(self, new: list[ReceiptRow], old: list[ReceiptRow]) -> None:
        self.store.insert_receipts(new, self.run)
        self.store.update_receipts(old, self.run)
        self.new += len(new)

    def entries(self, entries: list[tuple[int, list]]) -> None:
        """Entries as spooled (`_entry_row`), with their ids."""
        self.store.insert_entries(self.run, entries)
        if self.details:
            self.kept += [_spooled_entry(n, row) for n, row in entries]

    def postings(self, rows: list[tuple[int, str]]) -> None:
        self.store.insert_postings(rows, self.run)

    def finish(self, deltas: dict, result: RunResult) -> None:
        self.store.add_day_totals(deltas)
        if self.details:  # written in the order they were made
            result.entries, result.n_entries = sorted(self.kept, key=_entry_id), None
        self.store.finish_run(self.run, _now(), result.counts)


def process(ruleset: RuleSet, store: Store, inputs: list[Records], selection: Selection = Selection(),
            final: bool = False, info: dict | None = None, progress: Progress | None = None,
            file: tuple[str, str] | None = None, details: bool = True, keep_input: bool = True) -> RunResult:
    """A trial run (plans, writes nothing) or a final run (plans and books in one transaction).

    `file` is (name, SHA-256) of the inbox file the input is: a final run books a file
    once; the same content again is recorded as booked already and books nothing.
    Callers that need neither back spare a final run their memory: without `keep_input`
    it lets go of each receipt's input (its item in `inputs` becomes None) once its row
    is written; without `details` its result keeps no entries and, of the receipts, only
    those in error: the rest it counts (`counts`). A day of invoices makes tens of
    thousands of entries.
    """
    collecting = gc.isenabled()
    gc.disable()  # a run makes millions of small objects and no cycles: collecting only costs time
    try:
        with localcontext(EXACT):  # every sum of the run exact or refused, as in `book`
            return _process(ruleset, store, inputs, selection, final, info, progress, file, details,
                            keep_input)
    finally:
        if collecting:
            gc.enable()


def _process(ruleset: RuleSet, store: Store, inputs: list[Records], selection: Selection, final: bool,
             info: dict | None, progress: Progress | None, file: tuple[str, str] | None,
             details: bool = True, keep_input: bool = True) -> RunResult:
    if not final:
        store.check_current()
        store.require_client()
        store.begin_read()
        try:
            return plan(ruleset, store, inputs, selection, progress, final=False)
        finally:
            store.end_read()
    started = _now()
    store.begin()
    try:
        booked = store.file_booked(file[1]) if file is not None else None
        if booked is not None:
            store.rollback()
            return RunResult(0, True, [], [], 0, ruleset.decimals, duplicate_of=booked)
        store.set_client_settings(ruleset.decimals, ruleset.counter_debtor)
        writer = _Writer(store, {**(info or run_info("api", "", [], selection)), "started": started}, file,
                         details, release_input=not keep_input)
        result = plan(ruleset, store, inputs, selection, progress, final=True, writer=writer)
        store.commit()
        if writer.new >= ANALYZE_AFTER:
            store.analyze()
    except BaseException:
        store.rollback()
        raise
    return result
