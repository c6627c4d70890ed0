"""Receipts: reading input and checking each receipt against the published schema.

`schemas/receipt.schema.json` is the contract. Running jsonschema on every
receipt costs ~200 µs, a compiled fastjsonschema validator ~50 µs, while the
whole booking budget is 20 µs a receipt. So a receipt is decoded by msgspec
into typed structs that mirror the schema (its shape checked in C, ~1.5 µs),
and the few rules msgspec cannot express are checked as the amounts become
Decimal. The tests prove on generated receipts that this accepts exactly what
the schema accepts; only when it rejects a receipt does jsonschema run, and
`receipt_problems` words every problem it finds.

Input is a JSON array, an object with a `receipts` array, or JSON Lines. Each
receipt's JSON text (a line, or cut out of the document undecoded) is decoded
straight into the structs as booking reaches it, a JSON number with a fraction
as Decimal. Decoded dicts (from the API, the source adapters, or a document
msgspec refused, whose error orjson and `json` then word) may hold floats:
the first one seen makes the document be decoded again with
`json.loads(parse_float=Decimal)`. No float ever becomes an amount.

What the fast decoders refuse is read by `decoding.decode_exact`, carefully: a
file that is not UTF-8 is the input's error with its line and column; NaN, an
integer of thousands of digits, nesting deeper than a decoder goes or a lone
surrogate in a text is the error of the receipt that holds it (`Records.get`
puts a stub in its place, whose reason is in `Records.errors`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Literal

import msgspec
import orjson

from .decoding import decode_exact, escaped, lone_surrogates, utf8_problem, without_bom
from .exact import LIMIT
from .memo import Memo

# As the schema's `decimal`: at most 15 digits before the point (what a till can produce).
_DECIMAL = re.compile(r"-?[0-9]{1,15}(\.[0-9]+)?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DATE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
_CREATED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SPACE = re.compile(rb"\s*")
_NOT_SPACE = re.compile(rb"\S")

STATUSES = ("completed", "open", "voided")
ZERO = Decimal(0)


class InputError(Exception):
    """The input as a whole is unusable (malformed JSON, wrong shape): exit 2."""

    def __init__(self, source: str, message: str, line: int | None = None, column: int | None = None):
        self.source, self.line, self.column = source, line, column
        where = f"{source}:{line}:{column}" if line else source
        super().__init__(f"{where}: error: {message}")


class ReceiptInvalid(Exception):
    """One receipt breaks the schema: its id (when it has one), the JSON path and the reason."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


class _FloatSeen(Exception):
    """A JSON number with a fraction was decoded as a float: decode the document exactly."""


# The checked receipt. Plain slotted classes, built once per receipt on the hot path
# (a frozen dataclass costs five times as much to build); treat them as immutable.


@dataclass(slots=True, eq=False)
class Line:
    category: str
    sku: str
    vat: str
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    cost: Decimal | None
    description: str
    # What facts work out from the line alone, for the rule set's cents (facts.py); kept
    # here because the reader hands out one Line for every copy of a line it remembers.
    memo: tuple | None = field(default=None, init=False, repr=False)


@dataclass(slots=True)
class Payment:
    method: str
    amount: Decimal


@dataclass(slots=True)
class Receipt:
    id: str
    number: str
    source: str
    store: str
    register: str
    date: str
    created: str | None
    status: str
    currency: str
    prices_include_vat: bool
    customer_id: str | None
    customer_debtor: str | None
    customer_name: str | None
    has_customer: bool
    attributes: dict
    lines: list[Line]
    vat: list[tuple[str, Decimal]]  # printed VAT per VAT name, in receipt order
    payments: list[Payment]
    cash_rounding: Decimal


# -- reading one receipt -----------------------------------------------------------------
#
# msgspec checks a receipt's shape in C as it decodes: the keys each object must and may
# have, text where text belongs, names that are not empty. What it cannot express is
# checked here while the values are converted: amounts are decimal strings or numbers,
# the date is a calendar day, the status and currency are what the schema allows. This
# only has to say *whether* a receipt is valid; when it is not, jsonschema words the
# error with its JSON path (`schema_message`).


