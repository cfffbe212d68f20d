"""The feed loop: every `interval` seconds, one frame from the source to Redis and candles.

Keeping its place through drops: a frame is built once (source advanced, time stamped, number
given) and kept until Redis has it. When Redis drops, the loop logs it, waits (doubling from
0.1 s up to 5 s) and offers the same frame again, after asking Redis whether the lost attempt
landed after all; so sequence numbers stay contiguous, none is repeated, and the source's
position (replay) or state (synthetic) never skips a step. Candles are folded in memory and
written about once a second; a database error keeps them for the next try.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime

import redis
from django.db import DatabaseError, close_old_connections

from apps.core import clock
from apps.market import candles as candle_math
from apps.market.feed import Source
from apps.market.feed.publisher import FramePublisher
from apps.market.frames import Frame

log = logging.getLogger("apps.market.feed")


class CandleWriter:
    """Folds each frame's marks into open bars and flushes them to PostgreSQL."""

    def __init__(self, instrument_ids: Mapping[str, int], every: float = 1.0) -> None:
        self.instrument_ids = dict(instrument_ids)
        self.every = every
        self.bars: dict[candle_math.BarKey, candle_math.Bar] = {}
        self.written = 0
        self._last_flush = time.monotonic()

    def fold(self, frame: Frame) -> None:
        marks = {c: t.mark for c, t in frame.prices.items() if c in self.instrument_ids}
        candle_math.fold(self.bars, frame.t, marks)

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= self.every:
            self.flush()

    def flush(self) -> None:
        from apps.market.services import candles_upsert

        self._last_flush = time.monotonic()
        if not self.bars:
            return
        try:
            self.written += candles_upsert(
                bars=list(self.bars.values()), instrument_ids=self.instrument_ids
            )
        except DatabaseError as exc:
            # Keep the bars: the next flush merges them (the SQL widens high/low, keeps open).
            log.warning(
                "candles not written (%s); keeping %d bars for the next try", exc, len(self.bars)
            )
            close_old_connections()
            return
        self.bars.clear()


class FeedLoop:
    def __init__(
        self,
        source: Source,
        publisher: FramePublisher,
        *,
        interval: float = 0.25,
        max_frames: int | None = None,
        candle_writer: CandleWriter | None = None,
        backoff_initial: float = 0.1,
        backoff_cap: float = 5.0,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        self.source, self.publisher = source, publisher
        self.interval, self.max_frames = interval, max_frames
        self.candle_writer = candle_writer
        self.backoff_initial, self.backoff_cap = backoff_initial, backoff_cap
        self.now = now
        self.published = 0
        self.redis_drops = 0
        self.last_frame: Frame | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def _done(self) -> bool:
        return self._stop.is_set() or (
            self.max_frames is not None and self.published >= self.max_frames
        )

    def run(self) -> int:
        """Publish until stopped or `max_frames` are out; returns how many were published."""
        self.source.start()
        try:
            self._run()
        finally:
            if self.candle_writer is not None:
                self.candle_writer.flush()
            self.source.close()
        return self.published

    def _run(self) -> None:
        next_seq: int | None = None
        pending: Frame | None = None
        retrying = False
        delay = self.backoff_initial
        waiting_logged = False
        deadline = time.monotonic()
        while not self._done():
            try:
                if next_seq is None:
                    next_seq = self.publisher.last_seq() + 1
                if pending is None:
                    at = self.now()  # before the source moves, so a failure here costs no step
                    prices = self.source.next_prices()
                    if prices is None:
                        if not waiting_logged:
                            log.info("waiting for prices from the %s source", self.source.name)
                            waiting_logged = True
                        deadline = self._sleep_until(deadline + self.interval)
                        continue
                    waiting_logged = False
                    pending = Frame(seq=next_seq, t=at, prices=prices, source=self.source.name)
                if not (retrying and self.publisher.landed(pending)):
                    self.publisher.publish(pending)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self.redis_drops += 1
                held = f"frame {pending.seq} kept" if pending else "no frame built"
                log.warning(
                    "redis dropped (%s: %s); %s, retrying in %.1f s",
                    type(exc).__name__,
                    exc,
                    held,
                    delay,
                )
                retrying = True
                self._stop.wait(delay)
                delay = min(self.backoff_cap, delay * 2)
                deadline = time.monotonic()
                continue
            if retrying:
                log.info("redis is back; frame %d published", pending.seq)
            retrying, delay = False, self.backoff_initial
            self.published += 1
            self.last_frame = pending
            next_seq = pending.seq + 1
            if self.candle_writer is not None:
                self.candle_writer.fold(pending)
                self.candle_writer.maybe_flush()
            pending = None
            if not self._done():
                deadline = self._sleep_until(deadline + self.interval)

    def _sleep_until(self, deadline: float) -> float:
        """Sleep to the next tick; after a stall, restart the schedule instead of bursting."""
        now = time.monotonic()
        if deadline < now - self.interval:
            return now
        if deadline > now:
            self._stop.wait(deadline - now)
        return deadline
