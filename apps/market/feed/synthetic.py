"""A seeded synthetic market that moves like a crypto perpetual market, for demos and tests.

Per instrument, per tick of `interval` seconds:
- the mark follows a driftless geometric random walk at the coin's annualised volatility
  (BTC 60 %, ETH 70 %, others 80 %), scaled to the tick: sigma * sqrt(interval / year);
- now and then (on average `jumps_per_hour` times an hour per coin) it jumps 1-3 % up or down,
  the way liquidation cascades and news move crypto;
- the oracle and the mid sit a few basis points off the mark, each basis mean-reverting
  (an Ornstein-Uhlenbeck process with a half-life of 30 s), so mark, oracle and mid differ as
  they do on the venue and funding, which is paid on the oracle, is not paid on the mark;
- the hourly funding rate wanders around Hyperliquid's baseline 0.00125 %/h, mean-reverting
  over half an hour, capped at the venue's 4 %/h.

Deterministic: one `random.Random(seed)` drives every draw in a fixed order (coins sorted), and
time advances by `interval` per step, not by the wall clock, so the same seed, instruments and
interval give the same path on every run and machine. Floats stay inside the simulation; what
leaves it is Decimal on the coin's price grid. Pure (no Django).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from apps.market.feed import grid
from apps.market.frames import Tick

YEAR_SECONDS = 365 * 24 * 3600
DEFAULT_VOLATILITY = 0.80
VOLATILITY = {"BTC": 0.60, "ETH": 0.70, "SOL": 0.80}
# Hyperliquid's funding at zero premium is its interest component, 0.01 % per 8 h.
FUNDING_BASELINE = 0.0000125
FUNDING_NOISE = 0.000008
FUNDING_HALF_LIFE_S = 1800.0
FUNDING_CAP = 0.04
BASIS_BPS = 3.0
BASIS_HALF_LIFE_S = 30.0
JUMP_RANGE = (0.01, 0.03)


@dataclass(frozen=True)
class SyntheticInstrument:
    coin: str
    start_price: Decimal
    sz_decimals: int
    volatility: float | None = None  # annualised; None for the coin's default


@dataclass
class _State:
    spec: SyntheticInstrument
    sigma: float
    log_move: float = 0.0  # log(mark / start)
    basis_oracle: float = 0.0
    basis_mid: float = 0.0
    funding: float = FUNDING_BASELINE


class SyntheticSource:
    name = "synthetic"

    def __init__(
        self,
        instruments: Sequence[SyntheticInstrument],
        *,
        seed: int,
        interval: float,
        jumps_per_hour: float = 0.5,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        if not instruments:
            raise ValueError("the synthetic market needs at least one instrument")
        self.seed, self.interval, self.steps = seed, interval, 0
        self._rng = random.Random(seed)
        self._jump_chance = jumps_per_hour * interval / 3600
        self._basis_keep = math.exp(-interval * math.log(2) / BASIS_HALF_LIFE_S)
        self._funding_keep = math.exp(-interval * math.log(2) / FUNDING_HALF_LIFE_S)
        step_fraction = math.sqrt(interval / YEAR_SECONDS)
        self._states = [
            _State(
                spec,
                (spec.volatility or VOLATILITY.get(spec.coin, DEFAULT_VOLATILITY)) * step_fraction,
            )
            for spec in sorted(instruments, key=lambda s: s.coin)
        ]

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def next_prices(self) -> dict[str, Tick]:
        self.steps += 1
        return {state.spec.coin: self._step(state) for state in self._states}

    def _step(self, s: _State) -> Tick:
        rng = self._rng
        # -sigma^2/2 keeps the expected price flat (no drift up from the log-normal's skew).
        s.log_move += -0.5 * s.sigma * s.sigma + s.sigma * rng.gauss(0.0, 1.0)
        if rng.random() < self._jump_chance:
            size = rng.uniform(*JUMP_RANGE) * (1 if rng.random() < 0.5 else -1)
            s.log_move += math.log1p(size)
        s.basis_oracle = _ou(rng, s.basis_oracle, 0.0, BASIS_BPS / 10_000, self._basis_keep)
        s.basis_mid = _ou(rng, s.basis_mid, 0.0, BASIS_BPS / 10_000, self._basis_keep)
        s.funding = _ou(rng, s.funding, FUNDING_BASELINE, FUNDING_NOISE, self._funding_keep)
        s.funding = max(-FUNDING_CAP, min(FUNDING_CAP, s.funding))
        mark = float(s.spec.start_price) * math.exp(s.log_move)
        sz = s.spec.sz_decimals
        return Tick(
            mark=grid.on_grid(_dec(mark), sz),
            oracle=grid.on_grid(_dec(mark * (1 + s.basis_oracle)), sz),
            mid=grid.on_grid(_dec(mark * (1 + s.basis_mid)), sz, extra=1),
            funding=grid.funding(_dec(s.funding)),
        )


def _ou(rng: random.Random, value: float, mean: float, stdev: float, keep: float) -> float:
    """One step of a mean-reverting process whose stationary spread is `stdev`."""
    return mean + (value - mean) * keep + stdev * math.sqrt(1 - keep * keep) * rng.gauss(0.0, 1.0)


def _dec(value: float) -> Decimal:
    # repr() is the shortest string that reads back as the same float: exact and stable.
    return Decimal(repr(value))
