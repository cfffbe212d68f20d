"""The paper venue's matching engine: one account's book matched against price frames.

Pure (no Django): the `run_paper_venue` process loads a `Book` from its tables, calls
`place` / `cancel` / `modify` / `on_frame`, stores the new state and books the events.

The venue sees frames (mark, oracle, mid, funding rate per coin), not depth, so:
- the touch is the mid (the mark when there is no mid), with a zero spread: a buy limit at
  or above it is marketable, a sell limit at or below it too;
- a taker fills whole at the touch moved against it by the `Slippage` model, rounded onto
  the price grid against the taker, and never through its limit;
- a resting limit fills whole, as maker, at its own limit price, on the first frame whose
  touch reaches it (no price improvement on gaps, no queue position);
- stop / take-profit / stop-loss triggers watch the mark, as Hyperliquid's do;
- a reduce-only order is cut to the position when placed and again when it would fill, and
  cancelled (reduceOnlyCanceled) if by then it could only grow the position; Hyperliquid
  cancels such orders as soon as the position closes, we only when they would fill;
- resting orders reserve initial margin for the part of them that would grow the position;
- funding is paid once per hour boundary a frame crosses, on the oracle price;
- an account whose equity (on the mark) falls below its maintenance margin has its resting
  orders cancelled and every position closed at the mark, with the taker fee. Hyperliquid
  liquidates through the book and, past 2/3 of maintenance, by its backstop vault; we keep
  one simple rule. The balance may then be negative: the ledger shows the loss as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from apps.trading.venues.paper.hlrules import (
    BAD_ALO_PX,
    IOC_CANCEL,
    MISSING_ORDER,
    PERP_MARGIN,
    REDUCE_ONLY,
    TRIGGER_KINDS,
    ZERO,
    Fees,
    Frame,
    Instrument,
    OrderSpec,
    Quote,
    Rejection,
    Side,
    crosses,
    fee,
    funding_payment,
    initial_margin,
    is_triggered,
    maintenance_margin,
    reference_price,
    require_decimal,
    round_price,
    round_size,
    slipped_price,
    to_usd,
    validate_order,
)

# Re-exported: the Django side imports the whole engine from here.
__all__ = [
    "Accepted",
    "Book",
    "Cancelled",
    "Event",
    "Fees",
    "Filled",
    "Frame",
    "FundingPaid",
    "Instrument",
    "Liquidated",
    "Modified",
    "OrderSpec",
    "Position",
    "Quote",
    "Rejected",
    "Rejection",
    "Slippage",
    "Triggered",
    "round_price",
    "round_size",
    "validate_order",
]

Liquidity = Literal["maker", "taker"]
ONE_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Slippage:
    """How far a taker's price moves from the touch: fixed bps + bps per $1M of notional."""

    fixed_bps: Decimal = Decimal("1")
    impact_bps_per_million: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Position:
    coin: str
    size: Decimal  # signed: positive long, negative short
    entry_price: Decimal


# --- Events ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Accepted:
    order_id: str
    client_order_id: str | None


@dataclass(frozen=True, slots=True)
class Rejected:
    order_id: str
    client_order_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Modified:
    order_id: str
    spec: OrderSpec


@dataclass(frozen=True, slots=True)
class Cancelled:
    order_id: str
    # Hyperliquid's order status words: canceled, reduceOnlyCanceled, liquidatedCanceled,
    # iocCancelRejected; `reason` is the sentence for a person.
    status: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Triggered:
    order_id: str
    coin: str
    trigger_price: Decimal
    mark: Decimal
    t: datetime


@dataclass(frozen=True, slots=True)
class Filled:
    fill_id: int  # the book's running fill number: a stable key for the ledger
    order_id: str | None  # None for a liquidation close
    coin: str
    side: Side
    size: Decimal
    price: Decimal
    fee: Decimal
    liquidity: Liquidity
    realized_pnl: Decimal
    t: datetime


@dataclass(frozen=True, slots=True)
class FundingPaid:
    coin: str
    amount: Decimal  # to the account; negative when it pays
    rate: Decimal
    oracle: Decimal
    size: Decimal
    hour: datetime  # the funding hour boundary: a stable key for the ledger


@dataclass(frozen=True, slots=True)
class Liquidated:
    equity: Decimal
    maintenance_margin: Decimal
    t: datetime


