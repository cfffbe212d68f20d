"""The pre-trade gate: may this order go? Pure checks over plain values.

No Django here (the layering checker enforces it): `apps/risk/checks.py` reads the account,
its positions and orders, its limits and the firm's exposure into a `GateInput`, and this
module answers with None (the order may go) or a `GateRefusal` (a reason code, a message a
trader understands, and the field to correct).

Well-formedness (instrument known, tick and lot grid, the $10 minimum, a price to value the
order at) is trading's `intent_validate`, which `order_submit` runs before any pre-submit
check: the gate relies on it rather than repeating it, so here an intent's size is positive,
its prices are on the grid and its kind and side are known.

Words used below:
- an order *reduces* when the account holds a position in its coin, the order is on the other
  side, and it cannot turn into an increase: it is reduce-only (the venue never lets it grow
  the position), or its size plus every resting order on the same side in that coin is at most
  the position. Anything else *increases*, a reversal (long 1, sell 3) included.
- the *value price* of the coin is its mark (positions are valued at the mark); the *order
  price* is the limit price, else the trigger price, else the mark.

Who passes what:
- CLOSED refuses everything but `system_flatten`.
- HALTED and SUSPENDED refuse trader orders (`trader_web`, `trader_api`) outright; reduce-only
  orders of `risk_manager`, `system_flatten` and `liquidation` pass. Liquidation passes like
  the firm's own flatten because it exists to close a position whose margin is gone: refusing
  it would leave the firm carrying the loss. Its orders must be reduce-only like the others',
  so a bug can never open exposure on a halted account.
- REDUCING passes only orders that reduce, whatever their origin.
- Limits (instrument, direction, size, notional, position, leverage, margin, firm exposure)
  apply only to orders that increase: an order that reduces lowers every one of them.
- The open-order and order-rate limits apply to trader orders, except a reduce-only order that
  reduces (a trader can always close, even with a full book or after a burst); the firm's own
  orders are never throttled by the trader's budget.
- The price band applies to every order with a limit price except `system_flatten`'s (in a
  crash the flatten must go at any price). A plain limit order's limit is compared with the
  mark; a stop-limit's limit with its trigger (the price it becomes live at), since a stop far
  from today's mark is a legitimate choice. With no mark at all, a banded limit order is
  refused (`no_mark`): the gate cannot tell a fat finger.
- The firm's exposure limit counts only accounts on a live venue (real capital); an order on a
  paper account adds no real exposure and is not checked against it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)
HUNDRED = Decimal(100)

TRADER_ORIGINS = frozenset({"trader_web", "trader_api"})
# Reduce-only orders of these origins pass a HALTED or SUSPENDED account (see above).
FIRM_ORIGINS = frozenset({"risk_manager", "system_flatten", "liquidation"})

# Reason codes, in the order the checks run.
ACCOUNT_CLOSED = "account_closed"
ACCOUNT_HALTED = "account_halted"
ACCOUNT_SUSPENDED = "account_suspended"
ACCOUNT_REDUCING = "account_reducing"
DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
INSTRUMENT_NOT_ALLOWED = "instrument_not_allowed"
DIRECTION_NOT_ALLOWED = "direction_not_allowed"
ORDER_TOO_LARGE = "order_too_large"
ORDER_NOTIONAL_TOO_LARGE = "order_notional_too_large"
NO_MARK = "no_mark"
PRICE_OUTSIDE_BAND = "price_outside_band"
TOO_MANY_OPEN_ORDERS = "too_many_open_orders"
ORDER_RATE_LIMIT = "order_rate_limit"
POSITION_NOTIONAL_TOO_LARGE = "position_notional_too_large"
LEVERAGE_TOO_HIGH = "leverage_too_high"
MARGIN_USE_TOO_HIGH = "margin_use_too_high"
FIRM_EXPOSURE_LIMIT = "firm_exposure_limit"

# The codes a limit (the account's or the firm's) produces, as opposed to the account's state,
# a duplicate id or the price band.
LIMIT_CODES = frozenset(
    {
        INSTRUMENT_NOT_ALLOWED,
        DIRECTION_NOT_ALLOWED,
        ORDER_TOO_LARGE,
        ORDER_NOTIONAL_TOO_LARGE,
        TOO_MANY_OPEN_ORDERS,
        ORDER_RATE_LIMIT,
        POSITION_NOTIONAL_TOO_LARGE,
        LEVERAGE_TOO_HIGH,
        MARGIN_USE_TOO_HIGH,
        FIRM_EXPOSURE_LIMIT,
    }
)

DIRECTIONS = ("both", "long_only", "short_only")
# The limits a risk manager may override, as RuleSet.to_limits_json() names them.
LIMIT_FIELDS = (
    "max_leverage",
    "allowed_instruments",
    "allowed_directions",
    "max_order_qty",
    "max_order_notional",
    "max_position_notional",
    "max_margin_use_pct",
    "price_band_pct",
    "max_open_orders",
    "max_orders_per_minute",
)
DECIMAL_LIMITS = (
    "max_leverage",
    "max_order_qty",
    "max_order_notional",
    "max_position_notional",
    "max_margin_use_pct",
    "price_band_pct",
)
COUNT_LIMITS = ("max_open_orders", "max_orders_per_minute")


@dataclass(frozen=True, slots=True)
class GateLimits:
    """An account's limits; None (or an empty instrument list) means no limit."""

    max_leverage: Decimal | None = None
    allowed_instruments: frozenset[str] = frozenset()
    allowed_directions: str = "both"
    max_order_qty: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_position_notional: Decimal | None = None
    max_margin_use_pct: Decimal | None = None
    price_band_pct: Decimal | None = None
    max_open_orders: int | None = None
    max_orders_per_minute: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> GateLimits:
        """From `RuleSet.to_limits_json()`'s shape (decimals as strings), with any field absent
        or None meaning no limit."""
        values: dict[str, object] = {}
        for name in DECIMAL_LIMITS:
            raw = data.get(name)
            if raw is not None:
                values[name] = Decimal(str(raw))
        for name in COUNT_LIMITS:
            raw = data.get(name)
            if raw is not None:
                values[name] = int(str(raw))
        values["allowed_instruments"] = frozenset(data.get("allowed_instruments") or ())
        values["allowed_directions"] = data.get("allowed_directions") or "both"
        return cls(**values)


