"""Live pushes of the risk engine to Channels groups (DESIGN.md, "Live pushes").

- `account.<trading account id>` receives `{"type": "account.snapshot", …}` (the snapshot is
  the channel message itself, so a consumer's `account_snapshot(message)` forwards it as is);
- `risk.firm` receives `{"type": "risk.firm", "shard": "i/n", …}`, one shard's partial
  aggregate (apps/risk/engine/aggregate.py);
- `risk.alerts` is reserved for alerts.

`core.push.push_to_group` wraps events as `{"type": "user.event", "event": …}` for people's
own sockets; these groups carry typed messages instead, one handler per type.

The engine sends from a thread of its own (`GroupPusher`), newest message per group, so a slow
channel layer delays snapshots but never the frame loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

SNAPSHOT_TYPE = "account.snapshot"
FIRM_GROUP = "risk.firm"
ALERTS_GROUP = "risk.alerts"


def account_group(account_id: int) -> str:
    return f"account.{account_id}"


def push_message(group: str, message: Mapping) -> None:
    """Send one typed message now (from a process with no open transaction)."""
    async_to_sync(get_channel_layer().group_send)(group, dict(message))


def push_snapshot(snapshot: Mapping) -> None:
    push_message(account_group(snapshot["account"]), snapshot)


class GroupPusher:
    """A thread with its own event loop sending group messages; for each group only the newest
    message waiting is sent (a snapshot superseded before it left is dropped, on purpose)."""

    # channels_redis's connection pool holds 100 connections and refuses the 101st at once:
    # sends go out CHUNK at a time.
    def __init__(self, *, chunk: int = 64) -> None:
        self.chunk = chunk
        self.sent = 0
        self.failed = 0
        self.superseded = 0
        self._waiting: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = False
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._thread = threading.Thread(target=self._run, name="risk-push", daemon=True)
        self._thread.start()

    def send(self, group: str, message: Mapping) -> None:
        with self._lock:
            if group in self._waiting:
                self.superseded += 1
            self._waiting[group] = dict(message)
            self._idle.clear()
        self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything handed over has been sent (or failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                empty = not self._waiting
            if empty and self._idle.wait(0.05):
                with self._lock:
                    if not self._waiting:
                        return True
            self._wake.set()
        return False

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold sends (after the chunk in flight) while the caller does something more urgent:
        the pusher's Python work would otherwise take half the interpreter from it."""
        self._running.clear()
        try:
            yield
        finally:
            self._running.set()

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        layer = get_channel_layer()
        try:
            while not self._stopping:
                self._wake.wait(0.5)
                self._wake.clear()
                with self._lock:
                    batch, self._waiting = self._waiting, {}
                if batch:
                    loop.run_until_complete(self._send_all(layer, list(batch.items())))
                with self._lock:
                    if not self._waiting:
                        self._idle.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _send_all(self, layer, items: list[tuple[str, dict]]) -> None:
        if hasattr(layer, "group_send_many"):  # the project's layer: one pipeline per chunk
            await self._send_batched(layer, items)
            return
        for start in range(0, len(items), self.chunk):
            if not self._running.is_set():
                await asyncio.to_thread(self._running.wait)
            part = items[start : start + self.chunk]
            results = await asyncio.gather(
                *(layer.group_send(group, message) for group, message in part),
                return_exceptions=True,
            )
            for (group, _message), result in zip(part, results, strict=True):
                if isinstance(result, BaseException):
                    self.failed += 1
                    log.warning("push to %s failed: %s", group, result)
                else:
                    self.sent += 1

    async def _send_batched(self, layer, items: list[tuple[str, dict]]) -> None:
        step = self.chunk * 8
        for start in range(0, len(items), step):
            if not self._running.is_set():
                await asyncio.to_thread(self._running.wait)
            part = items[start : start + step]
            try:
                await layer.group_send_many(part)
            except Exception as exc:
                self.failed += len(part)
                log.warning("push of %d messages failed: %s", len(part), exc)
            else:
                self.sent += len(part)
