"""The venue protocol: what the rest of the platform may ask of a venue, in typed values.

Every venue (paper, hyperliquid) implements `Venue`; nothing else in the code knows which
venue an account uses. Errors carry the venue's own words in `reason`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

Side = Literal["buy", "sell"]


class VenueError(Exception):
    """The venue refused or failed; `reason` is its own words."""

    def __init__(self, reason: str, *, retryable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class VenueTimeout(VenueError):
    """No answer: the request may or may not have reached the venue. Ask before resending."""

    def __init__(self, reason: str = "the venue did not answer in time"):
        super().__init__(reason, retryable=True)


@dataclass(frozen=True)
class OrderRequest:
    client_id: str  # derived from our order id: a resend is the same order
    coin: str
    side: Side
    kind: str  # market, limit, stop_market, stop_limit, take_profit, stop_loss
    size: Decimal
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    tif: str = "gtc"
    reduce_only: bool = False


@dataclass(frozen=True)
class OrderStatus:
    client_id: str
    status: Literal["open", "filled", "cancelled", "rejected", "unknown"]
    filled_size: Decimal = Decimal("0")
    reason: str = ""


@dataclass(frozen=True)
class VenueFill:
    fill_id: str  # the venue's id: a stable key, so a fill seen twice is booked once
    client_id: str | None  # None for a liquidation
    coin: str
    side: Side
    size: Decimal
    price: Decimal
    fee: Decimal
    liquidity: str
    realized_pnl: Decimal
    at: datetime
    cursor: int = 0


@dataclass(frozen=True)
class FundingPayment:
    funding_id: str
    coin: str
    amount: Decimal  # to the account; negative when it pays
    rate: Decimal
    at: datetime
    cursor: int = 0


@dataclass(frozen=True)
class VenuePosition:
    coin: str
    size: Decimal  # signed
    entry_price: Decimal


@dataclass(frozen=True)
class VenueBalance:
    balance: Decimal
    positions: list[VenuePosition] = field(default_factory=list)


class Venue(Protocol):
    name: str

    def open_account(self, *, venue_account: str, balance: Decimal) -> None: ...

    def place(self, venue_account: str, request: OrderRequest) -> OrderStatus: ...

    def cancel(self, venue_account: str, client_id: str) -> OrderStatus: ...

    def modify(
        self,
        venue_account: str,
        client_id: str,
        *,
        size: Decimal | None = None,
        limit_price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> OrderStatus: ...

    def order_status(self, venue_account: str, client_id: str) -> OrderStatus: ...

    def open_orders(self, venue_account: str) -> list[OrderStatus]: ...

    def balance(self, venue_account: str) -> VenueBalance: ...

    def fills_since(self, venue_account: str, cursor: int) -> list[VenueFill]: ...

    def funding_since(self, venue_account: str, cursor: int) -> list[FundingPayment]: ...

    def transfer(self, venue_account: str, amount: Decimal, *, key: str) -> None: ...
