"""A frame: one tick of every instrument at once, the contract between the feed and its readers.

The feed publishes one frame a few times a second; the paper venue, the risk engine and the
websocket pushes read them. Pure (no Django) so every consumer, bench and test can use it.

Wire format (JSON, one object; the Redis stream entry holds it in its `frame` field):

    {"v": 1, "seq": 42, "t": "2026-03-02T08:00:00.250000+00:00", "source": "synthetic",
     "prices": {"BTC": {"mark": "80868", "oracle": "80871", "mid": "80868.5",
                        "funding": "0.0000125"}, ...}}

Every number is a decimal string, so no reader ever sees a float. `funding` is Hyperliquid's
hourly rate (0.0000125 = 0.00125 % per hour), paid on oracle notional at each full hour.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

FORMAT_VERSION = 1
PRICE_FIELDS = ("mark", "oracle", "mid", "funding")


class FrameError(ValueError):
    """A frame that cannot be read: the message says which part is wrong."""


@dataclass(frozen=True)
class Tick:
    """One instrument's prices in a frame."""

    mark: Decimal
    oracle: Decimal
    mid: Decimal
    funding: Decimal

    def to_dict(self) -> dict[str, str]:
        # f"{d:f}" keeps the exact digits and never switches to exponent notation.
        return {name: f"{getattr(self, name):f}" for name in PRICE_FIELDS}

    @classmethod
    def from_dict(cls, coin: str, raw: object) -> Tick:
        if not isinstance(raw, Mapping):
            raise FrameError(f"prices[{coin!r}] is not an object")
        values = {}
        for name in PRICE_FIELDS:
            if name not in raw:
                raise FrameError(f"prices[{coin!r}].{name} is missing")
            values[name] = _decimal(raw[name], f"prices[{coin!r}].{name}")
        return cls(**values)


@dataclass(frozen=True)
class Frame:
    seq: int
    t: datetime
    prices: Mapping[str, Tick] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        if self.t.tzinfo is None or self.t.utcoffset() is None:
            raise FrameError(f"frame {self.seq} has a naive time {self.t!r}")

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": FORMAT_VERSION,
                "seq": self.seq,
                "t": self.t.isoformat(),
                "source": self.source,
                "prices": {coin: self.prices[coin].to_dict() for coin in sorted(self.prices)},
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Frame:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FrameError(f"a frame is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise FrameError("a frame is not a JSON object")
        if data.get("v") != FORMAT_VERSION:
            raise FrameError(f"frame format version {data.get('v')!r} is not {FORMAT_VERSION}")
        seq = data.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise FrameError(f"seq {seq!r} is not a positive whole number")
        try:
            t = datetime.fromisoformat(data["t"])
        except (KeyError, TypeError, ValueError):
            raise FrameError(f"t {data.get('t')!r} is not an ISO 8601 time") from None
        if t.utcoffset() != timedelta(0):
            raise FrameError(f"t {data['t']!r} is not UTC")
        prices = data.get("prices")
        if not isinstance(prices, dict):
            raise FrameError("prices is missing or not an object")
        ticks = {coin: Tick.from_dict(coin, value) for coin, value in prices.items()}
        return cls(seq=seq, t=t, prices=ticks, source=str(data.get("source", "")))


def _decimal(raw: object, where: str) -> Decimal:
    # Floats are refused: a float in a frame means a writer lost precision somewhere.
    if not isinstance(raw, str):
        raise FrameError(f"{where} is {raw!r}, not a decimal string")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise FrameError(f"{where} is {raw!r}, not a decimal") from None
    if not value.is_finite():
        raise FrameError(f"{where} is {raw!r}, not a finite decimal")
    return value
