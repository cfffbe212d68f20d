"""Hyperliquid's perpetual market rules: the order, the quote, and the checks on one order.

The paper venue must refuse and charge exactly what Hyperliquid would, so that a trader who
passes on paper meets no surprise on the live venue. Everything here is pure: no Django, no
float, no account state (that lives in matching.py's `Book`).

Sources (read 2026, Hyperliquid docs on hyperliquid.gitbook.io):
- "Tick and lot size": prices have at most 5 significant figures and at most
  MAX_DECIMALS - szDecimals decimal places (MAX_DECIMALS is 6 for perps); integer prices are
  always valid; sizes are multiples of 10^-szDecimals.
- "Error responses": the rejection texts marked VERIFIED below.
- "Funding": payment = position_size * oracle_price * funding_rate, hourly, on the oracle
  price (not the mark); a positive rate makes longs pay shorts.
- "Margining" / "Liquidations": initial margin = notional / leverage; "the maintenance margin
  is half of the initial margin at max leverage"; liquidation when account equity (with
  unrealised P&L on the mark) falls below the maintenance margin.
- "Fees": base tier (under $5M 14-day volume) perps taker 0.045 %, maker 0.015 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Literal

Side = Literal["buy", "sell"]

# --- Rejection texts -------------------------------------------------------------------------
# VERIFIED: listed word for word on Hyperliquid's "Error responses" page
# (hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/error-responses).
MIN_TRADE_NTL = "Order must have minimum value of $10."
PERP_MARGIN = "Insufficient margin to place order."
REDUCE_ONLY = "Reduce only order would increase position."
# The docs give "...bbo was {bbo}."; live answers show the bbo as "<bid>@<ask>" (seen in a
# hummingbot log: "bbo was 0.56057@0.56086. asset=31"). We omit the " asset=N" suffix newer
# nodes append, since the paper venue has no asset index.
BAD_ALO_PX = "Post only order would have immediately matched, bbo was {bid}@{ask}."
IOC_CANCEL = "Order could not immediately match against any resting orders."
MISSING_ORDER = "Order was never placed, already canceled, or filled."
# OBSERVED, not in the docs' table: recorded live responses in public client code and test
# fixtures show these two for an off-grid price or size. The docs' table has
# "Price must be divisible by tick size." for the Tick error, which HL returns from
# pre-validation for some cases; we use the texts traders actually see most.
INVALID_PRICE = "Order has invalid price."
INVALID_SIZE = "Order has invalid size."

# --- Constants -------------------------------------------------------------------------------
PERP_MAX_DECIMALS = 6
MAX_SIGNIFICANT_FIGURES = 5
MIN_ORDER_VALUE = Decimal("10")
BASE_TAKER_RATE = Decimal("0.00045")
BASE_MAKER_RATE = Decimal("0.00015")
# Booked amounts (fees, realised P&L, funding) are kept to USDC's 6 decimals, as Hyperliquid
# reports them. Rounding every booked amount to a fixed scale also keeps sums exact, so the
# balance equals its entries to the last digit.
USD_PLACES = 6
_USD_QUANTUM = Decimal(1).scaleb(-USD_PLACES)
ZERO = Decimal(0)


def to_usd(amount: Decimal) -> Decimal:
    """A booked amount: 6 decimals, half away from zero, never -0."""
    result = amount.quantize(_USD_QUANTUM, rounding=ROUND_HALF_UP)
    return ZERO if result.is_zero() else result


# --- The price and size grid -----------------------------------------------------------------
def price_decimals(price: Decimal, sz_decimals: int) -> int:
    """How many decimal places a price of this magnitude may have on this coin."""
    # adjusted() is the exponent of the leading digit: 1234.5 -> 3, 0.001234 -> -3. Five
    # significant figures leave 4 - adjusted decimals; integers are always allowed, hence >= 0.
    by_sig_figs = MAX_SIGNIFICANT_FIGURES - 1 - price.adjusted()
    return max(0, min(PERP_MAX_DECIMALS - sz_decimals, by_sig_figs))


def round_price(price: Decimal, sz_decimals: int, side: Side | None = None) -> Decimal:
    """The nearest valid price, rounded toward the less aggressive side for an order on `side`.

    A buy rounds down and a sell rounds up (never paying more than the trader asked); with no
    side, to the nearest (half to even). A price below the grid's first step can round to 0,
    which validation then refuses.
    """
    if price <= 0:
        return ZERO
    if side == "buy":
        rounding = ROUND_FLOOR
    elif side == "sell":
        rounding = ROUND_CEILING
    else:
        rounding = ROUND_HALF_EVEN
    result = price.quantize(Decimal(1).scaleb(-price_decimals(price, sz_decimals)), rounding)
    # Rounding up can carry into a new digit (9.99995 -> 10.0000); that has fewer significant
    # figures, so it stays valid, but normalise the exponent so equal prices print alike.
    return _plain(result)


def is_valid_price(price: Decimal, sz_decimals: int) -> bool:
    if not price.is_finite() or price <= 0:
        return False
    return price == price.quantize(Decimal(1).scaleb(-price_decimals(price, sz_decimals)))


def round_size(size: Decimal, sz_decimals: int) -> Decimal:
    """Sizes are cut down to the lot (toward zero), as Hyperliquid's SDKs do."""
    return _plain(size.quantize(Decimal(1).scaleb(-sz_decimals), rounding=ROUND_DOWN))


