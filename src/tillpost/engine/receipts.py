"""Receipts: reading input and checking each receipt against the published schema.

`schemas/receipt.schema.json` is the contract. Running jsonschema on every
receipt costs ~200 µs, a compiled fastjsonschema validator ~50 µs, while the
whole booking budget is 20 µs a receipt. So `read_receipt` checks the same
rules by hand while it converts amounts to Decimal (the tests prove on
generated receipts that it accepts exactly what the schema accepts), and only
when it rejects a receipt does jsonschema run, to word the error with the
JSON path the schema gives.

Input is a JSON array, an object with a `receipts` array, or JSON Lines.
Documents are decoded with orjson; a JSON *number* with a fraction would come
out of orjson as a float, so the first one seen makes the document be decoded
again with `json.loads(parse_float=Decimal)`. No float ever becomes an amount.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources

import orjson

_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
_CREATED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})?")
_CURRENCY = re.compile(r"[A-Z]{3}")

STATUSES = ("completed", "open", "voided")
RECEIPT_KEYS = frozenset((
    "id", "number", "source", "store", "register", "date", "created", "status", "currency",
    "prices_include_vat", "customer", "attributes", "lines", "vat", "payments", "cash_rounding",
))
REQUIRED_KEYS = ("id", "store", "date", "status", "currency", "prices_include_vat", "lines", "payments")
LINE_KEYS = frozenset(("sku", "description", "category", "quantity", "unit_price", "discount", "vat", "cost"))
CUSTOMER_KEYS = frozenset(("id", "debtor", "name"))
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


@dataclass(frozen=True, slots=True)
class Line:
    category: str
    sku: str
    vat: str
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    cost: Decimal | None
    description: str


@dataclass(frozen=True, slots=True)
class Payment:
    method: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
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
    lines: tuple[Line, ...]
    vat: tuple[tuple[str, Decimal], ...]  # printed VAT per VAT name, in receipt order
    payments: tuple[Payment, ...]
    cash_rounding: Decimal


# -- the hand-written schema check -------------------------------------------------------


def _fail(path: str, message: str):
    raise ReceiptInvalid(path, message)


def _text(obj: dict, key: str, path: str, required: bool = False, nonempty: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and key not in obj:
        if required:
            _fail(path, f"'{key}' is a required property")
        return None
    if type(value) is not str:
        _fail(f"{path}.{key}", f"{value!r} is not of type 'string'")
    if nonempty and not value:
        _fail(f"{path}.{key}", "'' should be non-empty")
    return value


def _decimal(value, path: str) -> Decimal:
    t = type(value)
    if t is str:
        if _DECIMAL.fullmatch(value) is None:
            _fail(path, f"{value!r} is not a decimal such as \"-12.50\"")
        return Decimal(value)
    if t is int:
        return Decimal(value)
    if t is Decimal:
        if not value.is_finite():
            _fail(path, f"{value} is not a decimal")
        return value
    if t is float:
        raise _FloatSeen
    _fail(path, f"{value!r} is not a decimal such as \"-12.50\"")


def _check_keys(obj, allowed: frozenset, path: str) -> None:
    if type(obj) is not dict:
        _fail(path, f"{_short(obj)} is not of type 'object'")
    for key in obj:
        if key not in allowed:
            _fail(path, f"additional property '{key}' is not allowed")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@lru_cache(maxsize=4096)
def _real_date(text: str) -> bool:
    try:
        _dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def _list(obj: dict, key: str, path: str) -> list:
    value = obj.get(key, ())
    if type(value) not in (list, tuple):
        _fail(f"{path}.{key}", f"{_short(value)} is not of type 'array'")
    return value


def read_receipt(obj) -> Receipt:
    """Check one decoded receipt against the schema and convert it; raises ReceiptInvalid."""
    _check_keys(obj, RECEIPT_KEYS, "$")
    for key in REQUIRED_KEYS:
        if key not in obj:
            _fail("$", f"'{key}' is a required property")
    rid = _text(obj, "id", "$", required=True)
    number = _text(obj, "number", "$")
    source = obj.get("source", "")
    if type(source) is not str:
        _fail("$.source", f"{source!r} is not of type 'string'")
    store = _text(obj, "store", "$", required=True)
    register = _text(obj, "register", "$") or ""
    date = obj["date"]
    if type(date) is not str or _DATE.fullmatch(date) is None:
        _fail("$.date", f"{_short(date)} is not a date such as \"2026-11-20\"")
    if not _real_date(date):
        _fail("$.date", f"{date!r} is not a day of the calendar")
    created = obj.get("created")
    if created is not None or "created" in obj:
        if type(created) is not str or _CREATED.fullmatch(created) is None:
            _fail("$.created", f"{_short(created)} is not a timestamp such as \"2026-11-20T10:31:00+01:00\"")
    status = obj["status"]
    if status not in STATUSES or type(status) is not str:
        _fail("$.status", f"{_short(status)} is not one of {list(STATUSES)}")
    currency = obj["currency"]
    if type(currency) is not str or _CURRENCY.fullmatch(currency) is None:
        _fail("$.currency", f"{_short(currency)} is not a currency code such as \"EUR\"")
    incl = obj["prices_include_vat"]
    if type(incl) is not bool:
        _fail("$.prices_include_vat", f"{_short(incl)} is not of type 'boolean'")

    customer = obj.get("customer")
    customer_id = customer_debtor = customer_name = None
    if customer is not None:
        _check_keys(customer, CUSTOMER_KEYS, "$.customer")
        customer_id = _text(customer, "id", "$.customer")
        customer_debtor = _text(customer, "debtor", "$.customer")
        customer_name = _text(customer, "name", "$.customer", nonempty=False)

    attributes = obj.get("attributes")
    if attributes is None:
        if "attributes" in obj:
            _fail("$.attributes", "None is not of type 'object'")
        attributes = {}
    elif type(attributes) is not dict:
        _fail("$.attributes", f"{_short(attributes)} is not of type 'object'")
    else:
        for key, value in attributes.items():
            if type(value) not in (str, int, float, bool, Decimal):
                _fail(f"$.attributes.{key}", f"{_short(value)} is not of type 'string', 'number', 'boolean'")

    lines = []
    for i, line in enumerate(_list(obj, "lines", "$")):
        p = f"$.lines[{i}]"
        _check_keys(line, LINE_KEYS, p)
        if "quantity" not in line or "unit_price" not in line or "vat" not in line:
            missing = next(k for k in ("quantity", "unit_price", "vat") if k not in line)
            _fail(p, f"'{missing}' is a required property")
        vat = _text(line, "vat", p)
        discount = line.get("discount")
        cost = line.get("cost")
        lines.append(Line(
            _text(line, "category", p, nonempty=False) or "",
            _text(line, "sku", p, nonempty=False) or "",
            vat,
            _decimal(line["quantity"], p + ".quantity"),
            _decimal(line["unit_price"], p + ".unit_price"),
            ZERO if discount is None and "discount" not in line else _decimal(discount, p + ".discount"),
            None if cost is None and "cost" not in line else _decimal(cost, p + ".cost"),
            _text(line, "description", p, nonempty=False) or "",
        ))

    printed = []
    for i, item in enumerate(_list(obj, "vat", "$")):
        p = f"$.vat[{i}]"
        _check_keys(item, frozenset(("name", "amount")), p)
        if "name" not in item or "amount" not in item:
            _fail(p, f"'{'name' if 'name' not in item else 'amount'}' is a required property")
        printed.append((_text(item, "name", p), _decimal(item["amount"], p + ".amount")))

    payments = []
    for i, item in enumerate(_list(obj, "payments", "$")):
        p = f"$.payments[{i}]"
        _check_keys(item, frozenset(("method", "amount")), p)
        if "method" not in item or "amount" not in item:
            _fail(p, f"'{'method' if 'method' not in item else 'amount'}' is a required property")
        payments.append(Payment(_text(item, "method", p), _decimal(item["amount"], p + ".amount")))

    rounding = obj.get("cash_rounding")
    rounding = ZERO if rounding is None and "cash_rounding" not in obj else _decimal(rounding, "$.cash_rounding")

    return Receipt(
        rid, number or rid, source, store, register, date, created, status, currency, incl,
        customer_id, customer_debtor, customer_name, customer is not None, attributes,
        tuple(lines), tuple(printed), tuple(payments), rounding,
    )


@lru_cache(maxsize=1)
def receipt_schema() -> dict:
    return json.loads(resources.files("tillpost.schemas").joinpath("receipt.schema.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _schema_validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(receipt_schema())


def schema_message(obj) -> str | None:
    """jsonschema's wording of the most relevant schema error, with its JSON path; None if valid."""
    from jsonschema.exceptions import best_match

    error = best_match(_schema_validator().iter_errors(obj))
    if error is None:
        return None
    return f"{error.json_path}: {error.message}"