class _Invalid(ReceiptInvalid):
    def __init__(self):
        super().__init__("the receipt", "does not have the form schemas/receipt.schema.json gives a receipt")


_Text = Annotated[str, msgspec.Meta(min_length=1)]
_ABSENT = msgspec.UNSET  # a key the receipt leaves out; null is a value, refused where the schema refuses it
_Absent = msgspec.UnsetType


class _LineIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # frozen makes it hashable: a line met before is found in `_lines` by its value.
    quantity: Any  # amounts: checked and converted by `_decimal`
    unit_price: Any
    vat: _Text
    sku: str = ""
    description: str = ""
    category: str = ""
    discount: Any = _ABSENT
    cost: Any = _ABSENT


class _PaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    method: _Text
    amount: Any


class _VatIn(msgspec.Struct, forbid_unknown_fields=True):
    name: _Text
    amount: Any


class _CustomerIn(msgspec.Struct, forbid_unknown_fields=True):
    id: _Text | _Absent = _ABSENT
    debtor: _Text | _Absent = _ABSENT
    name: str | _Absent = _ABSENT


class _ReceiptIn(msgspec.Struct, forbid_unknown_fields=True):
    id: _Text
    store: _Text
    date: str
    status: str
    currency: str
    prices_include_vat: bool
    lines: list[_LineIn]
    payments: list[_PaymentIn]
    number: _Text | _Absent = _ABSENT
    source: str | _Absent = _ABSENT
    register: _Text | _Absent = _ABSENT
    created: str | _Absent = _ABSENT
    customer: _CustomerIn | None = None
    attributes: dict[str, Any] | _Absent = _ABSENT
    vat: list[_VatIn] = []
    cash_rounding: Any = _ABSENT
    type: Literal["receipt"] | _Absent = _ABSENT  # tells a receipt from a till closing in one input


# A JSON number with a fraction becomes a Decimal as it is decoded, never a float.
_decoder = msgspec.json.Decoder(_ReceiptIn, float_hook=Decimal)
_ATTRIBUTE_TYPES = (str, int, float, bool, Decimal)

# Decimal strings repeat (prices, quantities, amounts): each distinct one is checked
# against the schema's pattern and converted once. Bounded, it keeps the first it met
# (those a day repeats show up early), and reads the others each time.
_decimals: dict[str, Decimal] = {}
_DECIMALS_MAX = 20_000
_INT_LIMIT = 10 ** 15


def _decimal(value) -> Decimal:
    if type(value) is str:
        d = _decimals.get(value)
        if d is None:
            if _DECIMAL.fullmatch(value) is None:
                raise _Invalid
            d = Decimal(value)
            if len(_decimals) < _DECIMALS_MAX:
                _decimals[value] = d
        return d
    t = type(value)
    if t is int:
        if -_INT_LIMIT < value < _INT_LIMIT:
            return Decimal(value)
        raise _Invalid
    if t is Decimal and value.is_finite() and -LIMIT < value < LIMIT:
        return value
    if t is float:  # only from a decoded dict: JSON bytes give Decimal
        raise _FloatSeen
    raise _Invalid


@lru_cache(maxsize=4096)
def _real_date(text: str) -> bool:
    try:
        _dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


# The same line comes back on receipt after receipt (one croissant, two coffees): a
# line that was read once is not read again, and its Line (the same object) carries
# what facts work out from it. A day whose lines are all distinct turns this memo off
# (memo.py). Only lines whose amounts are all text are remembered: text equals only
# text, so a remembered line never stands in for one with a number, `true` or a float
# where it had text.
_lines = Memo(limit=20_000, probation=2048)


