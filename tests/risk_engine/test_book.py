"""The vectorised revaluation and floor screen (pure numpy), against hand-computed figures and
against exact Decimal arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.risk.engine.book import ABS_BAND, Book, Row, revalue_exact

D = Decimal
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _book(*rows: Row, marks: dict[str, str]) -> Book:
    book = Book(capacity=1, slots=1)  # tiny, so every test also grows it
    for row in rows:
        book.upsert(row)
    book.set_marks({coin: D(price) for coin, price in marks.items()})
    return book


def test_revaluation_matches_hand_computed_figures():
    long_btc = Row(1, D("100000"), {"BTC": (D("2"), D("60000"))})
    short_eth_long_sol = Row(
        2, D("50000"), {"ETH": (D("-10"), D("3000")), "SOL": (D("100"), D("150"))}
    )
    flat = Row(3, D("25000"), {})
    book = _book(long_btc, short_eth_long_sol, flat, marks={"BTC": "59000", "ETH": "3100"})
    value = book.revalue()
    # 2 × (59,000 − 60,000) = −2,000; −10 × (3,100 − 3,000) = −1,000 and SOL has no mark yet
    # (valued at entry: 0); the flat account has none.
    assert value.upnl.tolist() == [-2000.0, -1000.0, 0.0]
    assert value.equity.tolist() == [98000.0, 49000.0, 25000.0]
    # Gross: |size| × (mark + entry) per position, SOL at its entry both ways.
    assert value.gross.tolist() == [238000.0, 61000.0 + 30000.0, 0.0]


def test_screen_flags_an_account_at_or_below_a_floor_and_one_inside_the_band():
    rows = [
        Row(1, D("100000"), {"BTC": (D("1"), D("60000"))}, D("95000"), D("90000")),  # 95,000
        Row(2, D("100000"), {"BTC": (D("1"), D("60000"))}, D("94999.995"), D("90000")),
        Row(3, D("100000"), {"BTC": (D("1"), D("60000"))}, D("94000"), D("90000")),  # far
        Row(4, D("100000"), {"BTC": (D("1"), D("60000"))}, None, D("95000.5")),  # below max
        Row(5, D("100000"), {"BTC": (D("1"), D("60000"))}),  # no floor at all
    ]
    book = _book(*rows, marks={"BTC": "55000"})  # every equity is 95,000
    screen = book.screen(book.revalue(), NOW)
    assert screen.near_floor.tolist() == [True, True, False, True, False]
    assert book.accounts[screen.flagged].tolist() == [1, 2, 4]


def test_screen_flags_a_new_peak_a_reachable_target_and_a_moment_due():
    rows = [
        Row(1, D("100000"), {"BTC": (D("1"), D("60000"))}, peak_watch=D("100999")),
        Row(2, D("100000"), {"BTC": (D("1"), D("60000"))}, peak_watch=D("101001")),
        Row(3, D("100000"), {"BTC": (D("1"), D("60000"))}, target_watch=D("101000")),
        Row(4, D("100000"), {}, next_moment=NOW - timedelta(seconds=1)),
        Row(5, D("100000"), {}, next_moment=NOW + timedelta(seconds=1)),
    ]
    book = _book(*rows, marks={"BTC": "61000"})  # equity 101,000 with a position
    screen = book.screen(book.revalue(), NOW)
    assert screen.new_peak.tolist() == [True, False, False, False, False]
    assert screen.target.tolist() == [False, False, True, False, False]
    assert screen.moment_due.tolist() == [False, False, False, True, False]


def test_a_flat_account_at_its_peak_is_never_flagged_as_a_new_peak():
    # Flat equity is the balance exactly, and a peak is never below it: float rounding is
    # monotonic, so no flat account is evaluated on every frame for nothing.
    book = _book(Row(1, D("100000.1"), {}, peak_watch=D("100000.1")), marks={})
    assert not book.screen(book.revalue(), NOW).flagged.any()


def test_upsert_replaces_an_account_and_remove_keeps_the_others_in_place():
    book = _book(
        Row(1, D("1000"), {"BTC": (D("1"), D("100"))}),
        Row(2, D("2000"), {"ETH": (D("2"), D("10"))}),
        Row(3, D("3000"), {"SOL": (D("3"), D("1"))}),
        marks={"BTC": "110", "ETH": "11", "SOL": "2"},
    )
    book.upsert(Row(2, D("2500"), {"ETH": (D("-1"), D("12")), "BTC": (D("1"), D("90"))}))
    book.remove(1)
    assert sorted(book.accounts.tolist()) == [2, 3]
    value = book.revalue()
    by_account = dict(zip(book.accounts.tolist(), value.equity.tolist(), strict=True))
    # 2: 2,500 − 1 × (11 − 12) + 1 × (110 − 90) = 2,521; 3: 3,000 + 3 × (2 − 1) = 3,003
    assert by_account == {2: 2521.0, 3: 3003.0}
    book.remove(99)  # unknown: nothing happens
    assert len(book) == 2


# --- the screen never misses an exact breach ----------------------------------------------------

SIZES = st.decimals(min_value=D("-500"), max_value=D("500"), places=5).filter(lambda d: d != 0)
PRICES = st.decimals(min_value=D("0.0001"), max_value=D("150000"), places=4)
COINS = ("BTC", "ETH", "SOL", "DOGE", "kPEPE", "HYPE")


@st.composite
def accounts(draw):
    coins = draw(st.lists(st.sampled_from(COINS), max_size=5, unique=True))
    positions = {coin: (draw(SIZES), draw(PRICES)) for coin in coins}
    balance = draw(st.decimals(min_value=D("-1e6"), max_value=D("1e7"), places=6))
    return balance, positions


@st.composite
def books(draw):
    accts = draw(st.lists(accounts(), min_size=1, max_size=12))
    marks = {coin: draw(PRICES) for coin in COINS if draw(st.booleans())}
    floors = []
    for balance, positions in accts:
        _upnl, equity = revalue_exact(balance, positions, marks)
        # Floors right at, just around and far from the exact equity: where float error bites.
        nudge = draw(
            st.sampled_from(
                [D(0), D("1e-6"), D("-1e-6"), D("0.004"), D("-0.004"), D("0.01"), D("-0.01")]
            )
            | st.decimals(min_value=D("-1000"), max_value=D("1000"), places=6)
        )
        daily = equity + nudge if draw(st.booleans()) else None
        max_loss = equity + draw(st.decimals(min_value=D("-50"), max_value=D("50"), places=6))
        floors.append((daily, max_loss if draw(st.booleans()) else None))
    return accts, marks, floors


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_the_screen_never_misses_an_account_whose_exact_equity_is_at_or_below_a_floor(case):
    accts, marks, floors = case
    book = Book(capacity=2, slots=2)
    for i, ((balance, positions), (daily, max_loss)) in enumerate(zip(accts, floors, strict=True)):
        book.upsert(Row(i, balance, positions, daily, max_loss))
    book.set_marks(marks)
    value = book.revalue()
    screen = book.screen(value, NOW)
    for i, ((balance, positions), (daily, max_loss)) in enumerate(zip(accts, floors, strict=True)):
        _upnl, equity = revalue_exact(balance, positions, marks)
        row = book.row(i)
        # The float revaluation is close to the exact one (far inside the band) …
        assert abs(D(value.equity[row]) - equity) < D(ABS_BAND) / 100
        # … and an account at or below either floor is always flagged.
        breached = any(f is not None and equity <= f for f in (daily, max_loss))
        if breached:
            assert screen.near_floor[row], (equity, daily, max_loss)


@pytest.mark.parametrize("n", [1, 1000])
def test_revaluation_of_many_accounts_equals_the_exact_sum_to_the_cent(n):
    rng = np.random.default_rng(7)
    coins = [f"C{i}" for i in range(50)]
    prices = rng.uniform(1, 90000, 50)
    marks = {c: D(str(round(float(p), 4))) for c, p in zip(coins, prices, strict=True)}
    book = Book()
    exact = {}
    for account in range(n):
        positions = {
            coins[int(c)]: (
                D(str(round(float(rng.normal(0, 5)), 5))),
                D(str(round(float(rng.uniform(1, 90000)), 4))),
            )
            for c in rng.choice(50, size=3, replace=False)
        }
        balance = D(str(round(float(rng.uniform(1e4, 1e6)), 6)))
        book.upsert(Row(account, balance, positions))
        exact[account] = revalue_exact(balance, positions, marks)[1]
    book.set_marks(marks)
    equity = book.revalue().equity
    for account, value in exact.items():
        assert abs(D(equity[book.row(account)]) - value) < D("0.0001")
