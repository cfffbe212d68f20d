"""Live prices from Hyperliquid's public websocket (wss://api.hyperliquid.xyz/ws).

Subscriptions (Hyperliquid docs, "Websocket > Subscriptions"):
- `{"method": "subscribe", "subscription": {"type": "allMids"}}` ->
  `{"channel": "allMids", "data": {"mids": {"BTC": "80868.5", "@142": "...", ...}}}`
  (spot pairs appear as "@n" or "PURR/USDC"; we keep only our coins);
- `{"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}}` ->
  `{"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {"markPx", "oraclePx",
  "midPx" (null without a book), "funding", "openInterest", ...}}}`.
The server acknowledges each subscription on the `subscriptionResponse` channel, answers
`{"method": "ping"}` with `{"channel": "pong"}`, and closes a connection that has been silent
for a minute, hence the ping every 50 s.

The websocket runs in a thread with its own asyncio loop and keeps the latest prices per coin;
the feed loop asks for a snapshot each tick. When the connection drops, the thread logs it,
waits (doubling from 0.5 s up to 30 s) and reconnects and resubscribes; meanwhile
`next_prices()` answers None, so the feed publishes no frame rather than stale prices.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import websockets
from websockets.asyncio.client import ClientConnection, connect

from apps.market.frames import Tick

log = logging.getLogger("apps.market.feed.hyperliquid")

MAINNET_URL = "wss://api.hyperliquid.xyz/ws"


class HyperliquidSource:
    name = "hyperliquid"

    def __init__(
        self,
        url: str,
        coins: Sequence[str],
        *,
        backoff_initial: float = 0.5,
        backoff_cap: float = 30.0,
        ping_every: float = 50.0,
        stale_after: float = 30.0,
        warmup: float = 5.0,
    ) -> None:
        if not coins:
            raise ValueError("the hyperliquid source needs at least one coin")
        self.url, self.coins = url, list(dict.fromkeys(coins))
        self.backoff_initial, self.backoff_cap = backoff_initial, backoff_cap
        self.ping_every, self.stale_after, self.warmup = ping_every, stale_after, warmup
        self._connected_at = 0.0
        self.connections = 0  # successful connections so far (1 + reconnects)
        self.drops = 0
        self._lock = threading.Lock()
        self._connected = False
        # coin -> {"mark", "oracle", "mid", "funding"} and when each coin was last updated.
        self._prices: dict[str, dict[str, Decimal]] = {}
        self._updated: dict[str, float] = {}
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: ClientConnection | None = None
        self._thread: threading.Thread | None = None

    # --- the feed loop's side --------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hyperliquid-ws", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        loop, ws = self._loop, self._ws
        if loop is not None and ws is not None and not loop.is_closed():
            # RuntimeError: the loop finished meanwhile, which is what we wanted.
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(ws.close(), loop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def connected(self) -> bool:
        return self._connected

    def next_prices(self) -> dict[str, Tick] | None:
        """The latest complete prices of every coin heard from recently; None while
        disconnected or before the first mark, oracle and funding have arrived.

        Right after connecting it waits (up to `warmup` seconds) for every coin, so the first
        frames price them all; past that, a coin the venue does not price is left out of the
        frames rather than holding every other coin back (readers keep its last price)."""
        with self._lock:
            if not self._connected:
                return None
            now = time.monotonic()
            ticks = {
                coin: Tick(p["mark"], p["oracle"], p.get("mid", p["mark"]), p["funding"])
                for coin, p in self._prices.items()
                if {"mark", "oracle", "funding"} <= p.keys()
                and self._updated[coin] >= now - self.stale_after
            }
            if len(ticks) < len(self.coins) and now - self._connected_at < self.warmup:
                return None
        return ticks or None

    # --- the websocket thread --------------------------------------------------------------
    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        delay = self.backoff_initial
        while not self._stop.is_set():
            try:
                async with connect(
                    self.url, open_timeout=10, ping_interval=20, max_size=8 * 2**20
                ) as ws:
                    self._ws = ws
                    await self._subscribe(ws)
                    with self._lock:
                        self._connected = True
                        self._connected_at = time.monotonic()
                    self.connections += 1
                    delay = self.backoff_initial
                    log.info("hyperliquid websocket connected to %s", self.url)
                    await self._listen(ws)
                reason = "the server closed the connection"
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._ws = None
                with self._lock:
                    self._connected = False
            if self._stop.is_set():
                break
            self.drops += 1
            log.warning("hyperliquid websocket dropped (%s); reconnecting in %.1f s", reason, delay)
            await self._sleep(delay)
            delay = min(self.backoff_cap, delay * 2)

    async def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    async def _subscribe(self, ws: ClientConnection) -> None:
        subscriptions = [{"type": "allMids"}]
        subscriptions += [{"type": "activeAssetCtx", "coin": coin} for coin in self.coins]
        for subscription in subscriptions:
            await ws.send(json.dumps({"method": "subscribe", "subscription": subscription}))

    async def _listen(self, ws: ClientConnection) -> None:
        last_ping = time.monotonic()
        while not self._stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=1.0)
            except TimeoutError:
                raw = None
            if time.monotonic() - last_ping >= self.ping_every:
                await ws.send(json.dumps({"method": "ping"}))
                last_ping = time.monotonic()
            if raw is not None:
                self.handle(raw)

    def handle(self, raw: str | bytes) -> None:
        """Take one message in; malformed or unexpected ones are logged and skipped."""
        try:
            message = json.loads(raw)
            channel, data = message.get("channel"), message.get("data")
            if channel == "allMids":
                self._take_mids(data["mids"])
            elif channel == "activeAssetCtx":
                self._take_ctx(data["coin"], data["ctx"])
            elif channel == "error":
                log.warning("hyperliquid websocket error: %s", data)
        except (ValueError, KeyError, TypeError, AttributeError, InvalidOperation) as exc:
            log.warning("hyperliquid websocket: skipped a malformed message (%r)", exc)

    def _take_mids(self, mids: dict) -> None:
        now = time.monotonic()
        with self._lock:
            for coin in self.coins:
                if mids.get(coin) is not None:
                    self._prices.setdefault(coin, {})["mid"] = _decimal(mids[coin])
                    self._updated[coin] = now

    def _take_ctx(self, coin: str, ctx: dict) -> None:
        if coin not in self.coins:
            return
        values = {"mark": _decimal(ctx["markPx"]), "oracle": _decimal(ctx["oraclePx"])}
        values["funding"] = _decimal(ctx["funding"])
        if ctx.get("midPx") is not None:
            values["mid"] = _decimal(ctx["midPx"])
        with self._lock:
            self._prices.setdefault(coin, {}).update(values)
            self._updated[coin] = time.monotonic()


def _decimal(raw: object) -> Decimal:
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a decimal string")
    value = Decimal(raw)
    if not value.is_finite():
        raise ValueError(f"{raw!r} is not finite")
    return value
