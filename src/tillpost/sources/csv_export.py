"""Generic CSV / spreadsheet exports, read with a YAML column mapping.

Many POS systems only export CSV: one row per receipt line, the receipt's own
columns (id, date, store, …) repeated on each row, and the payments either in
columns of their own (`Contant`, `PIN`, …) or in rows of their own. The mapping
file says which column is what and how the export writes numbers and dates; its
JSON Schema is `schemas/csv-mapping.schema.json`. It is found as:

- `--source csv:MAPPING.yaml`, else
- beside the export: `sales.csv.yaml`, `sales.yaml`, or `csv-mapping.yaml` in its folder.

The mapping's `source` names the export in the rule file's mapping lines
(`source kassa-x payment "PIN" -> pin`); default `csv`.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources

from ..engine.receipts import InputError
from . import time_zone
from .mapping import (
    DEPOSIT, GIFTCARD, SERVICE_CHARGE, TIP, ZERO, SourceError, cents, iso, line, line_gross, local, text,
)

SOURCE = "csv"
HUNDRED = Decimal(100)
OUTSIDE_VAT = {TIP: "a tip", DEPOSIT: "a deposit (statiegeld)", GIFTCARD: "a gift card sold"}


@lru_cache(maxsize=1)
def mapping_schema() -> dict:
    return json.loads(resources.files("tillpost.schemas").joinpath("csv-mapping.schema.json").read_text(encoding="utf-8"))


def find_mapping(path: str, options: dict) -> str:
    if options.get("mapping"):
        return options["mapping"]
    if path != "-":
        folder, name = os.path.split(path)
        stem = os.path.splitext(name)[0]
        for candidate in (path + ".yaml", os.path.join(folder, stem + ".yaml"), os.path.join(folder, "csv-mapping.yaml")):
            if os.path.isfile(candidate):
                return candidate
    raise InputError(path, "a CSV export needs its column mapping: --source csv:MAPPING.yaml, or a "
                           "MAPPING file beside it (NAME.csv.yaml, NAME.yaml or csv-mapping.yaml)")


def load_mapping(mapping_path: str) -> dict:
    """Read and validate the YAML mapping; an unusable one makes the whole input unusable."""
    import yaml
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    try:
        with open(mapping_path, encoding="utf-8") as f:
            mapping = yaml.safe_load(f)
    except OSError as e:
        raise InputError(mapping_path, f"cannot read the CSV mapping: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(mapping_path, f"malformed YAML: {getattr(e, 'problem', None) or e}",
                         mark.line + 1 if mark else None, mark.column + 1 if mark else None) from None
    error = best_match(Draft202012Validator(mapping_schema()).iter_errors(mapping))
    if error is not None:
        raise InputError(mapping_path, f"not a CSV mapping (schemas/csv-mapping.schema.json): "
                                       f"{error.json_path}: {error.message}")
    return mapping


class Reader:
    """Reads the values of one export as its mapping says they are written."""

    def __init__(self, mapping: dict):
        self.m = mapping
        self.decimal = mapping.get("decimal_separator", ".")
        self.thousands = mapping.get("thousands_separator", "")
        self.date_format = mapping.get("date_format", "%Y-%m-%d")
        self.datetime_format = mapping.get("datetime_format")

    def number(self, raw: str, what: str, percent: bool = False) -> Decimal | None:
        s = (raw or "").strip().replace("\u00a0", "")
        if percent:
            s = s.rstrip("%").strip()
        if not s:
            return None
        if self.thousands:
            s = s.replace(self.thousands, "")
        if self.decimal == ",":
            s = s.replace(",", ".")
        if s.startswith("+"):
            s = s[1:]
        if s.endswith("-") and s[:-1].replace(".", "", 1).isdigit():  # "12,50-": trailing minus
            s = "-" + s[:-1]
        try:
            value = Decimal(s)
        except InvalidOperation:
            raise SourceError(f"{what} {raw!r} is not a number written with decimal separator "
                              f"'{self.decimal}'") from None
        if not value.is_finite():
            raise SourceError(f"{what} {raw!r} is not a number")
        return value

    def date(self, raw: str) -> _dt.date:
        try:
            return _dt.datetime.strptime(raw.strip(), self.date_format).date()
        except ValueError:
            raise SourceError(f"date {raw!r} does not have the format {self.date_format}") from None

    def moment(self, raw: str) -> _dt.datetime:
        s = raw.strip()
        try:
            if self.datetime_format:
                return _dt.datetime.strptime(s, self.datetime_format)
            return _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            raise SourceError(f"time {raw!r} does not have the format {self.datetime_format or 'ISO 8601'}") from None


def _rows(data: bytes, origin: str, mapping: dict) -> tuple[list[str], list[tuple[int, dict]]]:
    encoding = mapping.get("encoding", "utf-8")
    try:
        content = data.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except (UnicodeDecodeError, LookupError) as e:
        raise InputError(origin, f"cannot decode the CSV as {encoding}: {e}") from None
    delimiter = mapping.get("delimiter", ",").replace("\\t", "\t")
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter, quotechar=mapping.get("quote", '"'))
    try:
        header = next(reader)
    except StopIteration:
        return [], []
    except csv.Error as e:
        raise InputError(origin, f"malformed CSV: {e}", 1, 1) from None
    header = [h.strip() for h in header]
    rows = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            rows.append((reader.line_num, dict(zip(header, values))))
    except csv.Error as e:
        raise InputError(origin, f"malformed CSV: {e}", reader.line_num, 1) from None
    return header, rows


def _columns(mapping: dict) -> list[str]:
    cols = list(mapping["receipt"].values()) + list(mapping["line"].values())
    payments = mapping.get("payments") or {}
    cols += list(payments.get("columns", {})) + [payments[k] for k in ("method", "amount") if k in payments]
    return cols


def convert(data: bytes, origin: str, mapper, options: dict):
    mapping = load_mapping(find_mapping(origin if origin != "<stdin>" else "-", options))
    if mapping.get("source") and "source" not in options:
        mapper = type(mapper)(mapper.ruleset, mapping["source"])
    zone = time_zone({"timezone": mapping.get("timezone", options.get("timezone", "Europe/Amsterdam"))}, origin)
    header, rows = _rows(data, origin, mapping)
    closings = "closing" in mapping  # an export of till closings: csv_closings reads it
    if closings:
        from . import csv_closings
    missing = [c for c in (csv_closings.columns(mapping) if closings else _columns(mapping)) if c not in header]
    if rows and missing:
        raise InputError(origin, f"the CSV has no column {', '.join(repr(c) for c in missing)} that its mapping "
                                 f"names; its columns are {', '.join(repr(h) for h in header)}", 1, 1)
    reader = Reader(mapping)
    if closings:
        yield from csv_closings.convert(rows, mapping, reader, mapper, zone)
        return
    id_col = mapping["receipt"]["id"]
    receipts: dict[str, list[tuple[int, dict]]] = {}
    for n, row in rows:
        rid = (row.get(id_col) or "").strip()
        if not rid:
            yield f"{mapper.source}:row{n}", SourceError(f"CSV row {n} has no receipt id in column '{id_col}'")
            continue
        receipts.setdefault(rid, []).append((n, row))
    for rid, group in receipts.items():
        first, last = group[0][0], group[-1][0]
        where = f"row {first}" if first == last else f"rows {first}-{last}"
        try:
            yield rid, _receipt(rid, group, mapping, reader, mapper, zone)
        except SourceError as e:
            yield rid, SourceError(f"CSV receipt {rid} ({where}): " + "; ".join(e.reasons))
        except (TypeError, ValueError, KeyError, ArithmeticError) as e:
            yield rid, SourceError(f"CSV receipt {rid} ({where}): cannot be read: {type(e).__name__}: {e}")


def _status(value: str, mapping: dict) -> str:
    table = mapping.get("status") or {}
    v = value.strip()
    for status in ("completed", "open", "voided"):
        if v in table.get(status, ()):
            return status
    if not table and v.lower() in ("completed", "open", "voided"):
        return v.lower()
    raise SourceError(f"status {value!r} is not one of the mapping's statuses")


def _receipt(rid: str, group: list, mapping: dict, reader: Reader, mapper, zone) -> dict:
    problems: list[str] = []
    rc, lc = mapping["receipt"], mapping["line"]
    head = group[0][1]

    def col(row: dict, key: str, columns: dict = rc) -> str:
        name = columns.get(key)
        return (row.get(name) or "").strip() if name else ""

    status = _status(col(head, "status"), mapping) if rc.get("status") else "completed"
    store = col(head, "store") or (mapping.get("defaults") or {}).get("store")
    if not store:
        problems.append("it has no store (map a store column or give defaults.store)")
    register = col(head, "register") or (mapping.get("defaults") or {}).get("register")
    incl = mapping.get("prices_include_vat", True)

    lines: list[dict] = []
    payments: list[dict] = []
    pay_rows = mapping.get("payments") or {}
    for n, row in group:
        try:
            quantity = reader.number(col(row, "quantity", lc), f"row {n} quantity")
            if quantity is not None:
                lines.append(_line(row, n, quantity, mapping, reader, mapper, problems, col))
            if "method" in pay_rows:
                method_name = (row.get(pay_rows["method"]) or "").strip()
                amount = reader.number(row.get(pay_rows["amount"], ""), f"row {n} payment amount")
                if method_name and amount is not None:
                    payments.append({"method": mapper.method(method_name, problems), "amount": text(amount)})
        except SourceError as e:
            problems.extend(e.reasons)
    for column, type_name in (pay_rows.get("columns") or {}).items():
        try:
            amount = reader.number(head.get(column, ""), f"payment column '{column}'")
        except SourceError as e:
            problems.extend(e.reasons)
            continue
        if amount:
            payments.append({"method": mapper.method(type_name, problems), "amount": text(amount)})

    total = sum((line_gross(ln) for ln in lines), ZERO)
    if not incl and mapper.ruleset is not None:
        per_vat: dict[str, Decimal] = {}
        for ln in lines:
            per_vat[ln["vat"]] = per_vat.get(ln["vat"], ZERO) + line_gross(ln)
        total += sum((cents(g * mapper.ruleset.vats[v].rate / HUNDRED) for v, g in per_vat.items()
                      if v in mapper.ruleset.vats), ZERO)
    try:
        stated = reader.number(col(head, "total"), "total") if rc.get("total") else None
        rounding = reader.number(col(head, "cash_rounding"), "cash_rounding") if rc.get("cash_rounding") else None
    except SourceError as e:
        problems.extend(e.reasons)
        stated = rounding = None
    if stated is not None and status == "completed" and not problems and cents(stated) != total:
        problems.append(f"its lines add up to {total} but its total column says {cents(stated)} (not corrected)")

    receipt: dict = {"id": rid}
    number = col(head, "number")
    if number:
        receipt["number"] = number
    receipt["source"] = mapper.source
    receipt["store"] = store or "?"
    if register:
        receipt["register"] = register
    try:
        receipt["date"] = reader.date(col(head, "date")).isoformat()
        if rc.get("created") and col(head, "created"):
            receipt["created"] = iso(local(reader.moment(col(head, "created")), zone))
    except SourceError as e:
        problems.extend(e.reasons)
    if problems and status == "completed":
        raise SourceError(problems)
    receipt.update({"status": status, "currency": mapping.get("currency", "EUR"), "prices_include_vat": incl})
    customer = {k: col(head, f"customer_{k}") for k in ("id", "debtor", "name") if col(head, f"customer_{k}")}
    if customer:
        receipt["customer"] = customer
    receipt["lines"] = lines
    receipt["payments"] = payments
    if rounding:
        receipt["cash_rounding"] = text(rounding)
    return receipt


def _line(row: dict, n: int, quantity: Decimal, mapping: dict, reader: Reader, mapper, problems, col) -> dict:
    lc = mapping["line"]
    kind = (mapping.get("kinds") or {}).get(col(row, "kind", lc), "goods") if lc.get("kind") else "goods"
    unit_price = reader.number(col(row, "unit_price", lc), f"row {n} unit_price")
    if unit_price is None:
        raise SourceError(f"row {n} has a quantity but no unit price")
    discount = reader.number(col(row, "discount", lc), f"row {n} discount") or ZERO if lc.get("discount") else ZERO
    cost = reader.number(col(row, "cost", lc), f"row {n} cost") if lc.get("cost") else None
    if kind in OUTSIDE_VAT:
        vat = mapper.outside_vat(OUTSIDE_VAT[kind], problems)
        category = mapper.category(kind)
    else:
        raw = col(row, "vat", lc)
        rate = None
        if mapping.get("vat_is_rate", True):
            try:
                rate = reader.number(raw, f"row {n} VAT", percent=True)
            except SourceError:
                if mapping.get("vat_is_rate") is True:
                    raise
        vat = mapper.vat(None, rate.normalize(), problems) if rate is not None else mapper.vat(raw or None, None, problems)
        category = mapper.category(SERVICE_CHARGE) if kind == SERVICE_CHARGE else mapper.category(col(row, "category", lc))
    return line(quantity, unit_price, vat, category=category, sku=col(row, "sku", lc),
                description=col(row, "description", lc), discount=discount, cost=cost)
