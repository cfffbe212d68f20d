"""Hyperliquid's price grid, so simulated prices look like the venue's.

Perp prices have at most 5 significant figures and at most 6 - szDecimals decimals (integers
always allowed); mids sit between two ticks, so they carry one more decimal. Kept here rather
than imported from trading's rules: market sits below trading and may not import it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

PERP_MAX_DECIMALS = 6
SIGNIFICANT_FIGURES = 5
FUNDING_QUANTUM = Decimal("1e-10")  # Hyperliquid reports rates like -0.0000015186


def price_decimals(price: Decimal, sz_decimals: int) -> int:
    by_figures = SIGNIFICANT_FIGURES - 1 - price.adjusted()
    return max(0, min(PERP_MAX_DECIMALS - sz_decimals, by_figures))


def on_grid(price: Decimal, sz_decimals: int, extra: int = 0) -> Decimal:
    """`price` rounded to the coin's tick (plus `extra` decimals, 1 for a mid)."""
    if price <= 0:
        raise ValueError(f"a price must be positive, got {price}")
    places = price_decimals(price, sz_decimals) + extra
    rounded = price.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if rounded.is_zero():
        # Below the grid's first step (a coin that fell towards zero): keep 5 figures rather
        # than publish a zero price, which every reader would refuse.
        places = SIGNIFICANT_FIGURES - 1 - price.adjusted()
        rounded = price.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return rounded


def funding(rate: Decimal) -> Decimal:
    return rate.quantize(FUNDING_QUANTUM, rounding=ROUND_HALF_EVEN)
