"""What every adapter shares: reading a POS's numbers exactly, and mapping its names to ours.

A POS names payment types ("Pin", "Cadeaubon"), tax classes ("Alcohol", a rate)
and categories in its own words; the rule file has methods, VAT names and
categories. `Mapper` turns the first into the second:

- an explicit `source NAME payment|tax|category "VALUE" -> name` line of the rule
  file wins;
- else the obvious key: a payment type lower-cased that is a declared method, a
  tax key that is a declared VAT name, or the one declared VAT with the same rate;
  a category as the POS spells it.

What cannot be mapped is not guessed: it becomes a reason on the receipt's error,
with the rule-file line that would map it.
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
CENT = Decimal("0.01")

# The categories adapters give the lines that are not goods, so rules can book them apart.
TIP = "tip"                    # outside VAT; owed to the staff
GIFTCARD = "giftcard"          # a gift card sold: a liability, not revenue; outside VAT
DEPOSIT = "deposit"            # statiegeld: outside VAT, owed back on return
SERVICE_CHARGE = "service-charge"  # revenue, with the VAT of what it is charged on
SURCHARGE = "surcharge"        # a card surcharge or non-cash fee charged to the customer: revenue
DISCOUNT = "discount"          # a discount on the whole sale, not on a line: negative revenue
SPECIAL_CATEGORIES = (TIP, GIFTCARD, DEPOSIT, SERVICE_CHARGE, SURCHARGE, DISCOUNT)


class SourceError(Exception):
    """One source record cannot become a receipt: every reason, for its error entry."""

    def __init__(self, reasons: list[str] | str):
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        super().__init__("; ".join(self.reasons))


# -- numbers and times, exactly -------------------------------------------------------------

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def dec(value, what: str) -> Decimal:
    """A number as the POS sends it (string, int or exact-decoded Decimal) → Decimal.

    Floats never arrive here: JSON is decoded with Decimal fractions."""
    if isinstance(value, bool) or value is None:
        raise SourceError(f"{what} is {value!r}, not a number")
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        d = Decimal(value.strip())
        return d.normalize() if "e" in value.lower() else d
    if isinstance(value, float):  # pragma: no cover - decoders never make one
        raise SourceError(f"{what} is a binary float {value!r}")
    raise SourceError(f"{what} is {value!r}, not a number")


def dec_or(obj: dict, key: str, default: Decimal | None = ZERO, what: str | None = None) -> Decimal | None:
    """obj[key] as a Decimal; `default` when it is missing, null or an empty string."""
    value = obj.get(key)
    if value is None or value == "":
        return default
    return dec(value, what or key)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def text(value) -> str:
    """A number as tillpost writes amounts: a plain decimal string, never an exponent."""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def truthy(value) -> bool:
    """Lightspeed Retail sends booleans as "true"/"false" strings."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def as_list(value) -> list:
    """Lightspeed Retail sends a single object where a list is expected, and "" for none."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    return [value]


def parse_time(value, what: str) -> _dt.datetime:
    if not isinstance(value, str) or not value:
        raise SourceError(f"{what} is {value!r}, not a timestamp")
    v = value.strip().replace(" ", "T", 1)
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    try:
        return _dt.datetime.fromisoformat(v)
    except ValueError:
        raise SourceError(f"{what} {value!r} is not an ISO 8601 timestamp") from None


def local(moment: _dt.datetime, zone) -> _dt.datetime:
    """The moment in the shop's time zone (a naive time is taken to be local already)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def iso(moment: _dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def rate_text(rate: Decimal) -> str:
    """21 → "21%", 9.50 → "9.5%": how a rate is written in a mapping line."""
    r = rate.normalize()
    return f"{format(r, 'f')}%"


# -- names ----------------------------------------------------------------------------------


