"""Plain gate inputs for the pure tests: an ordinary order on an active account, changed by
keyword where a test needs something else."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from apps.risk.gate import GateInput, GateLimits, GatePosition

D = Decimal
BTC_MARK = D("60000")
ETH_MARK = D("3000")
BTC_LEVERAGE = D("40")
ETH_LEVERAGE = D("25")
NO_LIMITS = GateLimits()


def position(
    coin: str = "BTC", size: str = "1", entry: str | None = None, **fields
) -> GatePosition:
    mark = {"BTC": BTC_MARK, "ETH": ETH_MARK}.get(coin, D("100"))
    leverage = {"BTC": BTC_LEVERAGE, "ETH": ETH_LEVERAGE}.get(coin, D("10"))
    values = {
        "coin": coin,
        "size": D(size),
        "entry_price": D(entry) if entry is not None else mark,
        "mark": mark,
        "leverage": leverage,
    }
    values.update(fields)
    return GatePosition(**values)


def positions(*items: GatePosition) -> dict[str, GatePosition]:
    return {p.coin: p for p in items}


def order(**fields) -> GateInput:
    """A 1 BTC market buy by a trader on an active, open paper account with 100,000 of equity,
    no positions and no limits, BTC marked at 60,000."""
    values = {
        "coin": "BTC",
        "side": "buy",
        "kind": "market",
        "size": D("1"),
        "limit_price": None,
        "trigger_price": None,
        "reduce_only": False,
        "origin": "trader_web",
        "state": "active",
        "status": "open",
        "live_venue": False,
        "equity": D("100000"),
        "positions": {},
        "mark": BTC_MARK,
        "leverage": BTC_LEVERAGE,
        "limits": NO_LIMITS,
    }
    for name in ("size", "limit_price", "trigger_price", "equity"):
        if isinstance(fields.get(name), str):
            fields[name] = D(fields[name])
    values.update(fields)
    return GateInput(**values)


def limits(**fields) -> GateLimits:
    for name, value in list(fields.items()):
        if isinstance(value, str) and name != "allowed_directions":
            fields[name] = D(value)
        elif isinstance(value, set):
            fields[name] = frozenset(value)
    return replace(NO_LIMITS, **fields)
