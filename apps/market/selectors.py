"""Reads of the market app: instruments, the fee schedule, frames from Redis, candles."""

from __future__ import annotations

from datetime import datetime

import redis

from apps.core.redis import get_redis
from apps.market.frames import Frame
from apps.market.models import (
    BASE_MAKER_RATE,
    BASE_TAKER_RATE,
    Candle,
    CandleInterval,
    FeeSchedule,
    Instrument,
)

# The Redis keys of the frame contract (DESIGN.md, "A frame").
FRAMES_STREAM = "market:frames"
LATEST_KEY = "market:frame:latest"
# ~10,000 frames is about 40 minutes at 4 a second: enough for a consumer to catch up after a
# restart; anything older is rebuilt from PostgreSQL by whoever needs it.
FRAMES_MAXLEN = 10_000


def instruments_active():
    """Instruments offered to traders, in Hyperliquid's universe order."""
    return Instrument.objects.filter(active=True, is_delisted=False).order_by("asset_index", "coin")


def instrument_get(coin: str) -> Instrument | None:
    return Instrument.objects.filter(coin=coin).first()


def fee_schedule_default() -> FeeSchedule:
    """The default fee schedule; an unsaved one at Hyperliquid's base tier where none exists
    (the first migration creates one, so that only happens in hand-made test databases)."""
    schedule = FeeSchedule.objects.filter(is_default=True).first()
    if schedule is None:
        return FeeSchedule(
            name="Hyperliquid base tier",
            taker_rate=BASE_TAKER_RATE,
            maker_rate=BASE_MAKER_RATE,
            is_default=True,
        )
    return schedule


def frame_latest(client: redis.Redis | None = None) -> Frame | None:
    """The last published frame, or None before the feed's first one.

    Read on every order; parsed once per frame: the same bytes as last time give the frame
    parsed then (about 0.1 ms a frame of 30 instruments, 0.6 ms of 200, saved per order
    between two frames). Frames are never changed once made."""
    global _parsed
    raw = (client or get_redis()).get(LATEST_KEY)
    if not raw:
        return None
    last = _parsed
    if last is not None and last[0] == raw:
        return last[1]
    frame = Frame.from_json(raw)
    _parsed = (raw, frame)
    return frame


_parsed: tuple[bytes | str, Frame] | None = None


def frames_read(
    after_id: str = "$",
    block_ms: int | None = None,
    count: int = 100,
    client: redis.Redis | None = None,
) -> list[tuple[str, Frame]]:
    """Frames published after the stream entry `after_id`, oldest first, as (entry id, frame).

    `after_id`: "$" for only frames published from now on, "0" for everything still in the
    stream, or the id of the last entry read to continue from it. `block_ms`: wait up to that
    long for a frame when none is there yet (None: answer at once). A consumer keeps the last
    id it read and passes it back; frames' `seq` numbers are contiguous, so a gap in them
    means the stream was trimmed past the consumer.
    """
    client = client or get_redis()
    if block_ms is not None:
        timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        if block_ms <= 0 or (timeout and block_ms / 1000 >= timeout):
            # XREAD BLOCK 0 waits forever, and a wait past the socket timeout ends in a
            # TimeoutError instead of an empty answer.
            raise ValueError(
                f"block_ms must be between 1 and the client's socket timeout ({timeout} s)"
            )
    answer = client.xread({FRAMES_STREAM: after_id}, count=count, block=block_ms)
    frames = []
    for _stream, entries in answer or []:
        for entry_id, fields in entries:
            ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            frames.append((ident, Frame.from_json(fields.get(b"frame") or fields["frame"])))
    return frames


def candles(
    coin: str, interval: str, since: datetime | None = None, limit: int = 500
) -> list[Candle]:
    """Candles of one coin, oldest first: the first `limit` starting at or after `since`, or
    the latest `limit` when `since` is None."""
    if interval not in CandleInterval.values:
        choices = ", ".join(CandleInterval.values)
        raise ValueError(f"unknown interval {interval!r}; one of {choices}")
    limit = max(1, min(limit, 5000))
    rows = Candle.objects.filter(instrument__coin=coin, interval=interval)
    if since is not None:
        return list(rows.filter(start__gte=since).order_by("start")[:limit])
    return list(reversed(rows.order_by("-start")[:limit]))
