"""The pure gate, check by check: what it refuses, what it lets through, and the boundaries
(exactly at a limit passes, one tick or lot beyond is refused)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from apps.risk import gate
from apps.risk.gate import GateLimits, check
from tests.risk.gate_support import D, limits, order, position, positions

TRADERS = ("trader_web", "trader_api")
FIRM = ("risk_manager", "system_flatten", "liquidation")
ORIGINS = TRADERS + FIRM
LONG_1 = positions(position("BTC", "1"))
SHORT_1 = positions(position("BTC", "-1"))


def code(inp) -> str | None:
    refusal = check(inp)
    return None if refusal is None else refusal.code


# --- trading state ------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ORIGINS)
def test_an_active_account_takes_an_ordinary_order_from_anyone(origin):
    assert check(order(origin=origin)) is None


@pytest.mark.parametrize("reduce_only", [False, True])
@pytest.mark.parametrize("origin", ["trader_web", "trader_api", "risk_manager", "liquidation"])
def test_a_closed_account_refuses_everything_but_the_system_flatten(origin, reduce_only):
    inp = order(status="closed", origin=origin, side="sell", reduce_only=reduce_only)
    assert code(replace(inp, positions=LONG_1)) == "account_closed"


@pytest.mark.parametrize("reduce_only", [False, True])
def test_a_closed_account_still_takes_the_system_flatten(reduce_only):
    inp = order(status="closed", origin="system_flatten", side="sell", reduce_only=reduce_only)
    assert check(replace(inp, positions=LONG_1)) is None


@pytest.mark.parametrize("reduce_only", [False, True])
@pytest.mark.parametrize("origin", TRADERS)
@pytest.mark.parametrize("state", ["halted", "suspended"])
def test_halted_and_suspended_accounts_refuse_every_trader_order(state, origin, reduce_only):
    inp = order(state=state, origin=origin, side="sell", reduce_only=reduce_only, positions=LONG_1)
    refusal = check(inp)
    assert refusal.code == f"account_{state}"
    assert state in refusal.message


@pytest.mark.parametrize("origin", FIRM)
@pytest.mark.parametrize("state", ["halted", "suspended", "reducing"])
def test_firm_reduce_only_orders_pass_any_state(state, origin):
    inp = order(state=state, origin=origin, side="sell", reduce_only=True, positions=LONG_1)
    assert check(inp) is None


@pytest.mark.parametrize("origin", FIRM)
@pytest.mark.parametrize("state", ["halted", "suspended"])
def test_firm_orders_that_are_not_reduce_only_are_refused_on_halted_and_suspended(state, origin):
    inp = order(state=state, origin=origin, side="sell", positions=LONG_1)
    assert code(inp) == f"account_{state}"


@pytest.mark.parametrize("origin", TRADERS + ("risk_manager",))
@pytest.mark.parametrize(
    ("held", "side", "size", "reduce_only"),
    [
        ("0", "buy", "1", False),  # opening from flat
        ("0", "sell", "1", True),  # reduce-only with nothing to reduce
        ("1", "buy", "0.5", False),  # increasing a long
        ("-1", "sell", "0.5", False),  # increasing a short
        ("1", "sell", "1.5", False),  # reversing a long: treated as increasing
        ("-1", "buy", "2", False),  # reversing a short
        ("1", "buy", "0.5", True),  # reduce-only on the same side
    ],
)
def test_a_reducing_account_refuses_what_could_increase_a_position(
    origin, held, side, size, reduce_only
):
    held_positions = positions(position("BTC", held)) if held != "0" else {}
    inp = order(
        state="reducing",
        origin=origin,
        side=side,
        size=size,
        reduce_only=reduce_only,
        positions=held_positions,
    )
    refusal = check(inp)
    assert refusal.code == "account_reducing" and refusal.field == "side"


@pytest.mark.parametrize("origin", TRADERS + ("risk_manager",))
@pytest.mark.parametrize(
    ("held", "side", "size", "reduce_only"),
    [
        ("1", "sell", "0.5", False),
        ("1", "sell", "1", False),  # closing exactly
        ("-1", "buy", "1", False),
        ("1", "sell", "0.5", True),
        ("1", "sell", "3", True),  # reduce-only: the venue closes at most the position
    ],
)
def test_a_reducing_account_takes_orders_that_reduce(origin, held, side, size, reduce_only):
    inp = order(
        state="reducing",
        origin=origin,
        side=side,
        size=size,
        reduce_only=reduce_only,
        positions=positions(position("BTC", held)),
    )
    assert check(inp) is None


def test_a_reduction_that_resting_orders_could_turn_into_a_reversal_counts_as_increasing():
    inp = order(state="reducing", side="sell", size="0.5", positions=LONG_1, resting_sell=D("0.6"))
    assert code(inp) == "account_reducing"
    assert check(replace(inp, size=D("0.4"))) is None


def test_a_position_in_another_coin_does_not_make_an_order_reducing():
    eth = positions(position("ETH", "10"))
    assert code(order(state="reducing", side="sell", positions=eth)) == "account_reducing"


def test_the_closed_check_comes_before_the_state_and_the_state_before_the_rest():
    everything_wrong = order(
        status="closed",
        state="halted",
        client_order_id_taken=True,
        limits=limits(max_order_qty="0.1"),
    )
    assert code(everything_wrong) == "account_closed"
    assert code(replace(everything_wrong, status="open")) == "account_halted"
    assert code(replace(everything_wrong, status="open", state="active")) == (
        "duplicate_client_order_id"
    )


# --- duplicate client order id ---------------------------------------------------------------


@pytest.mark.parametrize("origin", ORIGINS)
def test_a_client_order_id_already_used_on_the_account_is_refused(origin):
    refusal = check(order(origin=origin, client_order_id_taken=True))
    assert (refusal.code, refusal.field) == ("duplicate_client_order_id", "client_order_id")


# --- instruments and directions -----------------------------------------------------------------


def test_an_instrument_outside_the_allowed_list_is_refused():
    refusal = check(order(limits=limits(allowed_instruments=frozenset({"ETH", "SOL"}))))
    assert (refusal.code, refusal.field) == ("instrument_not_allowed", "coin")
    assert "ETH, SOL" in refusal.message


@pytest.mark.parametrize("allowed", [frozenset(), frozenset({"BTC"}), frozenset({"BTC", "ETH"})])
def test_an_allowed_instrument_or_an_empty_list_passes(allowed):
    assert check(order(limits=limits(allowed_instruments=allowed))) is None


def test_closing_a_position_in_an_instrument_no_longer_allowed_passes():
    inp = order(side="sell", positions=LONG_1, limits=limits(allowed_instruments={"ETH"}))
    assert check(inp) is None


@pytest.mark.parametrize(
    ("directions", "held", "side", "size", "expected"),
    [
        ("long_only", "0", "buy", "1", None),
        ("long_only", "0", "sell", "1", "direction_not_allowed"),
        ("long_only", "1", "sell", "1", None),  # closing the long
        ("long_only", "1", "sell", "2", "direction_not_allowed"),  # reversing into a short
        ("long_only", "-1", "buy", "0.5", None),  # reducing a short left from before
        ("long_only", "-1", "sell", "0.5", "direction_not_allowed"),
        ("short_only", "0", "sell", "1", None),
        ("short_only", "0", "buy", "1", "direction_not_allowed"),
        ("short_only", "-1", "buy", "1", None),
        ("short_only", "-1", "buy", "1.5", "direction_not_allowed"),
        ("short_only", "1", "sell", "0.5", None),
        ("short_only", "1", "buy", "0.5", "direction_not_allowed"),
        ("both", "0", "sell", "1", None),
        ("both", "1", "sell", "3", None),
    ],
)
def test_directions_refuse_only_what_opens_or_increases_the_wrong_side(
    directions, held, side, size, expected
):
    held_positions = positions(position("BTC", held)) if held != "0" else {}
    inp = order(
        side=side,
        size=size,
        positions=held_positions,
        limits=limits(allowed_directions=directions),
    )
    assert code(inp) == expected


# --- order size and notional --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [("1.9", None), ("2", None), ("2.00001", "order_too_large"), ("3", "order_too_large")],
)
def test_the_order_size_limit_in_coins_holds_to_the_lot(size, expected):
    assert code(order(size=size, limits=limits(max_order_qty="2"))) == expected


def test_an_order_too_large_says_the_limit_in_coins():
    refusal = check(order(size="3", limits=limits(max_order_qty="2")))
    assert refusal.field == "size" and "3 BTC" in refusal.message and "2 BTC" in refusal.message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"size": "1"}, None),  # 60,000 at the mark: exactly the limit
        ({"size": "1.00001"}, "order_notional_too_large"),  # one lot more
        ({"kind": "limit", "limit_price": "60000"}, None),
        ({"kind": "limit", "limit_price": "60001"}, "order_notional_too_large"),  # one tick
        ({"kind": "limit", "limit_price": "59000", "size": "1.01694"}, None),  # 59,999.46
        ({"kind": "stop_market", "trigger_price": "60001"}, "order_notional_too_large"),
        ({"kind": "stop_market", "trigger_price": "59999"}, None),
    ],
)
def test_the_order_notional_is_counted_at_the_limit_price_else_the_trigger_else_the_mark(
    fields, expected
):
    assert code(order(limits=limits(max_order_notional="60000"), **fields)) == expected


def test_an_order_notional_refusal_says_both_figures():
    refusal = check(order(size="2", limits=limits(max_order_notional="60000")))
    assert "120,000.00" in refusal.message and "60,000.00" in refusal.message


@pytest.mark.parametrize("reduce_only", [False, True])
def test_an_order_that_reduces_passes_the_size_and_notional_limits(reduce_only):
    big = positions(position("BTC", "10"))
    inp = order(
        side="sell",
        size="10",
        reduce_only=reduce_only,
        positions=big,
        limits=limits(max_order_qty="1", max_order_notional="1000"),
    )
    assert check(inp) is None


# --- the price band -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ("60000", None),
        ("63000", None),  # exactly 5 % above
        ("63001", "price_outside_band"),
        ("57000", None),  # exactly 5 % below
        ("56999", "price_outside_band"),
        ("6000", "price_outside_band"),  # a zero missed
        ("600000", "price_outside_band"),  # one too many
    ],
)
def test_a_limit_price_beyond_the_band_around_the_mark_is_refused(price, expected):
    inp = order(kind="limit", limit_price=price, limits=limits(price_band_pct="5"))
    assert code(inp) == expected


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_the_band_applies_to_both_sides(side):
    inp = order(kind="limit", side=side, limit_price="70000", limits=limits(price_band_pct="5"))
    refusal = check(inp)
    assert (refusal.code, refusal.field) == ("price_outside_band", "limit_price")
    assert "70000" in refusal.message and "60000" in refusal.message


def test_the_system_flatten_skips_the_price_band():
    far = dict(kind="limit", limit_price="30000", side="sell", positions=LONG_1)
    banded = limits(price_band_pct="5")
    assert code(order(origin="trader_web", limits=banded, **far)) == "price_outside_band"
    assert check(order(origin="system_flatten", reduce_only=True, limits=banded, **far)) is None
    assert check(order(origin="system_flatten", limits=banded, **far)) is None
    halted = order(origin="system_flatten", state="halted", reduce_only=True, limits=banded, **far)
    assert check(halted) is None


@pytest.mark.parametrize("origin", ["risk_manager", "liquidation", "trader_api"])
def test_other_origins_keep_the_price_band(origin):
    inp = order(
        origin=origin,
        kind="limit",
        limit_price="30000",
        side="sell",
        reduce_only=True,
        positions=LONG_1,
        limits=limits(price_band_pct="5"),
    )
    assert code(inp) == "price_outside_band"


def test_a_market_order_has_no_limit_price_to_band():
    assert check(order(limits=limits(price_band_pct="0.01"))) is None


@pytest.mark.parametrize(
    ("trigger", "limit_price", "expected"),
    [
        ("50000", "50000", None),  # a stop far from the mark is a trader's choice
        ("50000", "52500", None),  # 5 % from the trigger
        ("50000", "52501", "price_outside_band"),
        ("50000", "47499", "price_outside_band"),
    ],
)
def test_a_stop_limit_price_is_banded_around_its_trigger(trigger, limit_price, expected):
    inp = order(
        kind="stop_limit",
        side="sell",
        trigger_price=trigger,
        limit_price=limit_price,
        limits=limits(price_band_pct="5"),
    )
    assert code(inp) == expected


def test_with_no_mark_a_banded_limit_order_is_refused_rather_than_guessed():
    inp = order(kind="limit", limit_price="60000", mark=None, limits=limits(price_band_pct="5"))
    assert code(inp) == "no_mark"
    assert check(replace(inp, limits=limits())) is None


# --- open orders and the order rate -------------------------------------------------------------


@pytest.mark.parametrize(
    ("open_orders", "expected"),
    [(0, None), (19, None), (20, "too_many_open_orders"), (35, "too_many_open_orders")],
)
def test_the_open_order_limit(open_orders, expected):
    assert code(order(open_orders=open_orders, limits=limits(max_open_orders=20))) == expected


@pytest.mark.parametrize(
    ("recent", "expected"),
    [(0, None), (59, None), (60, "order_rate_limit"), (500, "order_rate_limit")],
)
def test_the_order_rate_limit(recent, expected):
    assert code(order(orders_last_minute=recent, limits=limits(max_orders_per_minute=60))) == (
        expected
    )


def test_a_limit_of_zero_open_orders_refuses_every_new_order():
    assert code(order(limits=limits(max_open_orders=0))) == "too_many_open_orders"


@pytest.mark.parametrize("field", ["open_orders", "orders_last_minute"])
def test_a_reduce_only_order_that_reduces_is_never_throttled(field):
    busy = limits(max_open_orders=1, max_orders_per_minute=1)
    closing = order(side="sell", reduce_only=True, positions=LONG_1, limits=busy, **{field: 9})
    assert check(closing) is None
    plain = replace(closing, reduce_only=False)
    assert code(plain) in ("too_many_open_orders", "order_rate_limit")


@pytest.mark.parametrize("origin", FIRM)
def test_the_firms_orders_are_not_counted_against_the_traders_budget(origin):
    busy = limits(max_open_orders=1, max_orders_per_minute=1)
    assert check(order(origin=origin, open_orders=5, orders_last_minute=5, limits=busy)) is None


# --- position notional ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "side", "size", "expected"),
    [
        ("0", "buy", "2", None),  # 120,000: exactly the limit
        ("0", "buy", "2.00001", "position_notional_too_large"),
        ("1", "buy", "1", None),
        ("1", "buy", "1.00001", "position_notional_too_large"),
        ("-1", "sell", "1.00001", "position_notional_too_large"),
        ("1", "sell", "3", None),  # reversing to a 2 BTC short: 120,000
        ("1", "sell", "3.00001", "position_notional_too_large"),
        ("3", "sell", "1", None),  # already above, but reducing
    ],
)
def test_the_position_notional_after_the_order_is_limited(held, side, size, expected):
    held_positions = positions(position("BTC", held)) if held != "0" else {}
    inp = order(
        side=side,
        size=size,
        positions=held_positions,
        limits=limits(max_position_notional="120000"),
    )
    assert code(inp) == expected


def test_the_position_notional_is_valued_at_the_mark_not_the_entry():
    cheap_entry = positions(position("BTC", "1", entry="30000"))
    inp = order(size="1.5", positions=cheap_entry, limits=limits(max_position_notional="120000"))
    assert code(inp) == "position_notional_too_large"  # 2.5 x 60,000 = 150,000


def test_the_position_limit_is_per_instrument():
    eth = positions(position("ETH", "100"))  # 300,000 of ETH
    assert check(order(positions=eth, limits=limits(max_position_notional="120000"))) is None


# --- leverage ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("3.33333", None),  # 199,999.80 + 100,000 of ETH = 299,999.80: under 3x
        ("3.33334", "leverage_too_high"),  # 300,000.40: over by one lot
    ],
)
def test_leverage_counts_every_position_after_the_order(size, expected):
    eth = positions(position("ETH", "33.3333333"))  # 99,999.9999
    inp = order(size=size, positions=eth, limits=limits(max_leverage="3"))
    assert code(inp) == expected


def test_leverage_exactly_at_the_limit_passes():
    inp = order(size="5", limits=limits(max_leverage="3"), equity="100000")  # 300,000 / 100,000
    assert check(inp) is None
    assert code(replace(inp, size=D("5.00001"))) == "leverage_too_high"


def test_leverage_is_measured_on_equity_not_balance():
    inp = order(size="5", limits=limits(max_leverage="3"), equity="99999.99")
    refusal = check(inp)
    assert refusal.code == "leverage_too_high" and "3x" in refusal.message


@pytest.mark.parametrize("equity", ["0", "-500"])
def test_an_account_without_equity_can_only_reduce(equity):
    inp = order(size="0.01", equity=equity, limits=limits(max_leverage="50"))
    assert code(inp) == "leverage_too_high"
    closing = order(side="sell", size="1", positions=LONG_1, equity=equity, limits=inp.limits)
    assert check(closing) is None


def test_reversing_counts_only_the_new_side():
    inp = order(side="sell", size="2", positions=LONG_1, limits=limits(max_leverage="0.6"))
    assert check(inp) is None  # short 1 BTC after: 60,000 = 0.6x
    assert code(replace(inp, size=D("2.00001"))) == "leverage_too_high"


# --- margin use -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("6.66666", None),  # 399,999.60 / 40 = 9,999.99: under 10 % of 100,000
        ("6.66667", "margin_use_too_high"),  # 400,000.20 / 40 = 10,000.005
    ],
)
def test_margin_use_is_the_initial_margin_at_the_instruments_leverage(size, expected):
    assert code(order(size=size, limits=limits(max_margin_use_pct="10"))) == expected


def test_margin_use_exactly_at_the_limit_passes():
    inp = order(size="4", leverage=D("24"), limits=limits(max_margin_use_pct="10"))
    assert check(inp) is None  # 240,000 / 24 = 10,000: exactly 10 %


def test_margin_counts_other_positions_at_their_own_leverage():
    eth = positions(position("ETH", "50"))  # 150,000 / 25 = 6,000
    inp = order(size="2.66666", positions=eth, limits=limits(max_margin_use_pct="10"))
    assert check(inp) is None  # + 159,999.60 / 40 = 3,999.99 -> 9,999.99
    assert code(replace(inp, size=D("2.66667"))) == "margin_use_too_high"


def test_a_lower_chosen_leverage_uses_more_margin():
    inp = order(size="1", leverage=D("5"), limits=limits(max_margin_use_pct="10"))
    refusal = check(inp)  # 60,000 / 5 = 12,000: 12 %
    assert refusal.code == "margin_use_too_high" and "12.0%" in refusal.message


# --- the firm's exposure --------------------------------------------------------------------


def firm(**fields):
    values = dict(live_venue=True, firm_net_notional=D("900000"), firm_max_long=D("1000000"))
    values.update(fields)
    return order(**values)


@pytest.mark.parametrize(
    ("size", "expected"),
    [("1.66666", None), ("1.66667", "firm_exposure_limit"), ("5", "firm_exposure_limit")],
)
def test_the_firms_long_limit_counts_this_order_at_the_mark(size, expected):
    assert code(firm(size=size)) == expected  # 900,000 + 99,999.60 passes, + 100,000.20 not


def test_the_firms_limit_exactly_reached_passes():
    assert check(firm(firm_net_notional=D("940000"))) is None  # + 60,000 = 1,000,000


def test_an_order_on_a_paper_account_is_not_counted_against_the_firms_real_limit():
    assert check(firm(size="100", live_venue=False)) is None


def test_an_order_that_lowers_the_firms_net_long_passes_even_above_the_limit():
    assert check(firm(side="sell", firm_net_notional=D("5000000"))) is None


def test_the_short_limit_applies_to_sells():
    over = firm(side="sell", firm_net_notional=D("-990000"), firm_max_short=D("1000000"))
    refusal = check(over)
    assert refusal.code == "firm_exposure_limit" and "short" in refusal.message
    assert check(replace(over, firm_net_notional=D("-940000"))) is None


def test_selling_from_a_firm_net_long_into_a_short_beyond_the_short_limit_is_refused():
    inp = firm(
        side="sell", size="3", firm_net_notional=D("50000"), firm_max_short=D("100000")
    )  # 50,000 - 180,000 = -130,000
    assert code(inp) == "firm_exposure_limit"


def test_no_firm_limit_on_a_direction_means_no_refusal():
    assert check(firm(size="100", firm_max_long=None)) is None


def test_the_firms_limit_applies_to_an_account_with_no_limits_of_its_own():
    assert code(firm(size="5", limits=None)) == "firm_exposure_limit"


# --- accounts no rule set governs -----------------------------------------------------------


def test_an_account_with_no_limits_gets_only_the_state_checks():
    huge = order(
        size="1000",
        kind="limit",
        limit_price="120000",
        equity="10",
        limits=None,
        open_orders=10_000,
        orders_last_minute=10_000,
    )
    assert check(huge) is None
    assert code(replace(huge, state="halted")) == "account_halted"
    assert code(replace(huge, client_order_id_taken=True)) == "duplicate_client_order_id"


# --- the limits' own shape ---------------------------------------------------------------------


def test_limits_read_from_the_rule_sets_json():
    parsed = GateLimits.from_json(
        {
            "max_leverage": "20",
            "allowed_instruments": ["BTC", "ETH"],
            "allowed_directions": "long_only",
            "max_order_qty": None,
            "max_order_notional": "500000",
            "max_position_notional": "750000.50",
            "max_margin_use_pct": "80",
            "price_band_pct": "5",
            "max_open_orders": 20,
            "max_orders_per_minute": 60,
        }
    )
    assert parsed.max_leverage == Decimal("20") and parsed.max_order_qty is None
    assert parsed.allowed_instruments == frozenset({"BTC", "ETH"})
    assert parsed.max_position_notional == Decimal("750000.50")
    assert (parsed.max_open_orders, parsed.allowed_directions) == (20, "long_only")


def test_every_refusal_has_a_known_code_and_a_message():
    known = {
        value
        for name, value in vars(gate).items()
        if name.isupper() and isinstance(value, str) and value.islower() and "_" in value
    }
    cases = [
        order(status="closed"),
        order(state="halted"),
        order(state="suspended"),
        order(state="reducing"),
        order(client_order_id_taken=True),
        order(limits=limits(allowed_instruments={"ETH"})),
        order(side="sell", limits=limits(allowed_directions="long_only")),
        order(size="2", limits=limits(max_order_qty="1")),
        order(size="2", limits=limits(max_order_notional="1")),
        order(kind="limit", limit_price="1", limits=limits(price_band_pct="1")),
        order(kind="limit", limit_price="1", mark=None, limits=limits(price_band_pct="1")),
        order(open_orders=1, limits=limits(max_open_orders=1)),
        order(orders_last_minute=1, limits=limits(max_orders_per_minute=1)),
        order(limits=limits(max_position_notional="1")),
        order(limits=limits(max_leverage="0.1")),
        order(limits=limits(max_margin_use_pct="0.1")),
        firm(size="100"),
    ]
    codes = set()
    for inp in cases:
        refusal = check(inp)
        assert refusal is not None and refusal.code in known and len(refusal.message) > 30
        codes.add(refusal.code)
    assert len(codes) == len(cases)