def _read_line(line: _LineIn) -> Line:
    """A line not met before (`_receipt` looks in `_lines` first)."""
    quantity, unit_price, discount, cost = line.quantity, line.unit_price, line.discount, line.cost
    # The common case inline: amounts as text met before. `or` falls back on _decimal for
    # a miss (and for a remembered zero, which it finds again).
    known = _decimals.get
    try:
        read = Line(
            line.category, line.sku, line.vat, known(quantity) or _decimal(quantity),
            known(unit_price) or _decimal(unit_price),
            ZERO if discount is _ABSENT else known(discount) or _decimal(discount),
            None if cost is _ABSENT else known(cost) or _decimal(cost), line.description,
        )
    except TypeError:  # an unhashable value: a list or an object where an amount belongs
        raise _Invalid from None
    if (_lines.on and type(quantity) is str and type(unit_price) is str
            and (discount is _ABSENT or type(discount) is str) and (cost is _ABSENT or type(cost) is str)):
        _lines.add(line, read)
    return read


# The fields all receipts of a store, register and day share are checked once.
_heads: dict = {}
_HEADS_MAX = 10_000


def _check_head(head: tuple) -> tuple:
    store, register, source, date, status, currency = head
    if not (_DATE.fullmatch(date) and status in STATUSES and _CURRENCY.fullmatch(currency)):
        raise _Invalid
    if not _real_date(date):
        raise ReceiptInvalid("$.date", f"{date!r} is not a day of the calendar")
    return store, "" if register is _ABSENT else register, "" if source is _ABSENT else source, date, status, currency


def _receipt(r: _ReceiptIn) -> Receipt:
    """The checked receipt of one whose shape msgspec has checked."""
    head = (r.store, r.register, r.source, r.date, r.status, r.currency)
    checked = _heads.get(head)
    if checked is None:
        checked = _check_head(head)
        if len(_heads) >= _HEADS_MAX:
            _heads.clear()
        _heads[head] = checked
    store, register, source, date, status, currency = checked
    rid = r.id
    number = rid if r.number is _ABSENT else r.number
    created = r.created
    if created is _ABSENT:
        created = None
    elif _CREATED.fullmatch(created) is None:
        raise _Invalid

    customer = r.customer
    customer_id = customer_debtor = customer_name = None
    if customer is not None:
        customer_id = None if customer.id is _ABSENT else customer.id
        customer_debtor = None if customer.debtor is _ABSENT else customer.debtor
        customer_name = None if customer.name is _ABSENT else customer.name

    attributes = r.attributes
    if attributes is _ABSENT:
        attributes = {}
    else:
        for value in attributes.values():
            if type(value) not in _ATTRIBUTE_TYPES:
                raise _Invalid
    rounding = ZERO if r.cash_rounding is _ABSENT else _decimal(r.cash_rounding)

    # Plain loops: a comprehension costs a frame of its own on Python 3.11.
    lines = []
    if _lines.on:
        _lines.lookups += len(r.lines)
        for line in r.lines:
            try:
                found = _lines.table.get(line)
            except TypeError:  # an unhashable value: a list or an object where an amount belongs
                raise _Invalid from None
            lines.append(found if found is not None else _read_line(line))
    else:
        for line in r.lines:
            lines.append(_read_line(line))
    payments = []
    printed = []
    known = _decimals.get  # as in _read_line
    try:
        for item in r.payments:
            amount = item.amount
            payments.append(Payment(item.method, known(amount) or _decimal(amount)))
        for item in r.vat:
            amount = item.amount
            printed.append((item.name, known(amount) or _decimal(amount)))
    except TypeError:
        raise _Invalid from None
    return Receipt(
        rid, number, source, store, register, date, created, status, currency, r.prices_include_vat,
        customer_id, customer_debtor, customer_name, customer is not None, attributes,
        lines, printed, payments, rounding,
    )


def decode_receipt(data: bytes) -> Receipt:
    """Decode, check and convert one receipt from its JSON; raises ReceiptInvalid."""
    try:
        r = _decoder.decode(data)
    except (msgspec.MsgspecError, RecursionError):  # malformed, too deep, or not the receipt's shape
        raise _Invalid from None
    return _receipt(r)


