"""A market for trading tests: instruments through the market app's loader, prices as the
feed would publish them (the latest frame in Redis)."""

from __future__ import annotations

from decimal import Decimal

from apps.core import clock
from apps.core.redis import get_redis
from apps.market.frames import Frame, Tick
from apps.market.selectors import LATEST_KEY
from apps.market.services import instruments_load
from apps.trading import market_view

UNIVERSE = {
    "universe": [
        {"name": "BTC", "szDecimals": 5, "maxLeverage": 40},
        {"name": "ETH", "szDecimals": 4, "maxLeverage": 25},
        {"name": "SOL", "szDecimals": 2, "maxLeverage": 20},
    ]
}
_seq = [0]


def load_instruments() -> None:
    instruments_load(payload=UNIVERSE, source="test")
    market_view.clear_cache()


def set_prices(funding: str = "0", at=None, **marks: str) -> Frame:
    """Publish a frame with these marks (mid = oracle = mark) as the latest."""
    _seq[0] += 1
    frame = Frame(
        seq=_seq[0],
        t=at or clock.now(),
        prices={
            coin: Tick(Decimal(p), Decimal(p), Decimal(p), Decimal(funding))
            for coin, p in marks.items()
        },
        source="test",
    )
    get_redis().set(LATEST_KEY, frame.to_json())
    return frame
