"""Realised and unrealised P&L, funding and liquidation, against hand-worked figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.trading.venues.paper.matching import (
    Book,
    Cancelled,
    Filled,
    Frame,
    FundingPaid,
    Instrument,
    Liquidated,
    OrderSpec,
    Position,
    Quote,
    Slippage,
)

D = Decimal
T0 = datetime(2025, 3, 3, 10, 30, tzinfo=UTC)
ETH = Instrument("ETH", sz_decimals=4, max_leverage=25)
BTC = Instrument("BTC", sz_decimals=5, max_leverage=40)


def quote(price: str, rate: str = "0", oracle: str | None = None) -> Quote:
    return Quote(mark=D(price), oracle=D(oracle or price), mid=D(price), funding_rate=D(rate))


def book(balance: str = "100000") -> Book:
    return Book.open([ETH, BTC], D(balance), slippage=Slippage(fixed_bps=D("0")))


def market(order_id: str, side: str, size: str, coin: str = "ETH") -> OrderSpec:
    return OrderSpec(order_id, None, coin, side, D(size), "market")  # type: ignore[arg-type]


def at(hours: int, minutes: int = 0, seconds: int = 0) -> datetime:
    return datetime(2025, 3, 3, hours, minutes, seconds, tzinfo=UTC)


# --- Realised and unrealised P&L -------------------------------------------------------------
def test_entry_is_size_weighted_and_unrealised_pnl_is_on_the_mark() -> None:
    b = book()
    b.place(market("a", "buy", "1"), quote("3000"), T0)
    b.place(market("b", "buy", "1"), quote("3100"), T0)
    assert b.positions["ETH"] == Position("ETH", D("2"), D("3050"))
    b.on_frame(Frame(T0 + timedelta(seconds=1), {"ETH": quote("3200")}))
    assert b.unrealized_pnl() == D("300")  # 2 x (3200 - 3050)


def test_partial_close_realises_on_the_closed_part_and_keeps_the_entry() -> None:
    b = book()
    b.place(market("a", "buy", "2"), quote("3000"), T0)
    [fill] = [
        e for e in b.place(market("b", "sell", "0.5"), quote("3200"), T0) if isinstance(e, Filled)
    ]
    assert fill.realized_pnl == D("100")  # 0.5 x (3200 - 3000)
    assert b.positions["ETH"] == Position("ETH", D("1.5"), D("3000"))


def test_fill_larger_than_the_position_closes_it_and_opens_the_rest_at_the_fill_price() -> None:
    b = book()
    b.place(market("a", "buy", "1"), quote("3000"), T0)
    b.place(market("b", "buy", "1"), quote("3100"), T0)
    events = b.place(market("c", "sell", "3"), quote("3300"), T0)
    [fill] = [e for e in events if isinstance(e, Filled)]
    assert fill.realized_pnl == D("500")  # 2 x (3300 - 3050); the third ETH opens a short
    assert b.positions["ETH"] == Position("ETH", D("-1"), D("3300"))
    b.on_frame(Frame(T0 + timedelta(seconds=1), {"ETH": quote("3250")}))
    assert b.unrealized_pnl() == D("50")  # short 1 from 3300, mark 3250


def test_short_realises_profit_when_bought_back_lower() -> None:
    b = book()
    b.place(market("a", "sell", "2"), quote("3000"), T0)
    [fill] = [
        e for e in b.place(market("b", "buy", "2"), quote("2900"), T0) if isinstance(e, Filled)
    ]
    assert fill.realized_pnl == D("200")
    assert b.positions == {}


def test_balance_is_start_plus_realised_minus_fees() -> None:
    b = book("10000")
    b.place(market("a", "buy", "1"), quote("3000"), T0)  # fee 1.35
    b.place(market("b", "sell", "1"), quote("3100"), T0)  # fee 1.395, realised +100
    assert b.balance == D("10000") + D("100") - D("1.35") - D("1.395")


# --- Funding ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("side", "rate", "expected"),
    [
        ("buy", "0.0001", "-0.6"),  # long pays a positive rate: 2 x 3000 x 0.0001
        ("sell", "0.0001", "0.6"),  # short receives it
        ("buy", "-0.0001", "0.6"),  # long receives a negative rate
        ("sell", "-0.0001", "-0.6"),  # short pays it
    ],
)
def test_funding_is_paid_hourly_on_oracle_notional(side: str, rate: str, expected: str) -> None:
    b = book()
    b.place(market("a", side, "2"), quote("3010"), T0)
    before = b.balance
    # The mark is 3010, the oracle 3000: funding is on the oracle.
    events = b.on_frame(Frame(at(11, 0, 1), {"ETH": quote("3010", rate, oracle="3000")}))
    [paid] = [e for e in events if isinstance(e, FundingPaid)]
    assert paid == FundingPaid(
        "ETH", D(expected), D(rate), D("3000"), D("2") if side == "buy" else D("-2"), at(11)
    )
    assert b.balance - before == D(expected)


def test_funding_is_paid_once_per_hour_however_many_frames_arrive() -> None:
    b = book()
    b.place(market("a", "buy", "1"), quote("3000"), T0)
    paid = []
    for t in (at(10, 59, 59), at(11, 0, 0), at(11, 0, 0), at(11, 30), at(11, 59, 59)):
        events = b.on_frame(Frame(t, {"ETH": quote("3000", "0.0001")}))
        paid += [e for e in events if isinstance(e, FundingPaid)]
    assert [p.hour for p in paid] == [at(11)]
    assert paid[0].amount == D("-0.3")


def test_a_gap_in_frames_pays_every_hour_it_crossed() -> None:
    b = book()
    b.place(market("a", "buy", "1"), quote("3000"), T0)
    events = b.on_frame(Frame(at(13, 5), {"ETH": quote("3000", "0.0001")}))
    assert [e.hour for e in events if isinstance(e, FundingPaid)] == [at(11), at(12), at(13)]


def test_no_position_pays_no_funding() -> None:
    b = book()
    b.place(OrderSpec("r", None, "ETH", "buy", D("1"), "limit", D("2000")), quote("3000"), T0)
    assert b.on_frame(Frame(at(11, 0, 1), {"ETH": quote("3000", "0.0001")})) == []


# --- Liquidation -----------------------------------------------------------------------------
def test_account_is_liquidated_at_the_mark_when_equity_falls_below_maintenance_margin() -> None:
    b = book("1000")
    # 0.5 BTC at 50,000: notional 25,000, taker fee 11.25 -> balance 988.75.
    # Maintenance at mark m: 0.5 m / (2 x 40) = m / 160. Equity: 988.75 + 0.5 (m - 50,000).
    b.place(market("a", "buy", "0.5", coin="BTC"), quote("50000"), T0)
    b.place(
        OrderSpec("r", None, "BTC", "buy", D("0.0003"), "limit", D("40000")), quote("50000"), T0
    )
    assert b.balance == D("988.75")

    # m = 48,631: equity 304.25 >= maintenance 303.94375 -> safe.
    assert b.on_frame(Frame(T0 + timedelta(seconds=1), {"BTC": quote("48631")})) == []
    assert b.equity() == D("304.25")
    assert b.maintenance_margin() == D("303.94375")

    # m = 48,630: equity 303.75 < maintenance 303.9375 -> liquidated.
    events = b.on_frame(Frame(T0 + timedelta(seconds=2), {"BTC": quote("48630")}))
    assert events[0] == Liquidated(D("303.75"), D("303.9375"), T0 + timedelta(seconds=2))
    assert events[1] == Cancelled("r", "liquidatedCanceled", "Liquidated.")
    close = events[2]
    assert isinstance(close, Filled) and close.order_id is None
    # Closed at the mark: realised 0.5 x (48,630 - 50,000) = -685; fee 24,315 x 0.045 % = 10.94175
    assert (close.side, close.size, close.price) == ("sell", D("0.5"), D("48630"))
    assert (close.realized_pnl, close.fee) == (D("-685"), D("10.94175"))
    assert b.positions == {} and b.orders == {}
    assert b.balance == D("292.80825")