def read_receipt(obj) -> Receipt:
    """Check one decoded receipt (a dict) against the schema and convert it; raises
    ReceiptInvalid, or _FloatSeen when an amount is a float (decode it again exactly)."""
    try:
        r = msgspec.convert(obj, _ReceiptIn)
    except (msgspec.ValidationError, RecursionError, UnicodeError):  # UnicodeError: a key with a lone surrogate
        raise _Invalid from None
    receipt = _receipt(r)
    # JSON text never decodes to a lone surrogate here (msgspec and orjson refuse it);
    # a dict can hold one, and no output could write it.
    if not _encodable(receipt):
        raise _Invalid
    return receipt


def _encodable(r: Receipt) -> bool:
    parts = [r.id, r.number, r.source, r.store, r.register, r.date, r.status, r.currency, r.created or "",
             r.customer_id or "", r.customer_debtor or "", r.customer_name or ""]
    for line in r.lines:
        parts += (line.category, line.sku, line.vat, line.description)
    for p in r.payments:
        parts.append(p.method)
    for name, _ in r.vat:
        parts.append(name)
    for key, value in r.attributes.items():
        parts.append(key)
        if type(value) is str:
            parts.append(value)
    text = "".join(parts)
    return text.isascii() or _SURROGATE.search(text) is None


@lru_cache(maxsize=1)
def receipt_schema() -> dict:
    return json.loads(resources.files("tillpost.schemas").joinpath("receipt.schema.json").read_text(encoding="utf-8"))


def schema_message(obj) -> str | None:
    """Every problem the published schema (and the reader's own checks) find, in words; None if valid."""
    from .receipt_problems import receipt_problems

    problems = receipt_problems(obj)
    return "; ".join(problems) if problems else None


def receipt_id(obj, index: int) -> str:
    """The id to report a broken receipt under: its own, or its place in the input."""
    if isinstance(obj, dict) and isinstance(obj.get("id"), str) and obj["id"]:
        return escaped(obj["id"])
    return f"#{index + 1}"


# -- reading input ------------------------------------------------------------------------


def _exact(text: str | bytes):
    return decode_exact(text)


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """The line and column (1-based, in bytes) of a byte offset."""
    return data.count(b"\n", 0, offset) + 1, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def _too_deep(source: str, data: bytes) -> InputError:
    """The input error for a document nested deeper than the decoders go, where it happens."""
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError as e:
        return InputError(source, "the document nests deeper than tillpost reads (a receipt nests four levels; "
                                  "this goes past 1,000)", e.lineno, e.colno)
    return InputError(source, "the document nests deeper than tillpost reads (a receipt nests four levels)")


def _decode_error(source: str, text: str | bytes, e: Exception, line_offset: int = 0) -> InputError:
    if isinstance(e, json.JSONDecodeError):
        return InputError(source, f"malformed JSON: {e.msg}", e.lineno + line_offset, e.colno)
    return InputError(source, f"malformed JSON: {e}")