NO_LIMITS = GateLimits()


@dataclass(frozen=True, slots=True)
class GatePosition:
    """An open position: signed size (long > 0), valued at `mark` (None: no mark, valued at
    its entry), margined at `leverage` (the chosen leverage, else the instrument's maximum)."""

    coin: str
    size: Decimal
    entry_price: Decimal
    mark: Decimal | None
    leverage: Decimal

    @property
    def value_price(self) -> Decimal:
        return self.entry_price if self.mark is None else self.mark


@dataclass(frozen=True, slots=True)
class GateInput:
    # The intent (as trading's OrderIntent, already well formed).
    coin: str
    side: str  # buy | sell
    kind: str
    size: Decimal
    limit_price: Decimal | None
    trigger_price: Decimal | None
    reduce_only: bool
    origin: str
    # The account.
    state: str  # active | reducing | suspended | halted
    status: str  # open | closed
    live_venue: bool  # real capital (venue != paper): counts toward the firm's exposure
    equity: Decimal  # balance + unrealised P&L at the latest marks
    state_reason: str = ""  # why it is halted, as the lifecycle wrote it for the trader
    positions: Mapping[str, GatePosition] = field(default_factory=dict)
    open_orders: int = 0
    orders_last_minute: int = 0
    client_order_id_taken: bool = False
    # Resting size (unfilled) of live orders in this coin, by side.
    resting_buy: Decimal = ZERO
    resting_sell: Decimal = ZERO
    # The instrument.
    mark: Decimal | None = None
    leverage: Decimal = Decimal(1)  # margin leverage of this coin: chosen, else instrument max
    # The limits: None for an account no rule set governs and no risk manager overrode.
    limits: GateLimits | None = None
    # The firm: real net notional in this coin (long > 0) and its limits by direction.
    firm_net_notional: Decimal = ZERO
    firm_max_long: Decimal | None = None
    firm_max_short: Decimal | None = None