def is_valid_size(size: Decimal, sz_decimals: int) -> bool:
    if not size.is_finite() or size <= 0:
        return False
    return size == size.quantize(Decimal(1).scaleb(-sz_decimals), rounding=ROUND_DOWN)


def meets_min_value(size: Decimal, price: Decimal) -> bool:
    return size * price >= MIN_ORDER_VALUE


def _plain(value: Decimal) -> Decimal:
    """Strip trailing zeros without switching to exponent notation (1E+2 -> 100)."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal.as_tuple().exponent > 0 else normal


# --- Money formulas --------------------------------------------------------------------------
def fee(notional: Decimal, rate: Decimal) -> Decimal:
    """Fee in USD on a fill's notional (size x price)."""
    return to_usd(notional * rate)


def funding_payment(signed_size: Decimal, oracle: Decimal, rate: Decimal) -> Decimal:
    """What the account receives (negative: pays) at a funding hour.

    Hyperliquid: payment = position_size * oracle_price * funding_rate, paid by longs when the
    rate is positive; seen from the account it is the negative of that for a long.
    """
    return to_usd(-signed_size * oracle * rate)


def initial_margin(notional: Decimal, leverage: int) -> Decimal:
    return notional / leverage


def maintenance_margin(notional: Decimal, max_leverage: int) -> Decimal:
    """Half of the initial margin at max leverage: notional / (2 x max leverage)."""
    return notional / (2 * max_leverage)


def slipped_price(
    touch: Decimal,
    side: Side,
    notional: Decimal,
    fixed_bps: Decimal,
    impact_bps_per_million: Decimal,
) -> Decimal:
    """A taker's price: the touch moved against the taker by a fixed and a size-driven part.

    The paper venue sees only mid and mark, not depth, so a fixed number of basis points
    stands in for half the spread and `impact_bps_per_million` per $1M of notional for depth.
    """
    bps = fixed_bps + impact_bps_per_million * notional / Decimal(1_000_000)
    move = touch * bps / Decimal(10_000)
    return touch + move if side == "buy" else touch - move


# --- Orders and quotes -----------------------------------------------------------------------
OrderKind = Literal["market", "limit", "stop_market", "stop_limit", "take_profit", "stop_loss"]
Tif = Literal["gtc", "ioc", "alo"]

SIDES = frozenset({"buy", "sell"})
KINDS = frozenset({"market", "limit", "stop_market", "stop_limit", "take_profit", "stop_loss"})
TIFS = frozenset({"gtc", "ioc", "alo"})
TRIGGER_KINDS = frozenset({"stop_market", "stop_limit", "take_profit", "stop_loss"})


def require_decimal(name: str, value: object, optional: bool = False) -> None:
    # A float slipping in would make every later figure inexact; refuse it at the door.
    if value is None and optional:
        return
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Instrument:
    coin: str
    sz_decimals: int
    max_leverage: int


@dataclass(frozen=True, slots=True)
class Fees:
    maker: Decimal = BASE_MAKER_RATE
    taker: Decimal = BASE_TAKER_RATE


