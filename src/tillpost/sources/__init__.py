"""Source adapters: what a POS exports → normalized receipts (SPEC §4).

`read_receipts(path, ruleset, source)` is the one entry point the command line
and the API use. With no source named, the file is looked at: a Lightspeed
export is recognised by its field names, a `.csv` file is read with the YAML
mapping beside it, and anything else is tillpost's own normalized receipts
(JSON, JSON Lines, or '-' for stdin), read as before.

A source is named `NAME` or `NAME:OPTIONS`: `csv:kassa.yaml` (the mapping file),
`lightspeed-retail:timezone=Europe/Brussels,currency=EUR`.

Each adapter turns one source record (a sale) into one receipt dict, or into a
`SourceError` with every reason. The receipts come back as `Records`; a record
that could not be read is a stub `{"id": …}` whose reason is in
`Records.errors`, so booking reports it in its error list under the source's own
id — never a crash, never dropped.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

from ..engine.decoding import decode_exact, escaped, lone_surrogates, utf8_problem, without_bom
from ..engine.receipts import InputError, Records, parse_input, read_input
from .mapping import Mapper, SourceError


@dataclass(frozen=True)
class Adapter:
    name: str
    description: str
    module: str  # the module under tillpost.sources with convert(data, origin, mapper, options)


ADAPTERS: dict[str, Adapter] = {a.name: a for a in (
    Adapter("lightspeed-retail", "Lightspeed Retail (R-Series) API V3 Sale JSON, with SaleLines, SalePayments "
            "and Customer loaded; RegisterCount and RegisterWithdraw JSON as till closings", "lightspeed_retail"),
    Adapter("lightspeed-x", "Lightspeed Retail X-Series (ex-Vend) sales 2.0 JSON (GET /api/2.0/sales), or 0.9 "
            "register_sales; register closures (payments_summary and the close's counted totals) as till closings",
            "lightspeed_x"),
    Adapter("lightspeed-k", "Lightspeed Restaurant K-Series financial API sales JSON (dailyFinancials, "
            "financials, sales-daily)", "lightspeed_k"),
    Adapter("csv", "CSV or spreadsheet export of receipts or of till closings, read with a YAML column mapping "
            "(schemas/csv-mapping.schema.json)", "csv_export"),
)}
NORMALIZED = "tillpost"


def split_source(spec: str) -> tuple[str, dict[str, str]]:
    """`NAME[:OPTIONS]` → (name, options); `csv:FILE.yaml` names the CSV mapping file."""
    name, _, rest = spec.partition(":")
    options: dict[str, str] = {}
    if rest:
        if "=" not in rest:
            options["mapping"] = rest
        else:
            for part in rest.split(","):
                key, eq, value = part.partition("=")
                if not eq or not key.strip():
                    raise ValueError(f"option '{part}' is not KEY=VALUE")
                options[key.strip()] = value.strip()
    return name.strip(), options


def _read_bytes(path: str, size: int = -1) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None


# Field names that only one POS export uses, looked for in the first bytes of a file.
_MARKERS = (
    (b'"saleID"', "lightspeed-retail"),
    (b'"registerCountID"', "lightspeed-retail"),
    (b'"payments_summary"', "lightspeed-x"),
    (b'"line_items"', "lightspeed-x"),
    (b'"register_sale_products"', "lightspeed-x"),
    (b'"salesLines"', "lightspeed-k"),
    (b'"nextStartOfDayAsIso8601"', "lightspeed-k"),
)


_HEAD = 65536


def detect(path: str, data: bytes) -> str:
    """Which adapter reads this file: by its field names (in its first _HEAD bytes), or its extension for CSV."""
    head = data[:_HEAD]
    found = [(head.find(marker), name) for marker, name in _MARKERS if marker in head]
    if found:
        return min(found)[1]
    if path.lower().endswith((".csv", ".tsv")):
        return "csv"
    return NORMALIZED


def read_receipts(path: str, ruleset=None, source: str | None = None) -> Records:
    """Read RECEIPTS from a file or '-' through the named (or detected) source adapter."""
    if source in (None, NORMALIZED) and path != "-" and not os.path.isfile(path):
        return read_input(path)  # its own 'cannot read' error
    try:
        name, options = split_source(source) if source else (None, {})
    except ValueError as e:
        raise InputError(path, f"source '{source}': {e}") from None
    if name == NORMALIZED:
        return read_input(path)
    if name is not None and name not in ADAPTERS:
        known = ", ".join([NORMALIZED, *ADAPTERS])
        raise InputError(path, f"unknown source '{name}'; expected one of {known} (see `tillpost sources`)")
    if name is None and path != "-":
        # Told from the file's first bytes: a file in tillpost's own format is then read
        # by `read_input`, which does not hold JSON Lines whole.
        name = detect(path, _read_bytes(path, _HEAD))
        if name == NORMALIZED:
            return read_input(path)
    data = _read_bytes(path)
    origin = "<stdin>" if path == "-" else path
    if name is None:
        name = detect(path, data)
        if name == NORMALIZED:
            return parse_input(data, origin)
    adapter = ADAPTERS[name]
    import importlib

    module = importlib.import_module(f"{__name__}.{adapter.module}")
    mapper = Mapper(ruleset, options.get("source", name) if name == "csv" else name)
    try:
        return to_records(origin, module.convert(data, origin, mapper, options))
    except SourceError as e:  # about the export as a whole (its business day, its shape), not one record
        raise InputError(origin, f"{name} export: {escaped(str(e))}") from None
    except READ_FAILURES as e:
        raise InputError(origin, f"{name} export cannot be read: {type(e).__name__}: {escaped(str(e))}") from None


def to_records(origin: str, results) -> Records:
    """(source id, receipt dict | SourceError) pairs → Records with per-record errors."""
    items: list = []
    errors: dict[int, str] = {}
    from .closing_records import ClosingSourceError

    for rid, result in results:
        if not isinstance(result, SourceError):
            broken = lone_surrogates(result)
            if broken:  # text no output can write (a POS's broken emoji): the record's error, in words
                result = SourceError(f"{escaped(rid)}: text with a lone surrogate (\\ud800–\\udfff), which is no "
                                     f"character, in {', '.join(broken)}")
        if isinstance(result, SourceError):
            errors[len(items)] = escaped(str(result))
            # a closing's stand-in is a closing: its error is reported among the closings'
            items.append({"type": "closing", "id": escaped(rid)} if isinstance(result, ClosingSourceError)
                         else {"id": escaped(rid)})
        else:
            items.append(result)
    return Records(origin, items, exact=True, errors=errors)


READ_FAILURES = (TypeError, ValueError, AttributeError, KeyError, ArithmeticError)


def each_record(records, source: str, what: str, id_name: str, id_of, read, label=None):
    """(source id, receipt dict | SourceError) for each POS record: one that cannot be
    read becomes an error that names it, never a crash and never a gap.

    `id_of(record)` is its source id (empty when it has none), `read(record)` its
    normalized receipt, `label(record, rid)` how messages name it.
    """
    for n, record in enumerate(records, start=1):
        try:
            rid = id_of(record)
        except READ_FAILURES:  # not even an object
            rid = ""
        if not rid:
            yield f"{source}#{n}", SourceError(f"{what.rsplit(' ', 1)[-1]} {n} of the input has no {id_name}")
            continue
        name = label(record, rid) if label else f"{what} {rid}"
        try:
            yield rid, read(record)
        except SourceError as e:
            yield rid, SourceError(f"{name}: " + "; ".join(e.reasons))
        except READ_FAILURES as e:
            yield rid, SourceError(f"{name}: cannot be read: {type(e).__name__}: {e}")


def load_json(data: bytes, origin: str) -> list:
    """A JSON document or JSON Lines, numbers with fractions decoded as Decimal (never float),
    read as carefully as tillpost's own receipts (engine/decoding.py)."""
    data = without_bom(data)
    problem = utf8_problem(data)
    if problem is not None:
        line, column, _, words = problem
        raise InputError(origin, words, line, column)
    try:
        return [decode_exact(data)]
    except RecursionError:
        raise InputError(origin, "the export nests deeper than tillpost reads") from None
    except json.JSONDecodeError as first:
        docs = []
        for n, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                docs.append(decode_exact(raw))
            except (json.JSONDecodeError, RecursionError):
                raise InputError(origin, f"malformed JSON: {first.msg}", first.lineno, first.colno) from None
        if not docs:
            raise InputError(origin, "malformed JSON: the input is empty") from None
        return docs


def time_zone(options: dict, origin: str):
    """The shop's time zone, which turns the POS's UTC times into business days."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = options.get("timezone", "Europe/Amsterdam")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(origin, f"unknown time zone '{name}' (an IANA name such as Europe/Amsterdam)") from None
