"""Hyperliquid's answers as the venue protocol's values. Pure: no Django, no network.

Shapes follow the recorded answers in ../shared/fixtures/hyperliquid (old ones included:
2023 fills have no `tid`, no `cloid`, no `feeToken`; 2023 clearinghouseState has no `time`,
`cumFunding` or `crossMaintenanceMarginUsed`) and, for what was never recorded, Hyperliquid's
API docs ("Exchange endpoint", "Info endpoint": orderStatus, subAccounts). Every field we do
not need is optional; a field we need that is missing or malformed raises WireError naming
it, never a guess.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.trading.venues.base import (
    FundingPayment,
    OrderStatus,
    VenueBalance,
    VenueFill,
    VenuePosition,
)

CLOID = re.compile(r"^0x[0-9a-f]{32}$")


class WireError(ValueError):
    """An answer that does not have the shape the venue documents."""


def dec(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise WireError(f"{what} is {value!r}, not a decimal string")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise WireError(f"{what} is {value!r}, not a decimal string") from None
    if not result.is_finite():
        raise WireError(f"{what} is {value!r}, not a finite number")
    return result


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{what} is {value!r}, not an integer")
    return value


def _obj(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise WireError(f"{what} is {str(value)[:200]!r}, not an object")
    return value


def _list(value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise WireError(f"{what} is {str(value)[:200]!r}, not a list")
    return value


# --- exchange answers ------------------------------------------------------------------------


def exchange_data(answer: Any, expected_type: str) -> Any:
    """The `data` of an ok answer; a refusal (`status: err`) raises RefusedByVenue."""
    answer = _obj(answer, "the exchange answer")
    status = answer.get("status")
    if status == "err":
        raise RefusedByVenue(str(answer.get("response")))
    if status != "ok":
        raise WireError(f"the exchange answer has status {status!r}")
    response = _obj(answer.get("response"), "the exchange answer's response")
    kind = response.get("type")
    if kind == "default":
        return None
    if kind != expected_type:
        raise WireError(f"the exchange answered {kind!r} to a {expected_type!r} action")
    return response.get("data")


class RefusedByVenue(Exception):
    """The venue refused the whole action, in its own words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def order_statuses(data: Any) -> list[Any]:
    data = _obj(data, "the order answer's data")
    return _list(data.get("statuses"), "the order answer's statuses")


def order_outcome(client_id: str, entry: Any) -> tuple[OrderStatus, int | None]:
    """One entry of an order (or modify) answer: resting -> open, filled -> filled with its
    total size, error -> rejected with the venue's words. Returns the venue's oid too."""
    if isinstance(entry, str):
        # "waitingForFill" / "waitingForTrigger": accepted, not yet on the book.
        return OrderStatus(client_id, "open"), None
    entry = _obj(entry, "an order status")
    if "error" in entry:
        return OrderStatus(client_id, "rejected", reason=str(entry["error"])), None
    if "resting" in entry:
        resting = _obj(entry["resting"], "resting")
        return OrderStatus(client_id, "open"), resting.get("oid")
    if "filled" in entry:
        filled = _obj(entry["filled"], "filled")
        size = dec(filled.get("totalSz"), "filled.totalSz")
        return OrderStatus(client_id, "filled", filled_size=size), filled.get("oid")
    raise WireError(f"unknown order status {entry!r}")


def cancel_outcome(client_id: str, entry: Any) -> OrderStatus | str:
    """ "success" -> cancelled; an error -> its words (the caller decides what they mean)."""
    if entry == "success":
        return OrderStatus(client_id, "cancelled", reason="cancelled")
    entry = _obj(entry, "a cancel status")
    if "error" in entry:
        return str(entry["error"])
    raise WireError(f"unknown cancel status {entry!r}")


# --- orderStatus -----------------------------------------------------------------------------

_OPEN = {"open", "triggered"}


def order_status(client_id: str, answer: Any) -> OrderStatus:
    """{"status": "unknownOid"} or {"status": "order", "order": {"order": {...}, "status"}}.

    Hyperliquid names every way an order ends: "filled", "canceled", "<why>Canceled"
    (marginCanceled, reduceOnlyCanceled ...), "scheduledCancel", "rejected" and
    "<why>Rejected" (minTradeNtlRejected, iocCancelRejected ...)."""
    answer = _obj(answer, "the orderStatus answer")
    if answer.get("status") == "unknownOid":
        return OrderStatus(client_id, "unknown")
    if answer.get("status") != "order":
        raise WireError(f"orderStatus answered status {answer.get('status')!r}")
    wrapper = _obj(answer.get("order"), "orderStatus.order")
    order = _obj(wrapper.get("order"), "orderStatus.order.order")
    status = str(wrapper.get("status"))
    remaining = dec(order.get("sz", "0"), "order.sz")
    original = dec(order.get("origSz", order.get("sz", "0")), "order.origSz")
    filled = max(original - remaining, Decimal(0))
    if status in _OPEN:
        return OrderStatus(client_id, "open", filled_size=filled)
    if status == "filled":
        return OrderStatus(client_id, "filled", filled_size=original)
    if status == "rejected" or status.endswith("Rejected"):
        return OrderStatus(client_id, "rejected", reason=status)
    if status == "canceled" or status.endswith("Canceled") or status == "scheduledCancel":
        return OrderStatus(client_id, "cancelled", filled_size=filled, reason=status)
    raise WireError(f"unknown order status {status!r}")


