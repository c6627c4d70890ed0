"""The filters templates format with: money, dates and receipt text, per target.

Amounts are `Decimal` and stay so: `amount` quantizes to the currency's
decimals (the `decimals` of the template context) and writes a point or a
comma. Receipt text (descriptions, customer names) can hold anything a POS
lets a cashier type; `text` makes it one clean line that every format can
carry (no control characters, which XML 1.0 cannot hold at all) and cuts it to
the target's field limit. Format-specific quoting sits on top of `text`.
"""

from __future__ import annotations

import json
import re
from datetime import date as _date
from decimal import ROUND_HALF_UP, Decimal

from jinja2 import pass_context

# Characters XML 1.0 cannot carry, plus the non-characters and lone surrogates no encoder likes.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_SPACE = re.compile(r"\s+")
# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


@pass_context
def amount(ctx, value, comma: bool = False, absolute: bool = False) -> str:
    d = Decimal(value)
    if absolute:
        d = abs(d)
    text = str(d.quantize(Decimal(1).scaleb(-ctx["decimals"]), rounding=ROUND_HALF_UP))
    if text.startswith("-") and not d:  # "-0.00" reads as a credit of nothing
        text = text[1:]
    return text.replace(".", ",") if comma else text


def date(value: str, fmt: str = "%Y-%m-%d") -> str:
    return _date.fromisoformat(value).strftime(fmt)


def date_add(value: str, days: int) -> str:
    from datetime import timedelta

    return (_date.fromisoformat(value) + timedelta(days=days)).isoformat()


def text(value, limit: int | None = None) -> str:
    """One clean line: no control characters, whitespace runs as one space, at most `limit` characters."""
    s = _SPACE.sub(" ", _ILLEGAL.sub("", "" if value is None else str(value))).strip()
    if limit is not None and len(s) > limit:
        s = s[:limit].rstrip()
    return s


def csvcell(value, delimiter: str = ",", limit: int | None = None) -> str:
    """A CSV cell (RFC 4180 quoting) that a spreadsheet shows as text, never runs as a formula."""
    s = text(value, limit)
    if s.startswith(_FORMULA_START):
        s = "'" + s
    if any(c in s for c in (delimiter, '"', "\n", "\r")) or s != s.strip():
        s = '"' + s.replace('"', '""') + '"'
    return s


def jsonstr(value, limit: int | None = None) -> str:
    """A JSON string literal (quotes included)."""
    return json.dumps(text(value, limit), ensure_ascii=False)


def beancount_str(value, limit: int | None = None) -> str:
    """A beancount string literal (quotes included)."""
    return '"' + text(value, limit).replace("\\", "\\\\").replace('"', '\\"') + '"'


def hledger_text(value, limit: int | None = None) -> str:
    """Text for an hledger description or account name: `;` would start a comment there,
    two spaces would end an account name, `:` would open a sub-account."""
    return text(value, limit).replace(";", ",").replace(":", ".")


def _tag(value, cleaned: str) -> str:
    """`cleaned`, with a short hash of `value` when cleaning lost something: two debtors whose
    names clean to the same text must not share an account."""
    import hashlib

    if cleaned == str(value):
        return cleaned
    return f"{cleaned}-{hashlib.sha1(str(value).encode('utf-8', 'surrogatepass')).hexdigest()[:6]}"


def ident(value, limit: int) -> str:
    """An identifier (a debtor code) for a field of at most `limit` (at least 8) characters: as it
    is when it fits, else cut and ended with a short hash of the whole, so two long codes stay two."""
    import hashlib

    cleaned = text(value)
    if cleaned == str(value) and len(cleaned) <= limit:
        return cleaned
    digest = hashlib.sha1(str(value).encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return f"{cleaned[:limit - 7].rstrip()}-{digest}"


def hledger_account(value, limit: int | None = None) -> str:
    """A part of an hledger account name made from receipt text (a debtor)."""
    cleaned = hledger_text(value, limit) or "_"
    return _tag(value, cleaned)


def beancount_component(value) -> str:
    """One component of a beancount account name: starts with a capital or digit, then
    letters, digits and dashes."""
    s = re.sub(r"[^A-Za-z0-9-]+", "-", text(value)).strip("-") or "X"
    return s[0].upper() + s[1:] if s[0].isalpha() else s


def beancount_subaccount(value) -> str:
    """A sub-account component made from receipt text (a debtor)."""
    return _tag(value, beancount_component(value))


def install(env) -> None:
    env.filters.update(amount=amount, date=date, date_add=date_add, ident=ident, text=text, csvcell=csvcell, jsonstr=jsonstr,
                       beancount_str=beancount_str, hledger_text=hledger_text, hledger_account=hledger_account, beancount_subaccount=beancount_subaccount,
                       beancount_component=beancount_component)
