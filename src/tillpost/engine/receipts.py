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
_SPACE = re.compile(rb"\s*")
_NOT_SPACE = re.compile(rb"\S")

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


# -- the hand-written schema check -------------------------------------------------------
#
# It only has to say *whether* a receipt is valid: when it is not, jsonschema words
# the error (`schema_message`). Its own messages are for the few checks the schema
# cannot express (a date that is no calendar day).



class _Invalid(ReceiptInvalid):
    def __init__(self):
        super().__init__("$", "does not match the receipt schema")


_RECEIPT_REQUIRED = frozenset(REQUIRED_KEYS)
_LINE_REQUIRED = frozenset(("quantity", "unit_price", "vat"))
_PAYMENT_KEYS = frozenset(("method", "amount"))
_VAT_KEYS = frozenset(("name", "amount"))
_ATTRIBUTE_TYPES = (str, int, float, bool, Decimal)
_LIST_TYPES = (list, tuple)

# Decimal strings repeat endlessly (prices, quantities, amounts): each distinct one is
# checked against the schema's pattern and converted once.
_decimals: dict[str, Decimal] = {}
_DECIMALS_MAX = 200_000


def _decimal(value) -> Decimal:
    if type(value) is str:
        d = _decimals.get(value)
        if d is None:
            if _DECIMAL.fullmatch(value) is None:
                raise _Invalid
            if len(_decimals) >= _DECIMALS_MAX:
                _decimals.clear()
            d = _decimals[value] = Decimal(value)
        return d
    t = type(value)
    if t is int:
        return Decimal(value)
    if t is Decimal and value.is_finite():
        return value
    if t is float:
        raise _FloatSeen
    raise _Invalid


def _optional_text(obj: dict, key: str, nonempty: bool) -> str | None:
    value = obj.get(key)
    if value is None:
        if key in obj:
            raise _Invalid
        return None
    if type(value) is not str or (nonempty and not value):
        raise _Invalid
    return value


def _is_text(value) -> bool:
    return type(value) is str and value != ""


@lru_cache(maxsize=4096)
def _real_date(text: str) -> bool:
    try:
        _dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


# The same line comes back on receipt after receipt (one croissant, two coffees): a
# line that was read once is not read again. Only lines whose values are all text
# are remembered: text equals only text, so a remembered line never stands in for
# one with a number, `true` or a float where it had text.
_lines: dict = {}
_LINES_MAX = 100_000


def _read_line(line) -> Line:
    if type(line) is not dict:
        raise _Invalid
    values = tuple(line.values())
    key = (tuple(line), values)
    try:
        found = _lines.get(key)
    except TypeError:  # an unhashable value: a list or an object where text belongs
        raise _Invalid from None
    if found is not None:
        return found
    read = _read_new_line(line)
    if all(type(v) is str for v in values):
        if len(_lines) >= _LINES_MAX:
            _lines.clear()
        _lines[key] = read
    return read


def _read_new_line(line) -> Line:
    if type(line) is not dict or not line.keys() <= LINE_KEYS or not _LINE_REQUIRED <= line.keys():
        raise _Invalid
    vat = line["vat"]
    if not _is_text(vat):
        raise _Invalid
    get = line.get
    category, sku, description = get("category", ""), get("sku", ""), get("description", "")
    if type(category) is not str or type(sku) is not str or type(description) is not str:
        raise _Invalid
    discount = get("discount")
    cost = get("cost")
    return Line(
        category, sku, vat, _decimal(line["quantity"]), _decimal(line["unit_price"]),
        ZERO if discount is None and "discount" not in line else _decimal(discount),
        None if cost is None and "cost" not in line else _decimal(cost),
        description,
    )


def _read_vat(item) -> tuple[str, Decimal]:
    if type(item) is not dict or item.keys() != _VAT_KEYS or not _is_text(item["name"]):
        raise _Invalid
    return item["name"], _decimal(item["amount"])


_heads: dict = {}
_HEADS_MAX = 10_000


def _check_head(obj: dict) -> tuple:
    """Check the fields a receipt shares with its store, register and day."""
    store, date, status, currency = obj["store"], obj["date"], obj["status"], obj["currency"]
    if not (_is_text(store) and type(date) is str and _DATE.fullmatch(date) and type(status) is str
            and status in STATUSES and type(currency) is str and _CURRENCY.fullmatch(currency)):
        raise _Invalid
    register = _optional_text(obj, "register", True) or ""
    source = _optional_text(obj, "source", False) or ""
    if not _real_date(date):
        raise ReceiptInvalid("$.date", f"{date!r} is not a day of the calendar")
    return store, register, source, date, status, currency


