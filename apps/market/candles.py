"""Candle aggregation from frames: pure (no Django), so it is tested by hand-computed cases.

The feed folds every frame's mark price into the open bars of each interval, and flushes the
bars to PostgreSQL about once a second; the flush merges with what is stored (the stored open
stays, high and low widen, close follows), so a restart mid-candle keeps the earlier part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_start(at: datetime, interval: str) -> datetime:
    """The start of the candle holding `at`: buckets are aligned on the UTC epoch, so 4h bars
    start at 00, 04, 08 ... UTC and daily bars at UTC midnight, as Hyperliquid's do."""
    try:
        width = INTERVALS[interval]
    except KeyError:
        raise ValueError(f"unknown candle interval {interval!r}") from None
    if at.tzinfo is None:
        raise ValueError(f"{at!r} has no time zone")
    elapsed = at.astimezone(UTC) - EPOCH
    return EPOCH + (elapsed // width) * width


@dataclass
class Bar:
    coin: str
    interval: str
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal

    def add(self, price: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price


BarKey = tuple[str, str, datetime]


def fold(
    bars: dict[BarKey, Bar],
    at: datetime,
    prices: Mapping[str, Decimal],
    intervals: Iterable[str] = INTERVALS,
) -> None:
    """Fold one frame's prices (coin -> mark) at time `at` into `bars`, in place."""
    intervals = tuple(intervals)
    for coin, price in prices.items():
        for interval in intervals:
            start = bucket_start(at, interval)
            key = (coin, interval, start)
            bar = bars.get(key)
            if bar is None:
                bars[key] = Bar(coin, interval, start, price, price, price, price)
            else:
                bar.add(price)


def aggregate(
    points: Iterable[tuple[datetime, Mapping[str, Decimal]]],
    intervals: Iterable[str] = INTERVALS,
) -> list[Bar]:
    """Candles of a sequence of (time, prices) points, sorted by coin, interval and start."""
    bars: dict[BarKey, Bar] = {}
    intervals = tuple(intervals)
    for at, prices in points:
        fold(bars, at, prices, intervals)
    order = {name: i for i, name in enumerate(INTERVALS)}
    return sorted(bars.values(), key=lambda b: (b.coin, order[b.interval], b.start))


def merge(stored: Bar, later: Bar) -> Bar:
    """A stored bar and a later part of the same candle (what the flush's SQL does)."""
    return Bar(
        stored.coin,
        stored.interval,
        stored.start,
        stored.open,
        max(stored.high, later.high),
        min(stored.low, later.low),
        later.close,
    )
