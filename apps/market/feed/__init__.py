"""The price feed: sources that produce each tick's prices, and the loop that publishes them.

A source answers `next_prices()` with {coin: Tick} (or None when it has nothing to say, e.g.
the venue's websocket is down); the loop stamps the time and sequence number, publishes the
frame on Redis, and folds the marks into candles. Sources keep their own state, so the loop
can retry a frame after Redis drops without the source losing its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from apps.market.frames import Tick


class Source(Protocol):
    name: str

    def start(self) -> None: ...

    def next_prices(self) -> Mapping[str, Tick] | None: ...

    def close(self) -> None: ...