Event = Accepted | Rejected | Modified | Cancelled | Triggered | Filled | FundingPaid | Liquidated


def _utc_hour(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("naive datetime: the paper venue runs on aware UTC times")
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# --- The book --------------------------------------------------------------------------------
@dataclass
class Book:
    """One paper account: its cash balance, netted positions and resting orders.

    Every field is plain data, so the Django side can store it and build the book again.
    Booked amounts are rounded to 6 decimals, so `balance` always equals the starting
    balance + realised P&L - fees + funding to the last digit.
    """

    instruments: Mapping[str, Instrument]
    balance: Decimal
    fees: Fees = field(default_factory=Fees)
    slippage: Slippage = field(default_factory=Slippage)
    leverage: dict[str, int] = field(default_factory=dict)  # missing coin: its max leverage
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[str, OrderSpec] = field(default_factory=dict)  # resting, in arrival order
    quotes: dict[str, Quote] = field(default_factory=dict)  # the latest seen per coin
    funded_until: datetime | None = None  # the last funding hour boundary paid
    fill_seq: int = 0

    @classmethod
    def open(cls, instruments: Iterable[Instrument], balance: Decimal, **kwargs: object) -> Book:
        require_decimal("balance", balance)
        return cls({i.coin: i for i in instruments}, balance, **kwargs)

    # -- reading --------------------------------------------------------------------------
    def position_size(self, coin: str) -> Decimal:
        position = self.positions.get(coin)
        return position.size if position is not None else ZERO

    def leverage_for(self, coin: str) -> int:
        return self.leverage.get(coin, self.instruments[coin].max_leverage)

    def set_leverage(self, coin: str, leverage: int) -> None:
        if not 1 <= leverage <= self.instruments[coin].max_leverage:
            raise ValueError(
                f"leverage {leverage} outside 1..{self.instruments[coin].max_leverage}"
            )
        self.leverage[coin] = leverage

    def mark(self, coin: str) -> Decimal:
        quote = self.quotes.get(coin)
        if quote is not None:
            return quote.mark
        return self.positions[coin].entry_price  # restored book, no frame yet

    def unrealized_pnl(self) -> Decimal:
        return sum(
            (p.size * (self.mark(c) - p.entry_price) for c, p in self.positions.items()), ZERO
        )

    def equity(self) -> Decimal:
        return self.balance + self.unrealized_pnl()

    def maintenance_margin(self) -> Decimal:
        return sum(
            (
                maintenance_margin(abs(p.size) * self.mark(c), self.instruments[c].max_leverage)
                for c, p in self.positions.items()
            ),
            ZERO,
        )

    def initial_margin_used(self) -> Decimal:
        used = sum(
            (
                initial_margin(abs(p.size) * self.mark(c), self.leverage_for(c))
                for c, p in self.positions.items()
            ),
            ZERO,
        )
        for spec in self.orders.values():
            used += self._order_margin(spec, reference_price(spec, ZERO))
        return used

    def _order_margin(self, spec: OrderSpec, price: Decimal) -> Decimal:
        # Only the part of an order that would grow the position needs margin; a close or the
        # closing half of a flip frees margin rather than using it.
        if spec.reduce_only:
            return ZERO
        held = self.position_size(spec.coin)
        grows = abs(held + (spec.size if spec.is_buy else -spec.size)) - abs(held)
        return initial_margin(grows * price, self.leverage_for(spec.coin)) if grows > 0 else ZERO

    # -- orders ---------------------------------------------------------------------------
    def place(self, spec: OrderSpec, quote: Quote, now: datetime) -> list[Event]:
        instrument = self.instruments[spec.coin]
        if spec.order_id in self.orders:
            raise ValueError(f"order {spec.order_id} is already resting")
        self.quotes[spec.coin] = quote
        if self.funded_until is None:
            self.funded_until = _utc_hour(now)

        def reject(reason: str) -> list[Event]:
            return [Rejected(spec.order_id, spec.client_order_id, reason)]

        held = self.position_size(spec.coin)
        rejection = validate_order(spec, instrument, quote, position=held)
        if rejection is not None:
            return reject(rejection.reason)
        if spec.reduce_only:
            fitted = self._fit_reduce_only(spec)
            if fitted is None:
                return reject(REDUCE_ONLY)
            spec = fitted
        touch = quote.touch
        if (
            spec.kind == "limit"
            and spec.tif == "alo"
            and crosses(spec.side, spec.limit_price, touch)
        ):
            # Zero spread: both sides of the bbo are the touch.
            return reject(BAD_ALO_PX.format(bid=touch, ask=touch))
        needed = self._order_margin(spec, reference_price(spec, touch))
        if needed > 0 and self.equity() - self.initial_margin_used() < needed:
            return reject(PERP_MARGIN)

        events: list[Event] = [Accepted(spec.order_id, spec.client_order_id)]
        if spec.kind in TRIGGER_KINDS:
            if is_triggered(spec, quote.mark):
                events += self._trigger(spec, quote, now)
            else:
                self.orders[spec.order_id] = spec
        elif spec.kind == "market" or crosses(spec.side, spec.limit_price, touch):
            events += self._take(spec, quote, now, spec.limit_price)
        elif spec.tif == "ioc":
            events.append(Cancelled(spec.order_id, "iocCancelRejected", IOC_CANCEL))
        else:
            self.orders[spec.order_id] = spec
        return events

    def cancel(self, order_id: str) -> list[Event]:
        if self.orders.pop(order_id, None) is None:
            return [Rejected(order_id, None, MISSING_ORDER)]
        return [Cancelled(order_id, "canceled")]

    def modify(
        self,
        order_id: str,
        *,
        quote: Quote,
        now: datetime,
        size: Decimal | None = None,
        limit_price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> list[Event]:
        """Hyperliquid's modify: the order is replaced under the same id, as if placed anew."""
        old = self.orders.pop(order_id, None)
        if old is None:
            return [Rejected(order_id, None, MISSING_ORDER)]
        new = replace(
            old,
            size=old.size if size is None else size,
            limit_price=old.limit_price if limit_price is None else limit_price,
            trigger_price=old.trigger_price if trigger_price is None else trigger_price,
        )
        events = self.place(new, quote, now)
        if isinstance(events[0], Rejected):
            self.orders[order_id] = old  # a refused modify leaves the order as it was
            return events
        return [Modified(order_id, self.orders.get(order_id, new)), *events[1:]]

    # -- frames ---------------------------------------------------------------------------
    def on_frame(self, frame: Frame) -> list[Event]:
        hour = _utc_hour(frame.t)
        for coin, quote in frame.quotes.items():
            if coin in self.instruments:
                self.quotes[coin] = quote
        events: list[Event] = []
        if self.funded_until is None:
            self.funded_until = hour
        while self.funded_until < hour:
            self.funded_until += ONE_HOUR
            events += self._fund(self.funded_until)

        for spec in list(self.orders.values()):
            quote = frame.quotes.get(spec.coin)
            if quote is None:
                continue
            if spec.kind in TRIGGER_KINDS:
                if is_triggered(spec, quote.mark):
                    del self.orders[spec.order_id]
                    events += self._trigger(spec, quote, frame.t)
            elif crosses(spec.side, spec.limit_price, quote.touch):
                del self.orders[spec.order_id]
                events += self._execute(spec, spec.limit_price, "maker", frame.t)

        events += self._liquidate_if_needed(frame.t)
        return events

    # -- internals ------------------------------------------------------------------------
    def _fit_reduce_only(self, spec: OrderSpec) -> OrderSpec | None:
        """A reduce-only order cut to the position, or None if it could only grow it."""
        held = self.position_size(spec.coin)
        if held == 0 or spec.is_buy == (held > 0):
            return None
        return replace(spec, size=abs(held)) if spec.size > abs(held) else spec

    def _trigger(self, spec: OrderSpec, quote: Quote, t: datetime) -> list[Event]:
        events: list[Event] = [
            Triggered(spec.order_id, spec.coin, spec.trigger_price, quote.mark, t)
        ]
        if not spec.executes_as_limit:
            return events + self._take(spec, quote, t, spec.limit_price)
        limit = spec.limit_price
        if crosses(spec.side, limit, quote.touch):
            return events + self._take(spec, quote, t, limit)
        # Not marketable: it rests as a plain GTC limit, and fills later as maker.
        self.orders[spec.order_id] = replace(spec, kind="limit", trigger_price=None, tif="gtc")
        return events

    def _take(
        self, spec: OrderSpec, quote: Quote, t: datetime, limit: Decimal | None
    ) -> list[Event]:
        """Fill as taker at the slipped touch, never through `limit`; else cancel (IOC)."""
        touch = quote.touch
        sz = self.instruments[spec.coin].sz_decimals
        if limit is None or crosses(spec.side, limit, touch):
            raw = slipped_price(
                touch,
                spec.side,
                spec.size * touch,
                self.slippage.fixed_bps,
                self.slippage.impact_bps_per_million,
            )
            # Round against the taker: a buy pays the grid price at or above the slipped one.
            price = round_price(raw, sz, "sell" if spec.is_buy else "buy")
            if limit is not None:
                price = min(price, limit) if spec.is_buy else max(price, limit)
            if price > 0:
                return self._execute(spec, price, "taker", t)
        return [Cancelled(spec.order_id, "iocCancelRejected", IOC_CANCEL)]

    def _execute(
        self, spec: OrderSpec, price: Decimal, liquidity: Liquidity, t: datetime
    ) -> list[Event]:
        if spec.reduce_only:
            # The position may have shrunk or closed since the order was placed.
            fitted = self._fit_reduce_only(spec)
            if fitted is None:
                return [Cancelled(spec.order_id, "reduceOnlyCanceled", REDUCE_ONLY)]
            spec = fitted
        return [self._fill(spec.order_id, spec.coin, spec.side, spec.size, price, liquidity, t)]

    def _fill(
        self,
        order_id: str | None,
        coin: str,
        side: Side,
        size: Decimal,
        price: Decimal,
        liquidity: Liquidity,
        t: datetime,
    ) -> Filled:
        charged = fee(size * price, self.fees.maker if liquidity == "maker" else self.fees.taker)
        signed = size if side == "buy" else -size
        old = self.positions.get(coin)
        realized = ZERO
        if old is None:
            new: Position | None = Position(coin, signed, price)
        elif (old.size > 0) == (signed > 0):
            total = old.size + signed
            entry = (abs(old.size) * old.entry_price + size * price) / abs(total)
            new = Position(coin, total, entry)
        else:
            closed = min(size, abs(old.size))
            direction = 1 if old.size > 0 else -1
            realized = to_usd(closed * (price - old.entry_price) * direction)
            total = old.size + signed
            if total == 0:
                new = None
            elif (total > 0) == (old.size > 0):
                new = Position(coin, total, old.entry_price)
            else:  # flipped: the rest opens a new position at the fill price
                new = Position(coin, total, price)
        if new is None:
            del self.positions[coin]
        else:
            self.positions[coin] = new
        self.balance += realized - charged
        self.fill_seq += 1
        return Filled(
            self.fill_seq, order_id, coin, side, size, price, charged, liquidity, realized, t
        )

    def _fund(self, hour: datetime) -> list[Event]:
        events: list[Event] = []
        for coin, position in self.positions.items():
            quote = self.quotes.get(coin)
            if quote is None:
                continue
            amount = funding_payment(position.size, quote.oracle, quote.funding_rate)
            if amount != 0:
                self.balance += amount
                events.append(
                    FundingPaid(coin, amount, quote.funding_rate, quote.oracle, position.size, hour)
                )
        return events

    def _liquidate_if_needed(self, t: datetime) -> list[Event]:
        if not self.positions:
            return []
        # One pass over the positions: this runs for every open book on every frame.
        equity, maintenance = self.balance, ZERO
        for coin, position in self.positions.items():
            mark = self.mark(coin)
            equity += position.size * (mark - position.entry_price)
            maintenance += maintenance_margin(
                abs(position.size) * mark, self.instruments[coin].max_leverage
            )
        if equity >= maintenance:
            return []
        events: list[Event] = [Liquidated(equity, maintenance, t)]
        for order_id in list(self.orders):
            del self.orders[order_id]
            events.append(Cancelled(order_id, "liquidatedCanceled", "Liquidated."))
        for coin, position in list(self.positions.items()):
            side: Side = "sell" if position.size > 0 else "buy"
            events.append(
                self._fill(None, coin, side, abs(position.size), self.mark(coin), "taker", t)
            )
        return events
