"""The price of a checkout: list price, the retry discount, a discount code. Pure arithmetic on
Decimals, rounded by apps.core.money."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from apps.core.money import round_money

HUNDRED = Decimal(100)
ZERO = Decimal("0.00")


class CodeRefused(Exception):
    """A discount code that cannot be used now; the message says why."""


@dataclass(frozen=True)
class Quote:
    currency: str
    list_price: Decimal
    retry_discount_pct: Decimal | None
    retry_discount: Decimal
    code: str
    code_label: str
    code_discount: Decimal
    amount: Decimal


def code_check(code, *, plan_code: str, currency: str, now: datetime) -> None:
    """Is this code (a DiscountCode) usable for this plan now? Uses are checked apart, under
    the code's row lock."""
    if not code.active:
        raise CodeRefused(f"The code {code.code} is no longer offered.")
    if code.valid_from is not None and now < code.valid_from:
        raise CodeRefused(
            f"The code {code.code} is valid from {code.valid_from:%d %B %Y, %H:%M} UTC."
        )
    if code.valid_until is not None and now >= code.valid_until:
        raise CodeRefused(f"The code {code.code} expired on {code.valid_until:%d %B %Y} UTC.")
    if code.plan_codes and plan_code not in code.plan_codes:
        raise CodeRefused(f"The code {code.code} does not apply to this plan.")
    if code.kind == "fixed" and code.currency != currency:
        raise CodeRefused(f"The code {code.code} is for plans priced in {code.currency}.")


def code_label(code) -> str:
    if code.kind == "percent":
        return f"{code.code}: {code.value.normalize():f}% off"
    return f"{code.code}: {code.value:,.2f} {code.currency} off"


def quote_compute(
    *,
    currency: str,
    list_price: Decimal,
    retry_discount_pct: Decimal | None = None,
    code=None,
) -> Quote:
    """The retry discount comes off the list price first, then the code off what is left;
    nothing goes below zero."""
    retry = ZERO
    if retry_discount_pct:
        retry = round_money(list_price * retry_discount_pct / HUNDRED, currency)
    remaining = list_price - retry
    off = ZERO
    if code is not None:
        if code.kind == "percent":
            off = round_money(remaining * code.value / HUNDRED, currency)
        else:
            off = round_money(min(code.value, remaining), currency)
    return Quote(
        currency=currency,
        list_price=list_price,
        retry_discount_pct=retry_discount_pct or None,
        retry_discount=retry,
        code=code.code if code is not None else "",
        code_label=code_label(code) if code is not None else "",
        code_discount=off,
        amount=round_money(remaining - off, currency),
    )
