"""Placing, resting, triggering, cancelling and modifying orders on a paper book."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.trading.venues.paper.matching import (
    Accepted,
    Book,
    Cancelled,
    Fees,
    Filled,
    Frame,
    Instrument,
    Modified,
    OrderSpec,
    Quote,
    Rejected,
    Slippage,
    Triggered,
)

D = Decimal
T0 = datetime(2025, 3, 3, 10, 15, tzinfo=UTC)
ETH = Instrument("ETH", sz_decimals=4, max_leverage=25)
BTC = Instrument("BTC", sz_decimals=5, max_leverage=40)
NO_SLIPPAGE = Slippage(fixed_bps=D("0"))


def quote(mid: str, mark: str | None = None) -> Quote:
    return Quote(mark=D(mark or mid), oracle=D(mark or mid), mid=D(mid), funding_rate=D("0"))


def frame(mid: str, mark: str | None = None, minutes: int = 1) -> Frame:
    return Frame(T0 + timedelta(minutes=minutes), {"ETH": quote(mid, mark)})


def book(balance: str = "100000", slippage: Slippage = NO_SLIPPAGE) -> Book:
    return Book.open([ETH, BTC], D(balance), slippage=slippage)


def spec(order_id: str = "o1", **kwargs: object) -> OrderSpec:
    fields: dict[str, object] = {
        "order_id": order_id,
        "client_order_id": f"c-{order_id}",
        "coin": "ETH",
        "side": "buy",
        "size": D("1"),
        "kind": "market",
    }
    fields.update(kwargs)
    return OrderSpec(**fields)  # type: ignore[arg-type]


def fills(events: list) -> list[Filled]:
    return [e for e in events if isinstance(e, Filled)]


# --- Fees ------------------------------------------------------------------------------------
def test_taker_fill_pays_the_taker_rate_on_its_notional() -> None:
    b = book()
    events = b.place(spec(size=D("2")), quote("3000"), T0)
    assert events[0] == Accepted("o1", "c-o1")
    [fill] = fills(events)
    # 2 x 3000 = 6000 notional; 6000 x 0.045 % = 2.70
    assert (fill.price, fill.fee, fill.liquidity) == (D("3000"), D("2.70"), "taker")
    assert b.balance == D("100000") - D("2.70")


def test_resting_limit_fills_as_maker_at_its_limit_price_when_the_market_crosses() -> None:
    b = book()
    assert b.place(spec(kind="limit", limit_price=D("2990")), quote("3000"), T0) == [
        Accepted("o1", "c-o1")
    ]
    assert b.on_frame(frame("2995")) == []
    [fill] = fills(b.on_frame(frame("2950", minutes=2)))  # gapped through: no improvement
    # 2990 x 0.015 % = 0.4485
    assert (fill.price, fill.fee, fill.liquidity) == (D("2990"), D("0.4485"), "maker")
    assert b.orders == {}


def test_custom_fee_rates_are_used() -> None:
    b = Book.open([ETH], D("1000"), fees=Fees(maker=D("0"), taker=D("0.001")), slippage=NO_SLIPPAGE)
    [fill] = fills(b.place(spec(size=D("0.1")), quote("3000"), T0))
    assert fill.fee == D("0.3")


# --- Market orders and slippage --------------------------------------------------------------
def test_market_order_fills_at_the_mid_moved_against_the_taker_and_rounded_onto_the_grid() -> None:
    b = book(slippage=Slippage(fixed_bps=D("1")))
    # 3000.05 x 1.0001 = 3000.350005 -> up to 5 sig figs: 3000.4
    [buy] = fills(b.place(spec("b", side="buy"), quote("3000.05"), T0))
    assert buy.price == D("3000.4")
    # 3000.05 x 0.9999 = 2999.749995 -> down: 2999.7
    [sell] = fills(b.place(spec("s", side="sell"), quote("3000.05"), T0))
    assert sell.price == D("2999.7")


def test_market_order_impact_grows_with_notional() -> None:
    b = book(slippage=Slippage(fixed_bps=D("0"), impact_bps_per_million=D("10")))
    # 10 ETH x 3000 = $30,000 -> 0.3 bps -> 3000 x 1.00003 = 3000.09 -> 3000.1
    [fill] = fills(b.place(spec(size=D("10")), quote("3000"), T0))
    assert fill.price == D("3000.1")


def test_market_order_uses_the_mark_when_there_is_no_mid() -> None:
    b = book()
    q = Quote(mark=D("3010"), oracle=D("3000"), mid=None, funding_rate=D("0"))
    [fill] = fills(b.place(spec(), q, T0))
    assert fill.price == D("3010")


def test_market_order_with_a_cap_the_price_is_beyond_is_cancelled_unfilled() -> None:
    b = book(slippage=Slippage(fixed_bps=D("10")))
    events = b.place(spec(limit_price=D("2999")), quote("3000"), T0)
    assert events[1] == Cancelled(
        "o1", "iocCancelRejected", "Order could not immediately match against any resting orders."
    )
    assert b.positions == {}


# --- Limit orders: IOC, GTC, ALO -------------------------------------------------------------
def test_ioc_limit_fills_at_its_limit_or_better_when_marketable() -> None:
    b = book(slippage=Slippage(fixed_bps=D("10")))  # slipped 3003 would be through the limit
    [fill] = fills(b.place(spec(kind="limit", tif="ioc", limit_price=D("3001")), quote("3000"), T0))
    assert (fill.price, fill.liquidity) == (D("3001"), "taker")


def test_ioc_limit_that_is_not_marketable_is_cancelled() -> None:
    b = book()
    events = b.place(spec(kind="limit", tif="ioc", limit_price=D("2999")), quote("3000"), T0)
    assert isinstance(events[1], Cancelled) and events[1].status == "iocCancelRejected"
    assert b.orders == {}


def test_marketable_gtc_limit_takes_at_once() -> None:
    b = book(slippage=Slippage(fixed_bps=D("1")))
    [fill] = fills(b.place(spec(kind="limit", limit_price=D("3010")), quote("3000"), T0))
    assert (fill.price, fill.liquidity) == (D("3000.3"), "taker")


def test_post_only_order_that_would_cross_is_rejected() -> None:
    b = book()
    events = b.place(spec(kind="limit", tif="alo", limit_price=D("3000")), quote("3000"), T0)
    assert events == [
        Rejected("o1", "c-o1", "Post only order would have immediately matched, bbo was 3000@3000.")
    ]
    assert b.orders == {} and b.positions == {}


def test_post_only_order_rests_and_fills_as_maker() -> None:
    b = book()
    b.place(spec(side="sell", kind="limit", tif="alo", limit_price=D("3050")), quote("3000"), T0)
    [fill] = fills(b.on_frame(frame("3060")))
    assert (fill.price, fill.liquidity, fill.side) == (D("3050"), "maker", "sell")


# --- Reduce-only -----------------------------------------------------------------------------
def test_reduce_only_order_larger_than_the_position_is_cut_to_it() -> None:
    b = book()
    b.place(spec("open", size=D("1")), quote("3000"), T0)
    [fill] = fills(
        b.place(spec("close", side="sell", size=D("3"), reduce_only=True), quote("3000"), T0)
    )
    assert fill.size == D("1")
    assert b.positions == {}


def test_reduce_only_order_that_would_increase_the_position_is_rejected() -> None:
    b = book()
    b.place(spec("open"), quote("3000"), T0)
    events = b.place(spec("more", reduce_only=True), quote("3000"), T0)
    assert events == [Rejected("more", "c-more", "Reduce only order would increase position.")]
    assert b.position_size("ETH") == D("1")


def test_reduce_only_order_without_a_position_is_rejected() -> None:
    events = book().place(spec(side="sell", reduce_only=True), quote("3000"), T0)
    assert isinstance(events[0], Rejected)


def test_resting_reduce_only_order_is_cancelled_if_the_position_is_gone_when_it_would_fill() -> (
    None
):
    b = book()
    b.place(spec("open"), quote("3000"), T0)
    b.place(
        spec("tp", side="sell", kind="limit", limit_price=D("3100"), reduce_only=True),
        quote("3000"),
        T0,
    )
    b.place(spec("flat", side="sell"), quote("3000"), T0)
    events = b.on_frame(frame("3100"))
    assert events == [
        Cancelled("tp", "reduceOnlyCanceled", "Reduce only order would increase position.")
    ]
    assert b.positions == {}


# --- Triggers --------------------------------------------------------------------------------
def test_stop_market_triggers_on_the_mark_and_fills_as_taker_at_the_mid() -> None:
    b = book()
    b.place(spec("open"), quote("3000"), T0)
    stop = spec("sl", side="sell", kind="stop_market", trigger_price=D("2900"))
    assert b.place(stop, quote("3000"), T0) == [Accepted("sl", "c-sl")]
    assert b.on_frame(frame(mid="2890", mark="2901")) == []  # the mid alone never triggers
    events = b.on_frame(frame(mid="2895", mark="2899", minutes=2))
    assert isinstance(events[0], Triggered) and events[0].mark == D("2899")
    [fill] = fills(events)
    assert (fill.price, fill.liquidity, fill.side) == (D("2895"), "taker", "sell")
    assert b.positions == {}


def test_take_profit_sell_triggers_when_the_mark_rises_to_it() -> None:
    b = book()
    b.place(spec("open"), quote("3000"), T0)
    b.place(spec("tp", side="sell", kind="take_profit", trigger_price=D("3100")), quote("3000"), T0)
    assert b.on_frame(frame("3099")) == []
    [fill] = fills(b.on_frame(frame("3100", minutes=2)))
    assert fill.realized_pnl == D("100")


def test_stop_loss_already_beyond_its_trigger_fires_at_once() -> None:
    b = book()
    b.place(spec("open"), quote("3000"), T0)
    events = b.place(
        spec("sl", side="sell", kind="stop_loss", trigger_price=D("3050")), quote("3000"), T0
    )
    assert [type(e) for e in events] == [Accepted, Triggered, Filled]


def test_stop_limit_that_is_not_marketable_when_triggered_rests_and_fills_as_maker() -> None:
    b = book()
    stop = spec(kind="stop_limit", trigger_price=D("3100"), limit_price=D("3105"))
    b.place(stop, quote("3000"), T0)
    events = b.on_frame(frame(mid="3110", mark="3100"))
    assert [type(e) for e in events] == [Triggered]
    assert b.orders["o1"].kind == "limit"
    [fill] = fills(b.on_frame(frame("3104", minutes=2)))
    assert (fill.price, fill.liquidity) == (D("3105"), "maker")


# --- Cancel and modify -----------------------------------------------------------------------
def test_cancel_removes_a_resting_order() -> None:
    b = book()
    b.place(spec(kind="limit", limit_price=D("2900")), quote("3000"), T0)
    assert b.cancel("o1") == [Cancelled("o1", "canceled")]
    assert b.orders == {}
    assert b.on_frame(frame("2800")) == []


def test_cancel_of_an_unknown_order_is_rejected_with_hyperliquids_words() -> None:
    assert book().cancel("nope") == [
        Rejected("nope", None, "Order was never placed, already canceled, or filled.")
    ]


def test_modify_moves_a_resting_order_under_the_same_id() -> None:
    b = book()
    b.place(spec(kind="limit", limit_price=D("2900")), quote("3000"), T0)
    events = b.modify("o1", quote=quote("3000"), now=T0, limit_price=D("2950"), size=D("2"))
    assert isinstance(events[0], Modified)
    assert (b.orders["o1"].limit_price, b.orders["o1"].size) == (D("2950"), D("2"))
    [fill] = fills(b.on_frame(frame("2950")))
    assert (fill.order_id, fill.size, fill.price) == ("o1", D("2"), D("2950"))


def test_modify_that_would_make_a_post_only_order_cross_is_rejected_and_keeps_the_order() -> None:
    b = book()
    original = spec(kind="limit", tif="alo", limit_price=D("2900"))
    b.place(original, quote("3000"), T0)
    events = b.modify("o1", quote=quote("3000"), now=T0, limit_price=D("3001"))
    assert isinstance(events[0], Rejected) and "Post only" in events[0].reason
    assert b.orders["o1"] == original


def test_modify_of_an_unknown_order_is_rejected() -> None:
    events = book().modify("x", quote=quote("3000"), now=T0, limit_price=D("1"))
    assert isinstance(events[0], Rejected)


# --- Margin ----------------------------------------------------------------------------------
def test_order_needing_more_margin_than_is_free_is_rejected() -> None:
    b = book(balance="100")  # ETH at 25x: 1 ETH at 3000 needs 120
    events = b.place(spec(), quote("3000"), T0)
    assert events == [Rejected("o1", "c-o1", "Insufficient margin to place order.")]


def test_resting_orders_reserve_margin() -> None:
    b = book(balance="100")
    # 0.8 ETH x 2900 / 25 = 92.8 reserved, leaving 7.2: a further 0.1 ETH (11.6) is refused.
    assert isinstance(
        b.place(spec("a", kind="limit", size=D("0.8"), limit_price=D("2900")), quote("3000"), T0)[
            0
        ],
        Accepted,
    )
    assert isinstance(
        b.place(spec("b", kind="limit", size=D("0.1"), limit_price=D("2900")), quote("3000"), T0)[
            0
        ],
        Rejected,
    )
    b.cancel("a")
    assert isinstance(
        b.place(spec("b", kind="limit", size=D("0.1"), limit_price=D("2900")), quote("3000"), T0)[
            0
        ],
        Accepted,
    )


def test_closing_order_needs_no_margin() -> None:
    b = book(balance="130")
    b.place(spec("open"), quote("3000"), T0)  # uses 120 of ~128.65
    events = b.place(
        spec("close", side="sell", kind="limit", limit_price=D("3100")), quote("3000"), T0
    )
    assert events == [Accepted("close", "c-close")]


def test_lower_leverage_needs_more_margin() -> None:
    b = book(balance="1000")
    b.set_leverage("ETH", 2)  # 1 ETH at 3000 now needs 1500
    assert isinstance(b.place(spec(), quote("3000"), T0)[0], Rejected)
    with pytest.raises(ValueError):
        b.set_leverage("ETH", 26)


# --- Contract errors -------------------------------------------------------------------------
def test_placing_an_id_that_is_already_resting_is_a_programming_error() -> None:
    b = book()
    b.place(spec(kind="limit", limit_price=D("2900")), quote("3000"), T0)
    with pytest.raises(ValueError):
        b.place(spec(kind="limit", limit_price=D("2900")), quote("3000"), T0)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        book().place(spec(), quote("3000"), datetime(2025, 1, 1))  # noqa: DTZ001