@dataclass(frozen=True, slots=True)
class GateRefusal:
    code: str
    message: str
    field: str | None = None


def equity_of(balance: Decimal, positions: Mapping[str, GatePosition]) -> Decimal:
    """Balance plus unrealised P&L at the marks (a position with no mark adds nothing)."""
    equity = balance
    for p in positions.values():
        if p.mark is not None:
            equity += p.size * (p.mark - p.entry_price)
    return equity


class _Facts:
    """What every check needs, worked out once per order."""

    __slots__ = (
        "_exposure",
        "after",
        "before",
        "delta",
        "limits",
        "order_price",
        "reduces",
        "value_price",
    )

    def __init__(self, inp: GateInput) -> None:
        self.limits = NO_LIMITS if inp.limits is None else inp.limits
        self._exposure: tuple[Decimal, Decimal] | None = None
        position = inp.positions.get(inp.coin)
        before = position.size if position is not None else ZERO
        delta = inp.size if inp.side == "buy" else -inp.size
        self.before, self.delta, self.after = before, delta, before + delta
        if before == ZERO or (before > ZERO) == (delta > ZERO):
            self.reduces = False
        elif inp.reduce_only:
            self.reduces = True
        else:
            resting = inp.resting_buy if delta > ZERO else inp.resting_sell
            self.reduces = inp.size + resting <= abs(before)
        mark = inp.mark
        if mark is None and position is not None:
            mark = position.value_price
        self.order_price = inp.limit_price or inp.trigger_price or mark
        self.value_price = mark if mark is not None else self.order_price


Check = Callable[[GateInput, _Facts], GateRefusal | None]


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


# --- the account's state ----------------------------------------------------------------------


