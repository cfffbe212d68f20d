"""Is an order intent well formed for its instrument? Pure checks with Hyperliquid's rules."""

from __future__ import annotations

from decimal import Decimal

from apps.trading.registry import OrderIntent
from apps.trading.venues.paper.hlrules import (
    MIN_ORDER_VALUE,
    MIN_TRADE_NTL,
    Instrument,
    Quote,
    is_valid_price,
    is_valid_size,
)

KINDS = ("market", "limit", "stop_market", "stop_limit", "take_profit", "stop_loss")
NEEDS_LIMIT = ("limit", "stop_limit")
NEEDS_TRIGGER = ("stop_market", "stop_limit", "take_profit", "stop_loss")


class IntentError(ValueError):
    def __init__(self, message: str, *, code: str, field: str | None = None):
        super().__init__(message)
        self.message, self.code, self.field = message, code, field


def intent_validate(
    intent: OrderIntent, instrument: Instrument | None, quote: Quote | None
) -> None:
    if instrument is None:
        raise IntentError(
            f"Unknown instrument {intent.coin!r}.", code="unknown_instrument", field="coin"
        )
    if intent.side not in ("buy", "sell"):
        raise IntentError("Side must be buy or sell.", code="invalid_side", field="side")
    if intent.kind not in KINDS:
        raise IntentError(
            f"Order type must be one of {', '.join(KINDS)}.", code="invalid_kind", field="kind"
        )
    if intent.tif not in ("gtc", "ioc", "alo"):
        raise IntentError("Time in force must be gtc, ioc or alo.", code="invalid_tif", field="tif")
    if intent.tif == "alo" and intent.kind != "limit":
        raise IntentError("Only a limit order can be post-only.", code="invalid_tif", field="tif")
    if not isinstance(intent.size, Decimal) or intent.size <= 0:
        raise IntentError("Size must be a positive number.", code="invalid_size", field="size")
    if not is_valid_size(intent.size, instrument.sz_decimals):
        raise IntentError(
            f"Size {intent.size} is off the lot grid: {intent.coin} sizes have at most "
            f"{instrument.sz_decimals} decimals.",
            code="invalid_size",
            field="size",
        )
    for name, needed in (("limit_price", NEEDS_LIMIT), ("trigger_price", NEEDS_TRIGGER)):
        price = getattr(intent, name)
        if intent.kind in needed:
            if price is None or price <= 0:
                raise IntentError(
                    f"A {intent.kind} order needs a positive {name.replace('_', ' ')}.",
                    code=f"invalid_{name}",
                    field=name,
                )
            if not is_valid_price(price, instrument.sz_decimals):
                raise IntentError(
                    f"Price {price} is off the tick grid: at most 5 significant figures and "
                    f"{max(0, 6 - instrument.sz_decimals)} decimals for {intent.coin}.",
                    code="invalid_price",
                    field=name,
                )
        elif price is not None:
            raise IntentError(
                f"A {intent.kind} order takes no {name.replace('_', ' ')}.",
                code=f"invalid_{name}",
                field=name,
            )
    reference = intent.limit_price or intent.trigger_price or (quote.mark if quote else None)
    if reference is None:
        raise IntentError(
            f"No price for {intent.coin} yet: the market feed is not running.",
            code="no_price",
            field="coin",
        )
    if intent.size * reference < MIN_ORDER_VALUE and not intent.reduce_only:
        raise IntentError(MIN_TRADE_NTL, code="below_minimum_value", field="size")
