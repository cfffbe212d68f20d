"""Properties of the pure gate over generated accounts, orders and limits."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.risk.gate import LIMIT_CODES, GateInput, GateLimits, GatePosition, check

ORIGINS = ("trader_web", "trader_api", "risk_manager", "system_flatten", "liquidation")
STATES = ("active", "reducing", "suspended", "halted")
COINS = ("BTC", "ETH", "SOL")
MARKS = {"BTC": Decimal("60000"), "ETH": Decimal("3000"), "SOL": Decimal("150")}


def decimals(low: str, high: str, places: int = 5):
    return st.decimals(
        min_value=Decimal(low), max_value=Decimal(high), places=places, allow_nan=False
    )


def maybe(strategy):
    return st.none() | strategy


gate_limits = st.builds(
    GateLimits,
    max_leverage=maybe(decimals("0.01", "100", 2)),
    allowed_instruments=st.frozensets(st.sampled_from(COINS)),
    allowed_directions=st.sampled_from(("both", "long_only", "short_only")),
    max_order_qty=maybe(decimals("0.00001", "100")),
    max_order_notional=maybe(decimals("1", "10000000", 2)),
    max_position_notional=maybe(decimals("1", "10000000", 2)),
    max_margin_use_pct=maybe(decimals("0.01", "100", 2)),
    price_band_pct=maybe(decimals("0.01", "50", 2)),
    max_open_orders=maybe(st.integers(0, 50)),
    max_orders_per_minute=maybe(st.integers(0, 120)),
)


@st.composite
def held_positions(draw, coin: str) -> dict[str, GatePosition]:
    held = {}
    for other in COINS:
        if other == coin or draw(st.booleans()):
            size = draw(decimals("-50", "50"))
            if other == coin and size == 0:
                size = Decimal("1")
            if size == 0:
                continue
            mark = MARKS[other] * draw(decimals("0.5", "1.5", 2))
            held[other] = GatePosition(
                coin=other,
                size=size,
                entry_price=MARKS[other],
                mark=draw(st.sampled_from((mark, None))),
                leverage=Decimal(draw(st.integers(1, 50))),
            )
    return held


@st.composite
def reducing_orders(draw) -> GateInput:
    """A reduce-only order on the other side of a held position, on an open account."""
    coin = draw(st.sampled_from(COINS))
    positions = draw(held_positions(coin))
    held = positions[coin].size
    mark = MARKS[coin]
    kind = draw(st.sampled_from(("market", "limit")))
    return GateInput(
        coin=coin,
        side="sell" if held > 0 else "buy",
        kind=kind,
        size=draw(decimals("0.00001", "100")),
        limit_price=mark * draw(decimals("0.01", "3", 2)) if kind == "limit" else None,
        trigger_price=None,
        reduce_only=True,
        origin=draw(st.sampled_from(ORIGINS)),
        state=draw(st.sampled_from(STATES)),
        status="open",
        live_venue=draw(st.booleans()),
        equity=draw(decimals("-100000", "1000000", 2)),
        positions=positions,
        open_orders=draw(st.integers(0, 100)),
        orders_last_minute=draw(st.integers(0, 500)),
        client_order_id_taken=False,
        resting_buy=draw(decimals("0", "100")),
        resting_sell=draw(decimals("0", "100")),
        mark=draw(st.sampled_from((mark, None))),
        leverage=Decimal(draw(st.integers(1, 50))),
        limits=draw(maybe(gate_limits)),
        firm_net_notional=draw(decimals("-10000000", "10000000", 2)),
        firm_max_long=draw(maybe(decimals("0", "1000000", 2))),
        firm_max_short=draw(maybe(decimals("0", "1000000", 2))),
    )


@settings(max_examples=600, deadline=None)
@given(reducing_orders())
def test_a_reduce_only_order_that_reduces_never_gets_a_limit_refusal(inp):
    refusal = check(inp)
    assert refusal is None or refusal.code not in LIMIT_CODES, refusal


@settings(max_examples=300, deadline=None)
@given(reducing_orders())
def test_a_firm_reduce_only_order_passes_whatever_the_state(inp):
    if inp.origin in ("risk_manager", "system_flatten", "liquidation"):
        refusal = check(inp)
        assert refusal is None or refusal.code in ("price_outside_band", "no_mark")
        if inp.origin == "system_flatten":
            assert refusal is None


@st.composite
def any_orders(draw) -> GateInput:
    coin = draw(st.sampled_from(COINS))
    base = draw(reducing_orders())
    return GateInput(
        **{
            **{name: getattr(base, name) for name in base.__slots__},
            "coin": coin,
            "side": draw(st.sampled_from(("buy", "sell"))),
            "reduce_only": draw(st.booleans()),
            "status": draw(st.sampled_from(("open", "closed"))),
            "client_order_id_taken": draw(st.booleans()),
            "positions": draw(st.sampled_from(({}, base.positions))),
        }
    )


@settings(max_examples=600, deadline=None)
@given(any_orders())
def test_the_gate_answers_every_input_without_raising(inp):
    refusal = check(inp)
    assert refusal is None or (refusal.code and refusal.message)


@settings(max_examples=400, deadline=None)
@given(any_orders())
def test_a_reducing_account_never_takes_an_order_that_grows_a_position(inp):
    if inp.state != "reducing" or inp.status != "open":
        return
    refusal = check(inp)
    if refusal is not None:
        return
    held = inp.positions[inp.coin].size if inp.coin in inp.positions else Decimal(0)
    delta = inp.size if inp.side == "buy" else -inp.size
    if inp.reduce_only:
        assert held != 0 and (held > 0) != (delta > 0)
    else:
        resting = inp.resting_buy if delta > 0 else inp.resting_sell
        assert abs(held + delta) < abs(held) or held + delta == 0
        assert inp.size + resting <= abs(held)