def receipt_id(obj, index: int) -> str:
    """The id to report a broken receipt under: its own, or its place in the input."""
    if isinstance(obj, dict) and isinstance(obj.get("id"), str) and obj["id"]:
        return obj["id"]
    return f"#{index + 1}"


# -- reading input ------------------------------------------------------------------------


def _exact(text: str | bytes):
    return json.loads(text, parse_float=Decimal)


def _decode_error(source: str, text: str | bytes, e: Exception, line_offset: int = 0) -> InputError:
    if isinstance(e, json.JSONDecodeError):
        return InputError(source, f"malformed JSON: {e.msg}", e.lineno + line_offset, e.colno)
    return InputError(source, f"malformed JSON: {e}")


@dataclass
class Records:
    """The receipts of one input, decoded lazily, each decodable again exactly.

    `items` holds dicts (from a JSON document) or the raw lines of JSON Lines,
    decoded one at a time as booking reaches them.
    """

    source: str
    items: list
    raw: bytes = b""  # the whole document, to decode it again exactly
    line_numbers: list | None = None  # JSON Lines: the file line of each item
    exact: bool = False  # decoded with Decimal fractions already
    # Source adapters: item index → why that source record could not be read. Its item is
    # a stub {"id": …}; booking reports it as an error for that id instead of reading it.
    errors: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, i: int):
        item = self.items[i]
        if type(item) is not bytes:
            return item
        try:
            return orjson.loads(item)
        except orjson.JSONDecodeError:
            # orjson refuses some valid JSON (integers past 64 bits): the exact decoder decides.
            try:
                return _exact(item)
            except json.JSONDecodeError as e:
                raise InputError(self.source, f"malformed JSON: {e.msg}", self.line_numbers[i], e.colno) from None

    def get_exact(self, i: int):
        item = self.items[i]
        if type(item) is bytes:
            return _exact(item)
        if not self.exact:
            # A document orjson decoded: decode all of it again, exactly, once.
            self.items = _split_document(self.source, self.raw, exact=True)
            self.exact = True
        return self.items[i]