@dataclass
class Records:
    """The receipts of one input, decoded lazily, each decodable again exactly.

    `items` holds the JSON text of each receipt (bytes: a JSON Lines line, or one
    element of a document), decoded one at a time as booking reaches it, or
    decoded dicts (the API, the source adapters). For a JSON Lines file `read_input`
    read, it is a `linefile.LineFile`: a sequence that reads each line from the file
    when asked, and raises InputError when the file changed since it was scanned.
    """

    source: str
    items: list
    raw: bytes = b""  # the whole document, to decode it again exactly
    line_numbers: list | None = None  # JSON Lines: the file line of each item (None: item i is line i + 1)
    exact: bool = False  # decoded with Decimal fractions already
    # Source adapters: item index → why that source record could not be read. Its item is
    # a stub {"id": …}; booking reports it as an error for that id instead of reading it.
    # The careful decoder adds the receipts it cannot read (too deep, a lone surrogate) the same way.
    errors: dict = field(default_factory=dict)
    layout: str = ""  # "lines" (JSON Lines), "document" (an array or one object), "" (decoded dicts)
    positions: list | None = None  # each item's place in the input, when closings were taken out between
    # The till closings of the input (SPEC §11), taken out of `items` as it is read
    # (`closings.take_closings`), so that whatever reads receipts never meets one.
    closings: list = field(default_factory=list)

    def __post_init__(self):
        # Decoded dicts (the API, the source adapters) are looked at here, one dict lookup
        # each; JSON text is looked at by `parse_input`, only when the input mentions a closing.
        if self.items and type(self.items[0]) is not bytes:
            from .closings import take_closings

            take_closings(self)

    def __len__(self) -> int:
        return len(self.items)

    def close(self) -> None:
        """Let go of the file a JSON Lines input is read from (`read_input`); reading an item
        afterwards raises. Otherwise it closes when the Records go."""
        close = getattr(self.items, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, i: int):
        item = self.items[i]
        if type(item) is not bytes:
            return item
        try:
            return orjson.loads(item)
        except orjson.JSONDecodeError:
            # orjson refuses some valid JSON (integers past 64 bits) and some that only
            # looks like it (NaN, lone surrogates, deep nesting): decode it carefully.
            return self._decode_carefully(i)

    def _decode_carefully(self, i: int):
        item = self.items[i]
        try:
            obj = _exact(item)
        except json.JSONDecodeError as e:
            raise InputError(self.source, f"malformed JSON: {e.msg}", self.line_of(i), e.colno) from None
        except UnicodeDecodeError as e:  # parse_input checks whole files; Records made by hand may not be
            raise InputError(self.source, f"not UTF-8: byte 0x{item[e.start]:02X} cannot be read as UTF-8",
                             self.line_of(i), e.start + 1) from None
        except RecursionError:
            return self._unreadable(i, None, "the receipt nests deeper than tillpost reads (a receipt nests four "
                                             "levels; this goes past 1,000)")
        if lone_surrogates(obj):
            from .receipt_problems import receipt_problems

            return self._unreadable(i, obj, "; ".join(receipt_problems(obj)))
        return obj

    def _unreadable(self, i: int, obj, reason: str) -> dict:
        """Put a stub in place of an item that cannot be read as it is; its reason goes in `errors`."""
        self.items[i] = stub = _stub(obj, self.items[i])
        self.errors[i] = reason
        return stub

    def line_of(self, i: int) -> int:
        """The file line of JSON Lines item i."""
        return self.line_numbers[i] if self.line_numbers else i + 1

    def position(self, i: int) -> int:
        """Item i's place among the input's records (0-based), closings counted."""
        return self.positions[i] if self.positions else i

    def where(self, i: int) -> str | None:
        """Where item i is in the input, for a person: `day.jsonl:3`, `day.json #3`; None for
        receipts handed over as dicts, whose id says it all."""
        if self.layout == "lines":
            return f"{self.source}:{self.line_of(i)}"
        if self.layout == "document":
            return f"{self.source} #{self.position(i) + 1}"
        return None

    def get_exact(self, i: int):
        item = self.items[i]
        if type(item) is bytes:
            return _exact(item)
        if not self.exact:
            # A document orjson decoded: decode all of it again, exactly, once.
            items = _decode_document(self.source, self.raw, exact=True)[0]
            if self.closings:
                from .closings import without_closings

                items = without_closings(items)
            self.items, errors = _checked(items)
            self.errors.update(errors)
            self.exact = True
        return self.items[i]


def _stub(obj, text: bytes | str) -> dict:
    """What stands in for a receipt that cannot be read as it is: its id when it has a readable
    one (its lone surrogates written out), else a digest of its text, so the same broken receipt
    is known again (the ledger keys receipts without an id by their content)."""
    rid = obj.get("id") if isinstance(obj, dict) else None
    if isinstance(rid, str) and rid:
        return {"id": escaped(rid)}
    if isinstance(text, str):
        text = text.encode("utf-8", "backslashreplace")
    return {"unreadable": hashlib.sha256(text).hexdigest()[:16]}