def check_closed(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    if inp.status == "closed" and inp.origin != "system_flatten":
        return GateRefusal(ACCOUNT_CLOSED, "This account is closed: it takes no new orders.")
    return None


def check_state(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    state = inp.state
    if state == "active":
        return None
    if state in ("halted", "suspended"):
        if inp.origin in FIRM_ORIGINS and inp.reduce_only:
            return None
        if state == "halted":
            message = (
                "Trading on this account is halted: new orders are refused and the firm closes "
                "any open positions."
            )
            if inp.state_reason:
                message = f"{message} {inp.state_reason}"
            return GateRefusal(ACCOUNT_HALTED, message)
        message = (
            "This account is suspended by the firm's risk team: new orders are refused until "
            "they lift the suspension."
        )
        return GateRefusal(ACCOUNT_SUSPENDED, message)
    if state == "reducing" and not facts.reduces:
        message = (
            f"This account may only reduce its positions, and this order would open or "
            f"increase a {inp.coin} position (reversing one counts as increasing it). Send a "
            f"reduce-only order on the other side of your position, at most its size."
        )
        return GateRefusal(ACCOUNT_REDUCING, message, "side")
    return None


def check_duplicate_client_order_id(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    if inp.client_order_id_taken:
        message = (
            "This account already has an order with that client order id: choose a new one "
            "for each order."
        )
        return GateRefusal(DUPLICATE_CLIENT_ORDER_ID, message, "client_order_id")
    return None


# --- what the order asks for ------------------------------------------------------------------


def check_instrument(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    allowed = facts.limits.allowed_instruments
    if allowed and inp.coin not in allowed:
        names = ", ".join(sorted(allowed))
        message = f"{inp.coin} is not traded on this account; its instruments are: {names}."
        return GateRefusal(INSTRUMENT_NOT_ALLOWED, message, "coin")
    return None


def check_direction(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    directions = facts.limits.allowed_directions
    if directions == "both":
        return None
    if directions == "long_only" and facts.delta < ZERO:
        message = (
            "This account trades long only: a sell may only reduce a long position, not open "
            "or increase a short."
        )
        return GateRefusal(DIRECTION_NOT_ALLOWED, message, "side")
    if directions == "short_only" and facts.delta > ZERO:
        message = (
            "This account trades short only: a buy may only reduce a short position, not open "
            "or increase a long."
        )
        return GateRefusal(DIRECTION_NOT_ALLOWED, message, "side")
    return None


def check_order_size(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    limit = facts.limits.max_order_qty
    if limit is not None and inp.size > limit:
        message = (
            f"This order is for {_plain(inp.size)} {inp.coin}; one order on this account may "
            f"be at most {_plain(limit)} {inp.coin}."
        )
        return GateRefusal(ORDER_TOO_LARGE, message, "size")
    return None


def check_order_notional(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    limit = facts.limits.max_order_notional
    price = facts.order_price
    if limit is None or price is None:
        return None
    notional = inp.size * price
    if notional > limit:
        message = (
            f"This order is worth {_money(notional)}; one order on this account may be worth "
            f"at most {_money(limit)}."
        )
        return GateRefusal(ORDER_NOTIONAL_TOO_LARGE, message, "size")
    return None


def check_price_band(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    band = facts.limits.price_band_pct
    price = inp.limit_price
    if band is None or price is None or inp.origin == "system_flatten":
        return None
    if inp.kind == "limit":
        reference, against = inp.mark, "the mark price"
        if reference is None:
            message = (
                f"There is no mark price for {inp.coin} right now, so this limit price cannot "
                "be checked against it; try again in a moment."
            )
            return GateRefusal(NO_MARK, message, "limit_price")
    else:
        reference, against = inp.trigger_price, "its trigger price"
        if reference is None:
            return None
    if abs(price - reference) * HUNDRED > band * reference:
        message = (
            f"The limit price {_plain(price)} is more than {_plain(band)}% away from {against} "
            f"({_plain(reference)}): check the price for a typing error."
        )
        return GateRefusal(PRICE_OUTSIDE_BAND, message, "limit_price")
    return None


# --- how busy the account is ------------------------------------------------------------------


def _counted(inp: GateInput, facts: _Facts) -> bool:
    return inp.origin in TRADER_ORIGINS and not (inp.reduce_only and facts.reduces)


def check_open_orders(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    limit = facts.limits.max_open_orders
    if limit is not None and inp.open_orders >= limit and _counted(inp, facts):
        message = (
            f"This account already has {inp.open_orders} open orders, the most it may have: "
            "cancel one before placing another."
        )
        return GateRefusal(TOO_MANY_OPEN_ORDERS, message)
    return None


def check_order_rate(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    limit = facts.limits.max_orders_per_minute
    if limit is not None and inp.orders_last_minute >= limit and _counted(inp, facts):
        message = (
            f"This account placed {inp.orders_last_minute} orders in the last minute, the "
            f"most it may (limit {limit} a minute): wait a few seconds and try again."
        )
        return GateRefusal(ORDER_RATE_LIMIT, message)
    return None


# --- exposure after the order -----------------------------------------------------------------


def check_position_notional(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    limit = facts.limits.max_position_notional
    price = facts.value_price
    if limit is None or price is None:
        return None
    notional = abs(facts.after) * price
    if notional > limit:
        message = (
            f"After this order your {inp.coin} position would be worth {_money(notional)}; a "
            f"position on this account may be worth at most {_money(limit)} per instrument."
        )
        return GateRefusal(POSITION_NOTIONAL_TOO_LARGE, message, "size")
    return None


def _exposure_after(inp: GateInput, facts: _Facts) -> tuple[Decimal, Decimal]:
    """(sum of position notionals, initial margin) after the order, at the marks."""
    if facts._exposure is not None:
        return facts._exposure
    total = margin = ZERO
    for coin, p in inp.positions.items():
        if coin == inp.coin:
            continue
        notional = abs(p.size) * p.value_price
        total += notional
        margin += notional / p.leverage
    price = facts.value_price
    if price is not None and facts.after:
        notional = abs(facts.after) * price
        total += notional
        margin += notional / inp.leverage
    facts._exposure = (total, margin)
    return total, margin


def _no_equity(inp: GateInput, code: str, what: str) -> GateRefusal:
    message = (
        f"This account's equity is {_money(inp.equity)}, so it has no room for new {what}: "
        "only orders that reduce a position are accepted."
    )
    return GateRefusal(code, message, "size")


def check_leverage(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    limit = facts.limits.max_leverage
    if limit is None:
        return None
    total, _ = _exposure_after(inp, facts)
    if inp.equity <= ZERO:
        return _no_equity(inp, LEVERAGE_TOO_HIGH, "exposure")
    if total > limit * inp.equity:
        leverage = total / inp.equity
        message = (
            f"After this order your positions would be worth {_money(total)}, "
            f"{leverage:.2f}x your equity of {_money(inp.equity)}; this account may use at most "
            f"{_plain(limit)}x."
        )
        return GateRefusal(LEVERAGE_TOO_HIGH, message, "size")
    return None


def check_margin_use(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    limit = facts.limits.max_margin_use_pct
    if limit is None:
        return None
    _, margin = _exposure_after(inp, facts)
    if inp.equity <= ZERO:
        return _no_equity(inp, MARGIN_USE_TOO_HIGH, "margin")
    if margin * HUNDRED > limit * inp.equity:
        used = margin * HUNDRED / inp.equity
        message = (
            f"After this order your positions would use {_money(margin)} of margin, "
            f"{used:.1f}% of your equity of {_money(inp.equity)}; this account may use at most "
            f"{_plain(limit)}%."
        )
        return GateRefusal(MARGIN_USE_TOO_HIGH, message, "size")
    return None


def check_firm_exposure(inp: GateInput, facts: _Facts) -> GateRefusal | None:
    if not inp.live_venue or facts.value_price is None:
        return None
    before = inp.firm_net_notional
    after = before + facts.delta * facts.value_price
    if after > ZERO and after > before and inp.firm_max_long is not None:
        limit, direction = inp.firm_max_long, "long"
    elif after < ZERO and after < before and inp.firm_max_short is not None:
        limit, direction = inp.firm_max_short, "short"
    else:
        return None
    if abs(after) > limit:
        message = (
            f"The firm has reached its {direction} exposure limit in {inp.coin}, so new "
            f"{direction} {inp.coin} orders are refused for now; orders that reduce a position "
            "are accepted."
        )
        return GateRefusal(FIRM_EXPOSURE_LIMIT, message, "coin")
    return None


# Cheapest first. Checks that need the account's limits run only where it has some.
STATE_CHECKS: tuple[Check, ...] = (check_closed, check_state, check_duplicate_client_order_id)
LIMIT_CHECKS: tuple[Check, ...] = (
    check_instrument,
    check_direction,
    check_order_size,
    check_order_notional,
)
COUNT_CHECKS: tuple[Check, ...] = (check_open_orders, check_order_rate)
EXPOSURE_CHECKS: tuple[Check, ...] = (check_position_notional, check_leverage, check_margin_use)


def check(inp: GateInput) -> GateRefusal | None:
    """None when the order may go, else the first refusal, cheapest checks first."""
    facts = _Facts(inp)
    for fn in STATE_CHECKS:
        refusal = fn(inp, facts)
        if refusal is not None:
            return refusal
    if inp.origin == "system_flatten" and inp.reduce_only:
        return None  # the firm closing a position in a crash: nothing may stop it
    limited = inp.limits is not None
    increases = not facts.reduces
    if limited and increases:
        for fn in LIMIT_CHECKS:
            refusal = fn(inp, facts)
            if refusal is not None:
                return refusal
    refusal = check_price_band(inp, facts)
    if refusal is not None:
        return refusal
    if limited:
        for fn in COUNT_CHECKS:
            refusal = fn(inp, facts)
            if refusal is not None:
                return refusal
        if increases:
            for fn in EXPOSURE_CHECKS:
                refusal = fn(inp, facts)
                if refusal is not None:
                    return refusal
    if increases:
        return check_firm_exposure(inp, facts)
    return None
