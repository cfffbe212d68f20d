"""The pure arithmetic, by the thousand: the split adds up, the high-water mark makes a
sequence of payouts pay each profit once, and the consistency rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.payouts import calc

cents = st.integers(min_value=-5_000_000, max_value=5_000_000).map(lambda c: Decimal(c) / 100)
splits = st.integers(min_value=5000, max_value=9000).map(lambda b: Decimal(b) / 100)


@settings(max_examples=400, deadline=None)
@given(gross=cents.filter(lambda c: c >= 0), split_pct=splits, refund=cents.map(abs))
def test_the_trader_and_firm_shares_add_up_to_the_gross_to_the_cent(gross, split_pct, refund):
    figures = calc.split(gross, split_pct, refund)
    assert figures.trader_share + figures.firm_share == gross
    assert figures.amount == figures.trader_share + refund
    assert figures.trader_share == figures.trader_share.quantize(Decimal("0.01"))
    assert abs(figures.trader_share - gross * split_pct / 100) <= Decimal("0.005")


@settings(max_examples=200, deadline=None)
@given(moves=st.lists(cents, min_size=1, max_size=30))
def test_payouts_pay_exactly_the_profit_above_the_highest_level_already_paid(moves):
    # Trading moves the balance; after each move the whole distributable profit is paid out
    # (as an approval does) and the mark rises by it. What was paid in all is the highest
    # level (balance + paid) ever reached above the start: a loss is never paid for twice,
    # and never clawed back either: it is recovered before the next payout.
    start = Decimal("100000")
    balance, mark, paid, peak = start, start, Decimal("0"), start
    for move in moves:
        balance += move
        peak = max(peak, balance + paid)
        gross = calc.distributable(balance=balance, high_water_mark=mark, paid_out=paid)
        if gross > 0:
            balance -= gross
            mark += gross
            paid += gross
        assert paid == peak - start
        assert mark - paid == start  # the balance level above which profit is paid


def test_the_consistency_rule_compares_the_best_day_with_the_profit():
    assert (
        calc.consistency_problem([Decimal("40"), Decimal("60")], Decimal("60"), "net_profit") == ""
    )
    problem = calc.consistency_problem([Decimal("70"), Decimal("30")], Decimal("60"), "net_profit")
    assert "best day (70.00) is 70.00%" in problem
    pnls = [Decimal("50"), Decimal("-50"), Decimal("50")]
    assert "no profit" in calc.consistency_problem(pnls[:2], Decimal("60"), "net_profit")
    assert calc.consistency_problem(pnls, Decimal("50"), "positive_days") == ""


def test_trading_days_follow_the_rule_sets_reset():
    at = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # 23:30 in Prague
    assert calc.trading_day_of(at, "Europe/Prague", "00:00").day == 2
    assert calc.trading_day_of(at + timedelta(hours=1), "Europe/Prague", "00:00").day == 3
    assert calc.trading_day_of(at, "UTC", "22:00").day == 2
    entries = [(at, Decimal("10")), (at + timedelta(hours=2), Decimal("5"))]
    assert calc.day_pnls(entries, "UTC", "00:00") == [Decimal("10"), Decimal("5")]