def read_receipt(obj) -> Receipt:
    """Check one decoded receipt against the schema and convert it; raises ReceiptInvalid."""
    if type(obj) is not dict or not obj.keys() <= RECEIPT_KEYS or not _RECEIPT_REQUIRED <= obj.keys():
        raise _Invalid
    get = obj.get
    rid = obj["id"]
    if type(rid) is not str or not rid:
        raise _Invalid
    incl = obj["prices_include_vat"]
    if type(incl) is not bool:
        raise _Invalid
    # The fields all receipts of a store, register and day share are checked once.
    head = (obj["store"], get("register"), "register" in obj, get("source"), "source" in obj, obj["date"],
            obj["status"], obj["currency"])
    try:
        checked = _heads.get(head)
    except TypeError:  # an unhashable value where text belongs
        raise _Invalid from None
    if checked is None:
        checked = _check_head(obj)
        if len(_heads) >= _HEADS_MAX:
            _heads.clear()
        _heads[head] = checked
    store, register, source, date, status, currency = checked
    number = get("number", rid)
    if type(number) is not str or not number:
        raise _Invalid
    created = get("created")
    if created is not None:
        if type(created) is not str or _CREATED.fullmatch(created) is None:
            raise _Invalid
    elif "created" in obj:
        raise _Invalid

    customer = get("customer")
    customer_id = customer_debtor = customer_name = None
    if customer is not None:
        if type(customer) is not dict or not customer.keys() <= CUSTOMER_KEYS:
            raise _Invalid
        customer_id = _optional_text(customer, "id", True)
        customer_debtor = _optional_text(customer, "debtor", True)
        customer_name = _optional_text(customer, "name", False)

    attributes = get("attributes")
    if attributes is None:
        if "attributes" in obj:
            raise _Invalid
        attributes = {}
    elif type(attributes) is not dict:
        raise _Invalid
    else:
        for value in attributes.values():
            if type(value) not in _ATTRIBUTE_TYPES:
                raise _Invalid

    lines, printed, payments = obj["lines"], get("vat", ()), obj["payments"]
    if type(lines) not in _LIST_TYPES or type(printed) not in _LIST_TYPES or type(payments) not in _LIST_TYPES:
        raise _Invalid
    rounding = get("cash_rounding")
    rounding = ZERO if rounding is None and "cash_rounding" not in obj else _decimal(rounding)

    # Plain loops: a comprehension costs a frame of its own on Python 3.11.
    read_lines = []
    for line in lines:
        read_lines.append(_read_line(line))
    read_payments = []
    for item in payments:
        if type(item) is not dict or item.keys() != _PAYMENT_KEYS:
            raise _Invalid
        method, amount = item["method"], item["amount"]
        if type(method) is not str or not method:
            raise _Invalid
        decimal = _decimals.get(amount) if type(amount) is str else None
        read_payments.append(Payment(method, decimal if decimal is not None else _decimal(amount)))
    read_printed = []
    for item in printed:
        read_printed.append(_read_vat(item))
    return Receipt(
        rid, number, source, store, register, date, created, status, currency, incl,
        customer_id, customer_debtor, customer_name, customer is not None, attributes,
        read_lines, read_printed, read_payments, rounding,
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
    line_numbers: list | None = None  # JSON Lines: the file line of each item (None: item i is line i + 1)
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
                raise InputError(self.source, f"malformed JSON: {e.msg}", self.line_of(i), e.colno) from None

    def line_of(self, i: int) -> int:
        """The file line of JSON Lines item i."""
        return self.line_numbers[i] if self.line_numbers else i + 1

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
    # Offsets rather than stripped copies: the input may be a hundred megabytes.
    start = _SPACE.match(data).end()
    if start == len(data):
        return Records(source, [], raw=data)
    opening = data[start:start + 1]
    if opening == b"[":
        return Records(source, _split_document(source, data, exact=False), raw=data)
    # An object: one document, or JSON Lines (one object per line). A first line that
    # is a whole object, with more after it, makes JSON Lines; anything else is one
    # document (decoding it all just to find out would cost more).
    if opening == b"{":
        end = data.find(b"\n", start)
        try:
            orjson.loads(data[start:end] if end != -1 else data[start:])
            jsonl = end != -1 and _NOT_SPACE.search(data, end) is not None
        except orjson.JSONDecodeError:
            jsonl = False
        if not jsonl:
            try:
                doc = orjson.loads(data)
            except orjson.JSONDecodeError:
                return Records(source, _split_document(source, data, exact=True), raw=data, exact=True)
            return Records(source, _split_document(source, doc, exact=False), raw=data)
        lines = data.split(b"\n")
        items = [line for line in lines if line and not line.isspace()]
        # Line numbers for error messages: item i is line i + 1 unless blank lines
        # stand between them, which is rare enough to count them the slow way.
        numbers = None
        if len(items) != len(lines) - (not lines[-1] or lines[-1].isspace()):
            numbers = [n for n, line in enumerate(lines, start=1) if line and not line.isspace()]
        del lines
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
