"""Every problem of a receipt the reader refused, in words a shop owner understands.

The reader (receipts.py) only decides whether a receipt is valid; when it is not,
this says why — every problem, not the first — with where on the receipt it is
(`lines[0].unit_price`), what was found and what is expected:

    lines[0].unit_price 12,95: use a decimal point, e.g. 12.95
    date 21-11-2026: expected YYYY-MM-DD, e.g. 2026-11-21
    payments[0]: unknown key 'ammount' (did you mean 'amount'?)

The published schema is still the judge: jsonschema lists what it refuses and
this words each finding; what the reader checks beyond the schema (a calendar
day, text a lone surrogate breaks) is added here too.
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal
from functools import lru_cache

from .decoding import JsonConstant, escaped, lone_surrogates
from .exact import LIMIT_DIGITS

MAX_PROBLEMS = 20  # a receipt with a thousand broken lines gets a readable message
_LONG = 40
_DEPTH = 4  # a valid receipt nests no deeper: receipt → lines → line → value


def receipt_problems(obj) -> list[str]:
    """What is wrong with one decoded receipt, each in words; [] when the schema accepts it."""
    if not isinstance(obj, dict):
        return [f"expected a receipt (a JSON object with id, store, date, …), not {_kind(obj)}"]
    found = [f"{where}: text with a lone surrogate (\\ud800–\\udfff), which is no character; the export "
             "broke a character (an emoji or accented letter) in two" for where in lone_surrogates(obj)]
    plain = _plain(obj, 0)
    for error in _validator().iter_errors(plain):
        found.extend(_words(error))
    date = plain.get("date")
    if isinstance(date, str) and _DATE.fullmatch(date) and not _real_date(date):
        found.append(f"date {date}: not a day of the calendar")
    found = list(dict.fromkeys(found))
    if len(found) > MAX_PROBLEMS:
        found = found[:MAX_PROBLEMS] + [f"and {len(found) - MAX_PROBLEMS} more problems"]
    return found


# -- the schema's findings in words ----------------------------------------------------


def _words(error) -> list[str]:
    path = list(error.absolute_path)
    where = _path(path)
    keyword, value = error.validator, error.instance
    schema = error.schema
    if keyword == "anyOf" and _is_decimal(schema):
        return [_amount(where, value)]
    if keyword == "required":
        missing = [k for k in error.validator_value if k not in value]
        return [f"{where or 'the receipt'} has no {k}{_REQUIRED_HINT.get((_owner(path), k), '')}" for k in missing]
    if keyword == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = [k for k in value if k not in allowed]
        if not allowed:  # attributes: any key, values of a given type
            return []
        return [f"{where or 'the receipt'}: unknown key '{escaped(k)}'{_suggest(k, allowed)}" for k in unknown]
    if keyword == "type":
        return [_type(where, path, value, error.validator_value)]
    if keyword == "minLength":
        return [f"{where} is empty{_EMPTY_HINT.get(_field(path), '')}"]
    if keyword == "enum":
        choices = error.validator_value
        shown = ", ".join(choices[:-1]) + " or " + choices[-1] if len(choices) > 1 else choices[0]
        return [f"{where} {_shown(value)}: expected {shown}{_suggest(value, choices)}"]
    if keyword == "pattern":
        return [_pattern(where, _field(path), value)]
    return [f"{where or 'the receipt'}: {error.message}"]


def _type(where: str, path: list, value, expected) -> str:
    field = _field(path)
    if path and path[0] == "attributes" and len(path) == 2:
        return f"{where} {_shown(value)}: expected text, a number or true/false"
    if field == "customer":
        return f"customer {_shown(value)}: expected an object with id, debtor and name (or null)"
    if expected == "boolean":
        return f"{where} {_shown(value)}: expected true or false"
    if expected == "array":
        return f"{where} {_shown(value)}: expected a list{_LIST_OF.get(field, '')}"
    if expected == "object":
        return f"{where or 'the receipt'} {_shown(value)}: expected an object"
    if expected == "string":
        return f"{where} {_shown(value)}: expected text"
    return f"{where} {_shown(value)}: expected {expected}"


def _pattern(where: str, field, value: str) -> str:
    if field == "date":
        return f"date {_shown(value)}: expected YYYY-MM-DD{_date_example(value)}"
    if field == "created":
        return (f"created {_shown(value)}: expected a time as YYYY-MM-DDTHH:MM[:SS] with an optional offset, "
                "e.g. 2026-11-20T10:31:00+01:00")
    if field == "currency":
        example = value.upper() if isinstance(value, str) and re.fullmatch(r"[A-Za-z]{3}", value) else "EUR"
        return f"currency {_shown(value)}: expected a three-letter code in capitals, e.g. {example}"
    return f"{where} {_shown(value)}: not in the expected form"


_DMY = re.compile(r"([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]([0-9]{4})")
_YMD = re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})")
_DATE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")


def _date_example(value) -> str:
    if isinstance(value, str):
        m = _DMY.fullmatch(value.strip())
        if m:
            return f", e.g. {m.group(3)}-{int(m.group(2)):02d}-{int(m.group(1)):02d}"
        m = _YMD.fullmatch(value.strip())
        if m:
            return f", e.g. {m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    return ", e.g. 2026-11-20"


def _real_date(text: str) -> bool:
    import datetime

    try:
        datetime.date.fromisoformat(text)
        return True
    except ValueError:
        return False


# -- amounts -------------------------------------------------------------------------------


def _amount(where: str, value) -> str:
    expected = "a decimal such as 12.95"
    if isinstance(value, JsonConstant):
        return f"{where} {value}: not a number; write {expected}"
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        return f"{where} {_shown(value)}: expected {expected}"
    if isinstance(value, (int, Decimal, float)):
        return f"{where} {_shown(value)}: {_too_many_digits()}"
    text = value
    if not text.strip():
        return f"{where} is empty: expected {expected}"
    t = text.strip()
    if t != text:
        return f"{where} {_shown(text)}: write it without spaces, e.g. {t}"
    m = re.fullmatch(r"(-?)([0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+),([0-9]+)", t)
    if m:
        fixed = f"{m.group(1)}{m.group(2).replace('.', '')}.{m.group(3)}"
        return f"{where} {t}: use a decimal point, e.g. {fixed}"
    m = re.fullmatch(r"(-?)([0-9]{1,3}(?:,[0-9]{3})+)(\.[0-9]+)?", t)
    if m:
        fixed = f"{m.group(1)}{m.group(2).replace(',', '')}{m.group(3) or ''}"
        return f"{where} {t}: write it without thousands separators, e.g. {fixed}"
    if t.startswith("+") and re.fullmatch(r"\+[0-9]+(\.[0-9]+)?", t):
        return f"{where} {t}: write it without a plus sign, e.g. {t[1:]}"
    if re.fullmatch(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+", t):
        try:
            plain = format(Decimal(t), "f")
        except ArithmeticError:  # pragma: no cover - Decimal reads any such text
            plain = "12.95"
        example = plain if len(plain) <= 30 else "12.95"
        return f"{where} {t}: write it without an exponent, e.g. {example}"
    if re.fullmatch(r"-?[0-9]+\.", t) or re.fullmatch(r"-?\.[0-9]+", t):
        fixed = t + "0" if t.endswith(".") else t.replace(".", "0.", 1)
        return f"{where} {t}: write a digit on both sides of the point, e.g. {fixed}"
    if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", t):
        return f"{where} {_shown(t)}: {_too_many_digits()}"
    return f"{where} {_shown(text)}: not an amount; write {expected}"


def float_problem(obj) -> str:
    """Where a decoded receipt (a dict from Python) holds a binary float, which cannot be an amount."""
    found = []
    stack = [(obj, "")]
    while stack and len(found) < 5:
        value, path = stack.pop()
        if type(value) is float:
            found.append(f"{path} {value!r}")
        elif isinstance(value, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(value))
    shown = ", ".join(sorted(found)) or "an amount"
    return f"{shown}: a binary float cannot hold an amount exactly; give amounts as decimal strings or Decimal"


def _too_many_digits() -> str:
    return (f"more than {LIMIT_DIGITS} digits before the decimal point; a till's amounts stay below "
            f"10^{LIMIT_DIGITS}")


# -- helpers ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    from .receipts import receipt_schema

    return Draft202012Validator(receipt_schema())


def _is_decimal(schema: dict) -> bool:
    return any(isinstance(s, dict) and "pattern" in s for s in schema.get("anyOf", ()))


def _plain(value, depth: int):
    """A copy jsonschema can safely judge: containers deeper than a receipt ever nests are
    emptied (they are wrong whatever they hold, and jsonschema recurses in Python), and
    numbers that are not finite become a JsonConstant (Decimal refuses to compare NaN)."""
    if isinstance(value, dict):
        if depth >= _DEPTH:
            return {}
        return {k if isinstance(k, str) else str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if depth >= _DEPTH:
            return []
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, Decimal) and not value.is_finite():
        return JsonConstant("NaN" if value.is_nan() else ("-Infinity" if value.is_signed() else "Infinity"))
    if isinstance(value, float) and value != value:
        return JsonConstant("NaN")
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return JsonConstant("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return escaped(value)
    return value


def _path(parts: list) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _field(path: list):
    return path[-1] if path else None


def _owner(path: list) -> str | None:
    """The kind of object a path points into: None (the receipt), lines, payments, vat, customer."""
    names = [p for p in path if isinstance(p, str)]
    return names[-1] if names else None


def _kind(value) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    if isinstance(value, JsonConstant):
        return str(value)
    return "a number"


def _shown(value) -> str:
    """A value as a message shows it: text as written (quoted when it needs to be), long
    values cut short, numbers as JSON writes them."""
    if isinstance(value, str):
        text = escaped(value)
        if len(text) > _LONG:
            text = f"{text[:_LONG]}… ({len(value):,} characters)"
        if not text or text != text.strip() or any(c in text for c in " ,;:'\""):
            return '"' + text.replace('"', '\\"') + '"'
        return text
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        if value.bit_length() > 200:  # str() refuses the longest, and the message needs no more
            return f"a number of about {int(value.bit_length() * 0.30103):,} digits"
        return str(value)
    if isinstance(value, Decimal):
        text = str(value)
        return text if len(text) <= _LONG else f"{text[:20]}… ({len(value.as_tuple().digits):,} digits)"
    if isinstance(value, list):
        return "[…]" if value else "[]"
    if isinstance(value, dict):
        return "{…}" if value else "{}"
    return str(value)


shown = _shown  # for the other readers' messages (closings)


def _suggest(word, choices) -> str:
    if not isinstance(word, str):
        return ""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f" (did you mean '{lowered[word.lower()]}'?)"
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{lowered[close[0]]}'?)"
    return ""


_REQUIRED_HINT = {
    (None, "id"): " (every receipt needs an id, unique per source)",
    (None, "store"): " (the store or warehouse it was sold in)",
    (None, "date"): " (its business day, YYYY-MM-DD)",
    (None, "status"): " (completed, open or voided)",
    (None, "currency"): " (e.g. EUR)",
    (None, "prices_include_vat"): " (true or false)",
    (None, "lines"): " (a list of lines; [] for none)",
    (None, "payments"): " (a list of payments; [] for none)",
    ("lines", "vat"): " (the line's VAT name, as the rule file declares it)",
    ("lines", "quantity"): " (e.g. 1)",
    ("lines", "unit_price"): " (e.g. 12.95)",
    ("payments", "method"): " (the payment method, as the rule file declares it)",
    ("payments", "amount"): " (e.g. 12.95)",
    ("vat", "name"): " (the VAT name, as the rule file declares it)",
    ("vat", "amount"): " (e.g. 2.25)",
}
_EMPTY_HINT = {"id": " (every receipt needs an id, unique per source)"}
_LIST_OF = {"lines": " of lines", "payments": " of payments", "vat": " of VAT amounts"}
