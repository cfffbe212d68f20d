"""What trading needs of the market, as the matching engine's plain values."""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from apps.market.selectors import fee_schedule_default, instruments_active
from apps.trading.venues.paper.hlrules import Fees, Instrument, Quote

_CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, object]] = {}


def _cached(name: str, load):
    hit = _cache.get(name)
    if hit is not None and time.monotonic() - hit[0] < _CACHE_SECONDS:
        return hit[1]
    value = load()
    _cache[name] = (time.monotonic(), value)
    return value


def clear_cache() -> None:
    _cache.clear()


def _load_instruments() -> dict[str, Instrument]:
    rows = instruments_active()
    return {r.coin: Instrument(r.coin, r.sz_decimals, r.max_leverage) for r in rows}


def instruments() -> list[Instrument]:
    return list(_cached("instruments", _load_instruments).values())


def instrument(coin: str) -> Instrument | None:
    return _cached("instruments", _load_instruments).get(coin)


def fees() -> Fees:
    def load() -> Fees:
        row = fee_schedule_default()
        return Fees(maker=row.maker_rate, taker=row.taker_rate)

    return _cached("fees", load)


def quotes() -> Mapping[str, Quote]:
    """Every instrument's prices in the latest frame (read-only: made once per frame)."""
    from apps.market.selectors import frame_latest

    global _quoted
    frame = frame_latest()
    if frame is None:
        return MappingProxyType({})
    last = _quoted
    if last is not None and last[0] is frame:
        return last[1]
    made = MappingProxyType(
        {
            coin: Quote(mark=t.mark, oracle=t.oracle, mid=t.mid, funding_rate=t.funding)
            for coin, t in frame.prices.items()
        }
    )
    _quoted = (frame, made)
    return made


_quoted: tuple[object, Mapping[str, Quote]] | None = None


def quote(coin: str) -> Quote | None:
    return quotes().get(coin)


def mark(coin: str) -> Decimal | None:
    found = quote(coin)
    return found.mark if found else None
