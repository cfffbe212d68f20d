"""Our share of Hyperliquid's per-IP rate limit, as a token bucket in Redis.

Hyperliquid allows 1,200 weight a minute per IP address ("Rate limits" in its API docs, read
2026): exchange actions weigh 1 + floor(batch length / 40); the info requests l2Book, allMids,
clearinghouseState, orderStatus, spotClearinghouseState and exchangeStatus weigh 2, userRole
60, every other documented info request 20 (subAccounts, meta, userFillsByTime, userFunding,
frontendOpenOrders, userNonFundingLedgerUpdates ...), and userFills, userFillsByTime,
userFunding, historicalOrders, userNonFundingLedgerUpdates ... weigh 1 more per 20 items they
return.

Every process that talks to the venue from one IP shares one bucket (HYPERLIQUID_BUDGET_KEY),
holding at most 80 % of the venue's limit and refilled continuously at that rate. A request
takes its weight before it is sent; items returned are charged after the answer (the bucket
may go below zero, and later requests wait). Polling takes only what leaves a reserve for
orders, so bookkeeping never starves trading. A 429 from the venue empties the bucket, so
every process backs off at once. The refill uses Redis's clock, so all processes agree.

If Redis is unreachable the budget lets requests through (and says so in the log): the
venue's own 429s still protect us, and trading should not stop for a cache.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

from apps.core.redis import get_redis
from apps.trading.venues.hyperliquid import config

log = logging.getLogger("apps.trading.venues.hyperliquid")

INFO_WEIGHT_2 = frozenset(
    {
        "l2Book",
        "allMids",
        "clearinghouseState",
        "orderStatus",
        "spotClearinghouseState",
        "exchangeStatus",
    }
)
INFO_WEIGHT_60 = frozenset({"userRole"})
INFO_WEIGHT_DEFAULT = 20
PER_ITEM = frozenset(
    {
        "recentTrades",
        "historicalOrders",
        "userFills",
        "userFillsByTime",
        "fundingHistory",
        "userFunding",
        "userNonFundingLedgerUpdates",
        "twapHistory",
        "userTwapSliceFills",
        "userTwapSliceFillsByTime",
        "delegatorHistory",
        "delegatorRewards",
        "validatorStats",
    }
)
ITEMS_PER_WEIGHT = 20


def info_weight(request_type: str) -> int:
    if request_type in INFO_WEIGHT_2:
        return 2
    if request_type in INFO_WEIGHT_60:
        return 60
    return INFO_WEIGHT_DEFAULT


def items_weight(request_type: str, items: int) -> int:
    """The extra weight of an answer with `items` entries."""
    return items // ITEMS_PER_WEIGHT if request_type in PER_ITEM else 0


def exchange_weight(batch_length: int = 1) -> int:
    return 1 + batch_length // 40


# One atomic step: refill from the last visit by Redis's clock, then take, charge or drain.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local weight = tonumber(ARGV[3])
local floor = tonumber(ARGV[4])
local mode = ARGV[5]
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1])
local ts = tonumber(data[2])
if tokens == nil or ts == nil then tokens = cap; ts = now end
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local ok = 1
if mode == 'take' then
  if tokens - weight >= floor then tokens = tokens - weight else ok = 0 end
elseif mode == 'charge' then
  tokens = tokens - weight
elseif mode == 'drain' then
  tokens = math.min(tokens, 0) - weight
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], 300000)
if ok == 1 then return {1, string.format('%.6f', tokens)} end
return {0, string.format('%.6f', (weight + floor - tokens) / rate)}
"""


@dataclass(frozen=True)
class BudgetSpec:
    capacity: float  # weight a minute we allow ourselves
    reserve: float  # weight polling leaves for orders

    @property
    def per_ms(self) -> float:
        return self.capacity / 60_000.0


def spec() -> BudgetSpec:
    limit = float(config.setting("HYPERLIQUID_WEIGHT_PER_MINUTE", "1200"))
    capacity = limit * float(config.setting("HYPERLIQUID_BUDGET_FRACTION", "0.8"))
    reserve = capacity * float(config.setting("HYPERLIQUID_POLL_RESERVE", "0.25"))
    return BudgetSpec(capacity=capacity, reserve=reserve)


class Budget:
    def __init__(self, key: str | None = None):
        self.key = (
            f"hyperliquid:budget:{key or config.setting('HYPERLIQUID_BUDGET_KEY', 'default')}"
        )

    def _run(self, weight: float, floor: float, mode: str) -> tuple[bool, float]:
        current = spec()
        try:
            ok, value = get_redis().eval(
                _SCRIPT, 1, self.key, current.capacity, current.per_ms, weight, floor, mode
            )
        except redis.RedisError as exc:
            log.warning("hyperliquid budget unavailable (%s); letting the request through", exc)
            return True, current.capacity
        return bool(int(ok)), float(value)

    def take(self, weight: int, *, wait_up_to: float = 0.0, keep_reserve: bool = False) -> bool:
        """Take `weight` now, or within `wait_up_to` seconds; False if the budget has none.

        With `keep_reserve`, only what leaves the orders' reserve is taken (polling)."""
        floor = spec().reserve if keep_reserve else 0.0
        deadline = time.monotonic() + wait_up_to
        while True:
            ok, value = self._run(weight, floor, "take")
            if ok:
                return True
            wait_ms = value
            if time.monotonic() + wait_ms / 1000 > deadline:
                return False
            time.sleep(max(wait_ms / 1000, 0.01))

    def charge(self, weight: int) -> None:
        """Weight learned only from the answer (items returned)."""
        if weight > 0:
            self._run(weight, 0.0, "charge")

    def drain(self) -> None:
        """The venue said 429: we were over its limit, whatever we counted."""
        self._run(0, 0.0, "drain")

    def available(self) -> float:
        return self._run(0, 0.0, "charge")[1]
