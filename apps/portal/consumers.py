"""The trading page's live socket, /ws/accounts/<id>/ (its owner only).

It joins the Channels group `account.<id>`, where the risk engine pushes the account's
snapshots (DESIGN.md, "Live pushes") and where our own pushes land after the trader's
orders and after every booked fill; `account_snapshot` forwards each to the page.

Prices: a small loop per socket reads the latest frame from Redis every half second (server
side) and sends the marks the page needs (its chart's coin and the coins it holds) when the
frame changed. The same loop keeps the page alive without a risk engine: when no engine
snapshot arrived for a few seconds it builds the snapshot from the database itself, at most
once a second while prices move, and every few seconds in any case (order statuses).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from urllib.parse import parse_qs

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings

from apps.core.consumers import LiveConsumer
from apps.market.frames import Frame, FrameError
from apps.market.selectors import LATEST_KEY
from apps.portal.selectors import account_owned, account_snapshot
from apps.portal.services import account_group
from apps.trading.models import TradingAccount

log = logging.getLogger(__name__)

COIN = re.compile(r"^[A-Za-z0-9]{1,20}$")
PRICE_EVERY = 0.5  # seconds: at most two price messages a second, like the snapshots
ENGINE_QUIET = 3.0  # seconds without an engine snapshot before we build our own
OWN_FAST = 1.0  # our snapshot's pace while prices move and the engine is quiet
OWN_SLOW = 5.0  # otherwise (orders resting, a feed that stopped)

# Close codes a page can tell apart.
NOT_SIGNED_IN = 4401
NOT_YOURS = 4403


def _owned(user_id: int, account_id: int) -> bool:
    return account_owned(user_id, account_id) is not None


def _state_reason(account_id: int) -> str:
    return (
        TradingAccount.objects.filter(pk=account_id).values_list("state_reason", flat=True).first()
        or ""
    )


def _coin(value: object) -> str:
    text = str(value or "")
    return text if COIN.match(text) else ""


class AccountConsumer(LiveConsumer):
    group: str | None = None
    feed: asyncio.Task | None = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=NOT_SIGNED_IN)
            return
        account_id = int(self.scope["url_route"]["kwargs"]["account_id"])
        if not await database_sync_to_async(_owned)(user.pk, account_id):
            await self.accept()
            await self.close(code=NOT_YOURS)
            return
        self.account_id = account_id
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.coin = _coin(query.get("coin", [""])[0]) or "BTC"
        self.position_coins: set[str] = set()
        self.last_seq: int | None = None
        self.last_engine = float("-inf")
        self.last_own = float("-inf")
        self.last_state: str | None = None
        self.last_reason = ""
        self.group = account_group(account_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._own_snapshot()
        self.feed = asyncio.create_task(self._feed())

    async def disconnect(self, code):
        if self.feed is not None:
            self.feed.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "watch":
            coin = _coin(content.get("coin"))
            if coin:
                self.coin, self.last_seq = coin, None  # the next tick sends its price
                return
        await self.send_json({"type": "error", "message": "send {type: watch, coin: BTC}"})

    async def account_snapshot(self, message):
        """A snapshot pushed to `account.<id>`: the risk engine's, or ours after an action."""
        if message.get("source") != "portal":
            self.last_engine = time.monotonic()
            if "state_reason" not in message:
                # The engine's snapshot names the state, not why: the page says why at once.
                if message.get("state") == self.last_state:
                    reason = self.last_reason
                else:
                    reason = await database_sync_to_async(_state_reason)(self.account_id)
                message = {**message, "state_reason": reason}
        self._remember(message)
        await self.send_json(message)

    def _remember(self, snapshot: dict) -> None:
        self.last_state = snapshot.get("state", self.last_state)
        self.last_reason = snapshot.get("state_reason", self.last_reason)
        positions = snapshot.get("positions") or []
        self.position_coins = {p.get("coin") for p in positions if isinstance(p, dict)} - {None}

    async def _own_snapshot(self) -> None:
        self.last_own = time.monotonic()
        snapshot = await database_sync_to_async(account_snapshot)(self.account_id)
        self._remember(snapshot)
        await self.send_json(snapshot)

    def _price(self, frame: Frame) -> dict:
        wanted = {self.coin, *self.position_coins}
        marks = {c: f"{frame.prices[c].mark:f}" for c in sorted(wanted) if c in frame.prices}
        return {
            "type": "price",
            "seq": frame.seq,
            "t": frame.t.isoformat(),
            "coin": self.coin,
            "mark": marks.get(self.coin),
            "marks": marks,
        }

    async def _feed(self) -> None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        try:
            while True:
                moved = False
                try:
                    raw = await client.get(LATEST_KEY)
                    frame = Frame.from_json(raw) if raw else None
                except (aioredis.RedisError, FrameError, OSError) as exc:
                    log.warning("price loop of account %s: %s", self.account_id, exc)
                    frame = None
                if frame is not None and frame.seq != self.last_seq:
                    self.last_seq, moved = frame.seq, True
                    await self.send_json(self._price(frame))
                now = time.monotonic()
                quiet = now - self.last_engine > ENGINE_QUIET
                pace = OWN_FAST if quiet and moved else OWN_SLOW
                if now - self.last_own >= pace:
                    await self._own_snapshot()
                await asyncio.sleep(PRICE_EVERY)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("price loop of account %s stopped", self.account_id)
        finally:
            await client.aclose()
