"""Money is Decimal, rounded in one place: here.

Figures are kept exact (28+ significant digits) and rounded only where they are shown,
booked or paid, half away from zero, to the currency's places.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Places per currency. USD-quoted perpetuals settle in USDC, which the firm books to the cent.
CURRENCY_PLACES: dict[str, int] = {"USD": 2, "USDC": 2, "EUR": 2, "GBP": 2}
DEFAULT_PLACES = 2


class MoneyError(ValueError):
    """A value that cannot be money."""


def places(currency: str) -> int:
    try:
        return CURRENCY_PLACES[currency]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}") from None


def to_decimal(value: object) -> Decimal:
    """A Decimal from a Decimal, int or decimal string; floats are refused (they are inexact)."""
    if isinstance(value, bool | float):
        raise MoneyError(f"{value!r} is a {type(value).__name__}, not a decimal")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise MoneyError(f"{value!r} is not a decimal number") from None
    else:
        raise MoneyError(f"{value!r} is not a decimal number")
    if not result.is_finite():
        raise MoneyError(f"{value!r} is not a finite number")
    return result


def quantize(amount: Decimal, decimals: int) -> Decimal:
    """The one rounding function: half away from zero, never -0."""
    exponent = Decimal(1).scaleb(-decimals)
    result = amount.quantize(exponent, rounding=ROUND_HALF_UP)
    return abs(result) if result.is_zero() else result


def round_money(amount: Decimal, currency: str = "USD") -> Decimal:
    return quantize(amount, places(currency))


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """A string for APIs and files: rounded, plain notation, no exponent."""
    return f"{round_money(amount, currency):f}"
