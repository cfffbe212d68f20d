"""Reading fills and funding of every ready sub-account, round-robin, within the budget.

Each pass starts after the sub-account the last pass stopped at (kept in Redis), and stops
when reading one more account would eat into the reserve the budget keeps for orders. A
sub-account costs about 40 weight (userFillsByTime and userFunding, 20 each, plus 1 per 20
entries), so at 960 weight a minute with a quarter reserved some 18 sub-accounts are read a
minute: a schedule every 10 s with this pass reads each of 50 accounts every few minutes, and
an account's fills are also read right after each of its orders is answered (the outbox's
account_sync).
"""

from __future__ import annotations

import contextlib
import logging

import redis

from apps.core.redis import get_redis
from apps.trading.outbox import account_sync
from apps.trading.venues.hyperliquid.budget import Budget, info_weight, spec
from apps.trading.venues.hyperliquid.selectors import sub_accounts_polled

log = logging.getLogger("apps.trading.venues.hyperliquid")
POINTER = "hyperliquid:poll:last"
COST = info_weight("userFillsByTime") + info_weight("userFunding")


def poll_round(*, limit: int = 100) -> int:
    """Book new fills and funding of up to `limit` sub-accounts; return how many were read."""
    subs = list(sub_accounts_polled())
    if not subs:
        return 0
    client = get_redis()
    try:
        last = int(client.get(POINTER) or 0)
    except redis.RedisError:
        last = 0
    ordered = [s for s in subs if s.pk > last] + [s for s in subs if s.pk <= last]
    budget = Budget()
    read = 0
    for sub in ordered[:limit]:
        if budget.available() - COST < spec().reserve:
            log.info("hyperliquid polling paused after %s sub-accounts: budget reserve", read)
            break
        account_sync(account=sub.trading_account)
        read += 1
        with contextlib.suppress(redis.RedisError):
            client.set(POINTER, sub.pk)
    return read