class Mapper:
    """Maps one source's payment types, taxes and categories to the rule file's names.

    Without a rule set (reading receipts only) names pass through as the POS
    spells them, lower-cased for payment types; a tax becomes its rate ("21%")."""

    def __init__(self, ruleset, source: str):
        self.source = source
        self.ruleset = ruleset
        self.explicit: dict[tuple[str, str], str] = {}
        if ruleset is not None:
            for m in ruleset.sources:
                if m.source == source:
                    self.explicit[(m.what, m.value)] = m.name
                    self.explicit.setdefault((m.what, m.value.casefold()), m.name)

    def _line(self, what: str, value: str, placeholder: str) -> str:
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'add: source {self.source} {what} "{quoted}" -> {placeholder}'

    def _explicit(self, what: str, *keys: str) -> str | None:
        for key in keys:
            if key is None:
                continue
            name = self.explicit.get((what, key)) or self.explicit.get((what, key.casefold()))
            if name:
                return name
        return None

    def method(self, payment_type: str, problems: list[str], aliases: tuple[str, ...] = ()) -> str:
        """`aliases`: other names of the same payment type (a code) that a mapping line may use."""
        name = self._explicit("payment", payment_type, *aliases)
        if name:
            return name
        lowered = payment_type.strip().lower()
        if self.ruleset is None:
            return lowered or "unknown"
        for candidate in (lowered, re.sub(r"[^a-z0-9]+", "_", lowered).strip("_")):
            if candidate in self.ruleset.methods:
                return candidate
        problems.append(f'payment type "{payment_type}" is not a method of the rule file; '
                        + self._line("payment", payment_type, "<method>"))
        return lowered or "unknown"

    def vat(self, key: str | None, rate: Decimal | None, problems: list[str]) -> str:
        """The VAT name for a tax class/code `key` with percentage `rate` (either may be None)."""
        rate_key = rate_text(rate) if rate is not None else None
        name = self._explicit("tax", key, rate_key, format(rate.normalize(), "f") if rate is not None else None)
        if name:
            return name
        label = key if key else rate_key
        if self.ruleset is None:
            return label or "unknown"
        vats = self.ruleset.vats
        if key and key in vats:
            return key
        if rate is not None:
            same = [v.name for v in vats.values() if v.rate == rate]
            if len(same) == 1:
                return same[0]
            shown = f'tax "{key}" ({rate_key})' if key else f"tax rate {rate_key}"
            if same:
                problems.append(f"{shown} matches VAT names {', '.join(same)} of the rule file; "
                                + self._line("tax", key or rate_key, "<vat>"))
            else:
                problems.append(f"{shown} has no VAT name with that rate in the rule file; "
                                + self._line("tax", key or rate_key, "<vat>"))
            return label
        problems.append(f'tax "{key}" is not a VAT name of the rule file; ' + self._line("tax", key or "", "<vat>"))
        return label or "unknown"

    def outside_vat(self, what: str, problems: list[str]) -> str:
        """The 0% VAT name for what is outside VAT (tips, deposits, gift cards sold)."""
        name = self._explicit("tax", "0%", "0", "none")
        if name:
            return name
        if self.ruleset is None:
            return "0%"
        zero = [v.name for v in self.ruleset.vats.values() if v.rate == 0]
        if len(zero) == 1:
            return zero[0]
        if zero:
            problems.append(f"{what} is outside VAT and the rule file has several 0% VAT names "
                            f"({', '.join(zero)}); " + self._line("tax", "0%", "<vat>"))
        else:
            problems.append(f"{what} is outside VAT, and the rule file declares no 0% VAT name; "
                            "add: vat none 0%  (and: when tax vat=none skip)")
        return "0%"

    def category(self, category: str | None, default: str | None = None) -> str:
        """The rule file's category for the POS's `category`: a mapping line's, else `default`, else
        the POS's own word."""
        if not category:
            return default or ""
        return self._explicit("category", category) or default or category


# -- receipts ---------------------------------------------------------------------------------


def line(quantity: Decimal, unit_price: Decimal, vat: str, *, category: str = "", sku: str = "",
         description: str = "", discount: Decimal = ZERO, cost: Decimal | None = None) -> dict:
    """One normalized receipt line (SPEC §4), optional fields left out when empty."""
    out: dict = {}
    if sku:
        out["sku"] = sku
    if description:
        out["description"] = description
    if category:
        out["category"] = category
    out["quantity"] = text(quantity)
    out["unit_price"] = text(unit_price)
    if discount:
        out["discount"] = text(discount)
    out["vat"] = vat
    if cost is not None:
        out["cost"] = text(cost)
    return out


def line_gross(line_: dict) -> Decimal:
    """What a normalized line charges: round(quantity × unit_price − discount)."""
    return cents(Decimal(line_["quantity"]) * Decimal(line_["unit_price"]) - Decimal(line_.get("discount", "0")))


def printed_vat(amounts: dict[str, Decimal]) -> list[dict]:
    return [{"name": name, "amount": text(cents(amount))} for name, amount in amounts.items()]