@dataclass(frozen=True, slots=True)
class Quote:
    mark: Decimal
    oracle: Decimal
    mid: Decimal | None
    funding_rate: Decimal

    def __post_init__(self) -> None:
        require_decimal("mark", self.mark)
        require_decimal("oracle", self.oracle)
        require_decimal("mid", self.mid, optional=True)
        require_decimal("funding_rate", self.funding_rate)

    @property
    def touch(self) -> Decimal:
        return self.mid if self.mid is not None else self.mark


@dataclass(frozen=True, slots=True)
class Frame:
    t: datetime
    quotes: Mapping[str, Quote]


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """An order as the venue receives it. `limit_price` is the limit of a limit order, the
    limit a stop_limit / take_profit / stop_loss becomes once triggered, and the worst price
    (a slippage cap) of a market or stop_market order. `tif` applies to limit orders only."""

    order_id: str
    client_order_id: str | None
    coin: str
    side: Side
    size: Decimal
    kind: OrderKind = "limit"
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    tif: Tif = "gtc"
    reduce_only: bool = False

    def __post_init__(self) -> None:
        require_decimal("size", self.size)
        require_decimal("limit_price", self.limit_price, optional=True)
        require_decimal("trigger_price", self.trigger_price, optional=True)
        if self.side not in SIDES or self.kind not in KINDS or self.tif not in TIFS:
            raise ValueError(f"bad side/kind/tif: {self.side!r} {self.kind!r} {self.tif!r}")

    @property
    def is_buy(self) -> bool:
        return self.side == "buy"

    @property
    def executes_as_limit(self) -> bool:
        """Rests on the book at `limit_price` (now, or once triggered)."""
        if self.kind in ("limit", "stop_limit"):
            return True
        return self.kind in ("take_profit", "stop_loss") and self.limit_price is not None


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str


# --- Pure rules over one order ---------------------------------------------------------------
def reference_price(spec: OrderSpec, touch: Decimal) -> Decimal:
    """The price an order is valued at for the $10 minimum and for margin."""
    if spec.executes_as_limit:
        return spec.limit_price  # validated present
    if spec.kind in TRIGGER_KINDS:
        return spec.trigger_price
    return touch


def validate_order(
    spec: OrderSpec, instrument: Instrument, quote: Quote, *, position: Decimal = ZERO
) -> Rejection | None:
    """The grid and minimum-value rules; `position` is the signed size held on the coin."""
    if spec.coin != instrument.coin:
        raise ValueError(f"order on {spec.coin} checked against {instrument.coin}")
    sz = instrument.sz_decimals
    if not is_valid_size(spec.size, sz):
        return Rejection(INVALID_SIZE)
    if spec.kind in ("limit", "stop_limit") and spec.limit_price is None:
        return Rejection(INVALID_PRICE)
    if spec.limit_price is not None and not is_valid_price(spec.limit_price, sz):
        return Rejection(INVALID_PRICE)
    if spec.kind in TRIGGER_KINDS and (
        spec.trigger_price is None or not is_valid_price(spec.trigger_price, sz)
    ):
        return Rejection(INVALID_PRICE)
    # A reduce-only order that closes the whole position is let through below $10: otherwise a
    # position worth under $10 could never be flattened (our choice; HL's rule is unclear).
    closes_all = spec.reduce_only and position != 0 and spec.is_buy == (position < 0)
    closes_all = closes_all and spec.size >= abs(position)
    if not closes_all and not meets_min_value(spec.size, reference_price(spec, quote.touch)):
        return Rejection(MIN_TRADE_NTL)
    return None


def crosses(side: Side, limit: Decimal, touch: Decimal) -> bool:
    """Whether a limit on `side` is marketable against the touch."""
    return limit >= touch if side == "buy" else limit <= touch


def is_triggered(spec: OrderSpec, mark: Decimal) -> bool:
    # Stops (and stop-losses) fire when the mark moves against a position closed by `side`:
    # a buy stop on a rise, a sell stop on a fall. Take-profits fire the other way.
    on_rise = spec.is_buy != (spec.kind == "take_profit")
    trigger = spec.trigger_price
    return mark >= trigger if on_rise else mark <= trigger