def _checked(items: list) -> tuple[list, dict]:
    """Items decoded exactly, with a stub in place of each whose text holds a lone surrogate."""
    errors = {}
    for i, obj in enumerate(items):
        if lone_surrogates(obj):
            from .receipt_problems import receipt_problems

            errors[i] = "; ".join(receipt_problems(obj))
            items[i] = _stub(obj, repr(obj))
    return items, errors


@lru_cache(maxsize=1)
def _receipt_keys() -> frozenset:
    return frozenset(receipt_schema()["properties"])


def _not_receipts(source: str, doc: dict, data: bytes | None) -> InputError:
    """A top-level object that is no receipt and holds no `receipts` array: say so, naming its keys."""
    import difflib

    if "receipts" in doc:
        return InputError(source, "'receipts' must be an array of receipts")
    if not doc:
        return InputError(source, "expected a JSON array of receipts, an object with a 'receipts' array, one "
                                  "receipt, or JSON Lines; this is an empty object")
    known = ["receipts", *sorted(_receipt_keys())]
    shown = []
    for key in list(doc)[:5]:
        close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.75) if isinstance(key, str) else []
        shown.append(f"'{escaped(str(key))}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    line = column = None
    if data is not None and isinstance(next(iter(doc)), str):
        offset = data.find(json.dumps(next(iter(doc))).encode())
        if offset != -1:
            line, column = _position(data, offset)
    return InputError(source, "expected a JSON array of receipts, an object with a 'receipts' array, one "
                              f"receipt, or JSON Lines; the top-level object has {', '.join(shown)}, which no "
                              "receipt has", line, column)


def _split_document(source: str, doc, exact: bool) -> list:
    """The receipts (and closings) of a whole document, its text or decoded (engine/closings.py)."""
    return _decode_document(source, doc, exact)[0]


def _decode_document(source: str, doc, exact: bool) -> tuple[list, bool]:
    """The receipts of a whole document (its text, or decoded), and whether they were
    decoded exactly (Decimal fractions; the careful decoder's oddities checked)."""
    data = doc if isinstance(doc, (bytes, str)) else None
    if data is not None:
        if not exact:
            try:
                doc = orjson.loads(data)
            except (orjson.JSONDecodeError, RecursionError):  # NaN, lone surrogates, big integers, …
                exact = True
        if exact:
            try:
                doc = _exact(data)
            except json.JSONDecodeError as e:
                raise _decode_error(source, data, e) from None
            except RecursionError:
                raise _too_deep(source, data if isinstance(data, bytes) else data.encode()) from None
    if isinstance(doc, list):
        return doc, exact
    if isinstance(doc, dict) and isinstance(doc.get("receipts"), list):
        return doc["receipts"], exact
    if isinstance(doc, dict):
        if "receipts" in doc or not any(k in _receipt_keys() for k in doc):
            raise _not_receipts(source, doc, data if isinstance(data, bytes) else None)
        return [doc], exact
    raise InputError(source, "expected a JSON array of receipts, an object with a 'receipts' array, or JSON Lines")


# A JSON document's receipts are cut out as their own JSON text, undecoded; booking
# decodes each as it reaches it, the same way as a JSON Lines line.
_raw = msgspec.json.Decoder(msgspec.Raw)
_raw_array = msgspec.json.Decoder(list[msgspec.Raw])
_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])


def _document_items(data: bytes, opening: bytes) -> list[bytes] | None:
    """The JSON text of each receipt in an array, an object with a `receipts` array, or
    one receipt object; None for anything else, which `_decode_document` then reads or words."""
    try:
        if opening == b"[":
            raws = _raw_array.decode(data)
        else:
            fields = _raw_object.decode(data)
            if "receipts" in fields:
                raws = _raw_array.decode(fields["receipts"])
            elif any(k in _receipt_keys() for k in fields):
                raws = [data]
            else:
                return None
    except (msgspec.MsgspecError, RecursionError):  # malformed, too deep, or a `receipts` that is no array
        return None
    return [bytes(raw) for raw in raws]