def order_coin(answer: Any) -> str | None:
    """The coin of an order orderStatus found (for cancelling an order we hold no record of)."""
    if isinstance(answer, dict) and answer.get("status") == "order":
        return answer.get("order", {}).get("order", {}).get("coin")
    return None


# --- fills and funding -----------------------------------------------------------------------


def is_perp(coin: str) -> bool:
    # Spot pairs are "@<index>" or "BASE/QUOTE"; perps of a builder dex are "dex:COIN".
    return not coin.startswith("@") and "/" not in coin


def fill_id(raw: dict) -> str:
    """A stable id for a fill, so a fill seen twice is booked once.

    `tid` is Hyperliquid's trade id. Fills recorded before it existed carry only the
    transaction `hash` and the order's `oid`, which one order filled against several resting
    orders shares (seven fills share one in the 2023 recording), so we add what tells those
    apart: the position before the fill, the price and the size."""
    tid = raw.get("tid")
    if isinstance(tid, int) and not isinstance(tid, bool) and tid > 0:
        return f"hl-t{tid}"
    parts = [str(raw.get(k)) for k in ("hash", "oid", "startPosition", "px", "sz", "time")]
    return "hl-h" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


def fill(raw: Any) -> VenueFill | None:
    """One entry of userFills / userFillsByTime; None for a spot fill (we trade perps)."""
    raw = _obj(raw, "a fill")
    coin = raw.get("coin")
    if not isinstance(coin, str) or not coin:
        raise WireError(f"a fill has coin {coin!r}")
    if not is_perp(coin):
        return None
    side = {"B": "buy", "A": "sell"}.get(raw.get("side"))
    if side is None:
        raise WireError(f"a fill has side {raw.get('side')!r}")
    time_ms = _int(raw.get("time"), "fill.time")
    fee = dec(raw.get("fee", "0"), "fill.fee")
    if raw.get("builderFee") is not None:
        fee += dec(raw["builderFee"], "fill.builderFee")
    cloid = raw.get("cloid")
    liquidated = raw.get("liquidation") is not None
    return VenueFill(
        fill_id=fill_id(raw),
        client_id=cloid
        if isinstance(cloid, str) and CLOID.match(cloid) and not liquidated
        else None,
        coin=coin,
        side=side,
        size=dec(raw.get("sz"), "fill.sz"),
        price=dec(raw.get("px"), "fill.px"),
        fee=fee,
        liquidity="taker" if raw.get("crossed") else "maker",
        realized_pnl=dec(raw.get("closedPnl", "0"), "fill.closedPnl"),
        at=ms_to_datetime(time_ms),
        cursor=time_ms,
    )


def funding(raw: Any) -> FundingPayment | None:
    """One entry of userFunding; `usdc` is signed from the account's side (received > 0)."""
    raw = _obj(raw, "a funding entry")
    delta = _obj(raw.get("delta"), "funding.delta")
    if delta.get("type", "funding") != "funding":
        return None
    coin = delta.get("coin")
    if not isinstance(coin, str) or not coin:
        raise WireError(f"a funding entry has coin {coin!r}")
    time_ms = _int(raw.get("time"), "funding.time")
    return FundingPayment(
        # Funding is paid once an hour per coin, so time and coin name it on one account.
        funding_id=f"hl-{time_ms}-{coin}",
        coin=coin,
        amount=dec(delta.get("usdc"), "funding.usdc"),
        rate=dec(delta.get("fundingRate", "0"), "funding.fundingRate"),
        at=ms_to_datetime(time_ms),
        cursor=time_ms,
    )


# --- balances --------------------------------------------------------------------------------


def balance(state: Any) -> VenueBalance:
    """A clearinghouseState as a balance: cash, excluding unrealised P&L (our ledger's
    balance), with the open positions. accountValue includes unrealised P&L, so it is taken
    out position by position."""
    state = _obj(state, "clearinghouseState")
    summary = _obj(state.get("marginSummary", state.get("crossMarginSummary")), "marginSummary")
    value = dec(summary.get("accountValue"), "marginSummary.accountValue")
    positions = []
    unrealized = Decimal(0)
    for entry in _list(state.get("assetPositions", []), "assetPositions"):
        position = _obj(_obj(entry, "an asset position").get("position"), "position")
        size = dec(position.get("szi"), "position.szi")
        unrealized += dec(position.get("unrealizedPnl", "0"), "position.unrealizedPnl")
        if size:
            entry_px = position.get("entryPx")
            positions.append(
                VenuePosition(
                    coin=str(position.get("coin")),
                    size=size,
                    entry_price=dec(entry_px, "position.entryPx") if entry_px else Decimal(0),
                )
            )
    return VenueBalance(balance=value - unrealized, positions=positions)


def state_time(state: Any) -> int | None:
    """The venue's clock in a clearinghouseState (absent from older answers)."""
    if isinstance(state, dict) and isinstance(state.get("time"), int):
        return state["time"]
    return None


def sub_accounts(answer: Any) -> list[dict]:
    """subAccounts answers null when the master has none."""
    if answer is None:
        return []
    entries = _list(answer, "the subAccounts answer")
    for entry in entries:
        entry = _obj(entry, "a sub-account")
        if not isinstance(entry.get("subAccountUser"), str):
            raise WireError(f"a sub-account has subAccountUser {entry.get('subAccountUser')!r}")
    return entries
