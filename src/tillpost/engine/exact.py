"""Money arithmetic that is exact or refused, never silently rounded.

Decimal's default context rounds any result past 28 significant digits without a
word. Booking runs under `EXACT` instead: its Inexact and Rounded traps turn every
sum or product that would lose a digit into an ArithmeticError, which becomes the
receipt's error (or the input's, for a day's total). The only rounding tillpost
does on purpose is SPEC §5's — half away from zero, to the currency's cents — and
it goes through `ROUNDING` explicitly (`rounded`, `divided`). `book()` sets EXACT once
for a whole batch; `facts_and_total` sets it for a receipt booked on its own.

Why one division and one rounding give SPEC §5's cent exactly: amounts are below
10^15 (the receipt schema bounds them; facts check what they compute), so a
quotient's exact value, when it is not itself a half cent, lies at least
1 / (2 × its divisor in cents) away from one. At `PREC` digits the division's own
rounding error is far smaller than that for any receipt below 10^10 lines, so the
half-up rounding to cents decides exactly as it would on the exact quotient.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow, Rounded

PREC = 50
# Amounts a till can produce stay below this (receipt.schema.json: at most 15 digits before the point).
LIMIT = Decimal(10) ** 15
LIMIT_DIGITS = 15

EXACT = Context(prec=PREC, rounding=ROUND_HALF_UP, Emax=999_999, Emin=-999_999,
                traps=[InvalidOperation, DivisionByZero, Overflow, Inexact, Rounded])
ROUNDING = Context(prec=PREC, rounding=ROUND_HALF_UP, Emax=999_999, Emin=-999_999,
                   traps=[InvalidOperation, DivisionByZero, Overflow])


def rounded(value: Decimal, cent: Decimal) -> Decimal:
    """`value` to the currency's cents, half away from zero (SPEC §5)."""
    return value.quantize(cent, ROUND_HALF_UP, ROUNDING)


def divided(numerator: Decimal, denominator: Decimal, cent: Decimal) -> Decimal:
    """numerator / denominator to the currency's cents, half away from zero (see the module's note)."""
    return ROUNDING.divide(numerator, denominator).quantize(cent, ROUND_HALF_UP, ROUNDING)


def fits_cents(value: Decimal, cent: Decimal) -> bool:
    """Whether `value` has no more decimals than the currency's cents."""
    return value.quantize(cent, None, ROUNDING) == value