def _split_document(source: str, doc, exact: bool) -> list:
    if isinstance(doc, (bytes, str)):
        try:
            doc = _exact(doc) if exact else orjson.loads(doc)
        except (orjson.JSONDecodeError, ValueError, RecursionError):
            try:
                doc = _exact(doc)
            except json.JSONDecodeError as e:
                raise _decode_error(source, doc, e) from None
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and isinstance(doc.get("receipts"), list):
        return doc["receipts"]
    if isinstance(doc, dict):
        return [doc]
    raise InputError(source, "expected a JSON array of receipts, an object with a 'receipts' array, or JSON Lines")


def parse_input(data: bytes, source: str = "<input>") -> Records:
    """Split one input into its receipts: a JSON document or JSON Lines."""
    stripped = data.lstrip()
    if not stripped:
        return Records(source, [], raw=data)
    if stripped[:1] == b"[":
        return Records(source, _split_document(source, data, exact=False), raw=data)
    # An object: one document, or JSON Lines (one object per line). A document that
    # decodes whole is a document; otherwise each non-empty line is a receipt.
    if stripped[:1] == b"{":
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            doc = None
        if doc is not None:
            return Records(source, _split_document(source, doc, exact=False), raw=data)
        items, numbers = [], []
        for n, line in enumerate(data.split(b"\n"), start=1):
            if line.strip():
                items.append(line)
                numbers.append(n)
        try:
            _exact(items[0])
        except json.JSONDecodeError:
            # Not JSON Lines after all but one document, which orjson refused: the
            # exact decoder reads it or says where it is broken.
            return Records(source, _split_document(source, data, exact=True), raw=data, exact=True)
        return Records(source, items, line_numbers=numbers)
    try:
        _exact(data)
    except json.JSONDecodeError as e:
        raise _decode_error(source, data, e) from None
    raise InputError(source, "expected a JSON array of receipts, an object with a 'receipts' array, or JSON Lines")


def read_input(path: str) -> Records:
    """Read RECEIPTS from a file, or from stdin when `path` is '-'."""
    import sys

    if path == "-":
        return parse_input(sys.stdin.buffer.read(), "<stdin>")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None
    return parse_input(data, path)