def _decoded_document(source: str, data: bytes) -> Records:
    """A document the fast splitter refused: decoded whole, exactly when orjson cannot."""
    items, exact = _decode_document(source, data, exact=False)
    errors = {}
    if exact:
        items, errors = _checked(items)
    return Records(source, items, raw=data, exact=exact, errors=errors, layout="document")


def parse_input(data: bytes, source: str = "<input>") -> Records:
    """Split one input into its receipts (and its till closings: `Records.closings`):
    a JSON document or JSON Lines."""
    data = without_bom(data)
    problem = utf8_problem(data)
    if problem is not None:
        line, column, _, words = problem
        raise InputError(source, words, line, column)
    records = _parse_input(data, source)
    # One search in C (some 25 ms for 70 MB): only an input that names a closing is looked at item by item.
    if b'"closing"' in data:
        from .closings import take_closings

        take_closings(records)
    return records


def _parse_input(data: bytes, source: str) -> Records:
    # Offsets rather than stripped copies: the input may be a hundred megabytes.
    start = _SPACE.match(data).end()
    if start == len(data):
        return Records(source, [], raw=data)
    opening = data[start:start + 1]
    if opening == b"[":
        items = _document_items(data, opening)
        if items is not None:
            return Records(source, items, layout="document")
        return _decoded_document(source, data)
    # An object: one document, or JSON Lines (one object per line). A first line that
    # is a whole object, with more after it, makes JSON Lines; anything else is one
    # document (decoding it all just to find out would cost more).
    if opening == b"{":
        end = data.find(b"\n", start)
        try:
            _raw.decode(data[start:end] if end != -1 else data[start:])  # its syntax only: any number is fine
            jsonl = end != -1 and _NOT_SPACE.search(data, end) is not None
        except (msgspec.DecodeError, RecursionError):
            # Too deep for msgspec, or what it refuses but a careful decode may read (NaN,
            # a lone surrogate): JSON Lines if that first line is a whole JSON value.
            jsonl = end != -1 and _NOT_SPACE.search(data, end) is not None and _whole_value(data[start:end])
        if not jsonl:
            items = _document_items(data, opening)
            if items is not None:
                return Records(source, items, layout="document")
            return _decoded_document(source, data)
        lines = data.split(b"\n")
        items = [line for line in lines if line and not line.isspace()]
        # Line numbers for error messages: item i is line i + 1 unless blank lines
        # stand between them, which is rare enough to count them the slow way.
        numbers = None
        if len(items) != len(lines) - (not lines[-1] or lines[-1].isspace()):
            numbers = [n for n, line in enumerate(lines, start=1) if line and not line.isspace()]
        del lines
        return Records(source, items, line_numbers=numbers, layout="lines")
    try:
        _exact(data)
    except json.JSONDecodeError as e:
        raise _decode_error(source, data, e) from None
    except RecursionError:
        raise _too_deep(source, data) from None
    raise InputError(source, "expected a JSON array of receipts, an object with a 'receipts' array, or JSON Lines")


def _whole_value(line: bytes) -> bool:
    """Whether one line is a whole JSON value to the careful decoder (deep nesting counts)."""
    try:
        _exact(line)
        return True
    except RecursionError:
        return True
    except ValueError:
        return False


def read_input(path: str) -> Records:
    """Read RECEIPTS from a file, or from stdin when `path` is '-'.

    A file of JSON Lines is not held whole: its lines are read again from the file as
    booking reaches them (engine/linefile.py), until the Records are closed or go.
    """
    import sys

    if path == "-":
        return parse_input(sys.stdin.buffer.read(), "<stdin>")
    from .linefile import open_lines

    try:
        lines, data = open_lines(path, _first_value)
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None
    if lines is None:
        return parse_input(data, path)
    return Records(path, lines, line_numbers=lines.line_numbers, layout="lines")


def _first_value(line: bytes) -> bool:
    """Whether the first line of an input is a whole JSON value, as `_parse_input` tells JSON Lines."""
    try:
        _raw.decode(line)
        return True
    except (msgspec.DecodeError, RecursionError):
        return _whole_value(line)
