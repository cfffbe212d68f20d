"""Our order as Hyperliquid takes it: rounded to its grid, market orders as bounded IOC limits,
stops and take-profits as trigger orders. Pure: no Django, no network.

Rounding reuses the paper venue's Hyperliquid rules (hlrules): sizes are cut down to the lot,
prices to 5 significant figures and 6 - szDecimals decimals, a buy's price rounded down and a
sell's up, so rounding never makes an order more aggressive than asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from apps.trading.venues.base import OrderRequest
from apps.trading.venues.paper.hlrules import INVALID_PRICE, INVALID_SIZE, round_price, round_size

TIF = {"gtc": "Gtc", "ioc": "Ioc", "alo": "Alo"}
TRIGGER_TPSL = {"stop_market": "sl", "stop_limit": "sl", "stop_loss": "sl", "take_profit": "tp"}


class OrderShapeError(ValueError):
    """An order that cannot be put on Hyperliquid's grid; the message is the venue's words."""


@dataclass(frozen=True)
class WireOrder:
    coin: str
    is_buy: bool
    size: Decimal
    limit_price: Decimal
    order_type: dict
    reduce_only: bool
    trigger_price: Decimal | None = None

    def sdk_order_type(self) -> dict:
        """The SDK wants floats for prices; ours are on the grid, so they convert exactly."""
        if "trigger" in self.order_type:
            trigger = dict(self.order_type["trigger"])
            trigger["triggerPx"] = float(trigger["triggerPx"])
            return {"trigger": trigger}
        return self.order_type


def bounded_price(reference: Decimal, side: str, slippage: Decimal, sz_decimals: int) -> Decimal:
    """The worst price a marketable order accepts: `slippage` away from `reference`, rounded
    toward the reference so the bound is never exceeded."""
    move = Decimal(1) + slippage if side == "buy" else Decimal(1) - slippage
    return round_price(reference * move, sz_decimals, side)  # type: ignore[arg-type]


def wire_order(
    request: OrderRequest, *, sz_decimals: int, mid: Decimal | None, slippage: Decimal
) -> WireOrder:
    """`mid` is needed only for a market order (its IOC limit is bounded around the mid)."""
    size = round_size(request.size, sz_decimals)
    if size <= 0:
        raise OrderShapeError(INVALID_SIZE)
    side = request.side
    is_buy = side == "buy"
    trigger = None
    if request.kind == "market":
        if request.limit_price is not None:
            limit = round_price(request.limit_price, sz_decimals, side)
        else:
            if mid is None or mid <= 0:
                raise OrderShapeError(
                    f"No mid price for {request.coin}: cannot bound a market order."
                )
            limit = bounded_price(mid, side, slippage, sz_decimals)
        order_type: dict = {"limit": {"tif": "Ioc"}}
    elif request.kind == "limit":
        if request.limit_price is None:
            raise OrderShapeError(INVALID_PRICE)
        limit = round_price(request.limit_price, sz_decimals, side)
        order_type = {"limit": {"tif": TIF[request.tif]}}
    elif request.kind in TRIGGER_TPSL:
        if request.trigger_price is None:
            raise OrderShapeError(INVALID_PRICE)
        trigger = round_price(request.trigger_price, sz_decimals)
        is_market = request.limit_price is None or request.kind == "stop_market"
        if is_market:
            # A trigger market order still carries a limit: the worst price once triggered.
            limit = bounded_price(trigger, side, slippage, sz_decimals)
        else:
            limit = round_price(request.limit_price, sz_decimals, side)
        # Key order as the SDK's order_type_to_wire builds it (it is hashed as msgpack).
        order_type = {
            "trigger": {
                "isMarket": is_market,
                "triggerPx": trigger,
                "tpsl": TRIGGER_TPSL[request.kind],
            }
        }
    else:
        raise OrderShapeError(f"Order type {request.kind!r} is not supported on Hyperliquid.")
    if limit <= 0 or (trigger is not None and trigger <= 0):
        raise OrderShapeError(INVALID_PRICE)
    return WireOrder(
        coin=request.coin,
        is_buy=is_buy,
        size=size,
        limit_price=limit,
        order_type=order_type,
        reduce_only=request.reduce_only,
        trigger_price=trigger,
    )
