from __future__ import annotations

import math
import statistics
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.market.feed.grid import price_decimals
from apps.market.feed.synthetic import SyntheticInstrument, SyntheticSource

COINS = [
    SyntheticInstrument("BTC", Decimal("80868.5"), 5),
    SyntheticInstrument("ETH", Decimal("2296.45"), 4),
    SyntheticInstrument("SOL", Decimal("94.8775"), 2),
    SyntheticInstrument("kPEPE", Decimal("0.001565"), 0),
]


def path(seed: int, steps: int, interval: float = 0.25, coins=COINS, **kwargs) -> list[dict]:
    source = SyntheticSource(coins, seed=seed, interval=interval, **kwargs)
    return [source.next_prices() for _ in range(steps)]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_the_same_seed_gives_the_same_price_path(seed):
    assert path(seed, 50) == path(seed, 50)


def test_another_seed_gives_another_path():
    assert path(1, 20) != path(2, 20)


def test_the_path_does_not_depend_on_the_order_instruments_are_given_in():
    assert path(5, 30) == path(5, 30, coins=list(reversed(COINS)))


def test_prices_sit_on_hyperliquids_grid_and_mids_between_ticks():
    for prices in path(3, 200):
        for spec in COINS:
            tick = prices[spec.coin]
            for price in (tick.mark, tick.oracle):
                assert -price.as_tuple().exponent <= price_decimals(price, spec.sz_decimals)
            assert -tick.mid.as_tuple().exponent <= price_decimals(tick.mid, spec.sz_decimals) + 1


def test_volatility_is_about_the_coins_annual_figure_scaled_to_the_tick():
    # 20,000 ticks of 60 s with jumps off: the stdev of log returns should be
    # 0.60 * sqrt(60 / year) for BTC (about 0.00083), within sampling error.
    interval = 60.0
    btc = [SyntheticInstrument("BTC", Decimal("80000"), 0)]
    marks = [float(p["BTC"].mark) for p in path(11, 20_000, interval, btc, jumps_per_hour=0)]
    returns = [math.log(b / a) for a, b in zip(marks, marks[1:], strict=False)]
    expected = 0.60 * math.sqrt(interval / (365 * 24 * 3600))
    assert abs(statistics.stdev(returns) / expected - 1) < 0.05


def test_jumps_of_one_to_three_percent_happen():
    # With 60 jumps an hour on average and 0.25 s ticks, an hour of ticks shows some.
    btc = [SyntheticInstrument("BTC", Decimal("80000"), 0)]
    marks = [float(p["BTC"].mark) for p in path(4, 14_400, 0.25, btc, jumps_per_hour=60)]
    moves = [abs(math.log(b / a)) for a, b in zip(marks, marks[1:], strict=False)]
    jumps = [m for m in moves if m > 0.009]
    assert 20 < len(jumps) < 120
    assert all(m < math.log(1.031) + 0.001 for m in jumps)


def test_mark_oracle_and_mid_stay_a_few_basis_points_apart_and_funding_near_baseline():
    prices = path(8, 4000)
    bases = [abs(p["ETH"].oracle / p["ETH"].mark - 1) for p in prices]
    assert max(bases) < Decimal("0.0015")  # 15 bps: five standard deviations
    assert sum(bases) / len(bases) > Decimal("0.00005")  # they do differ
    funding = [p["ETH"].funding for p in prices]
    assert all(Decimal("-0.0001") < f < Decimal("0.0001") for f in funding)
    assert abs(sum(funding) / len(funding) - Decimal("0.0000125")) < Decimal("0.00001")
