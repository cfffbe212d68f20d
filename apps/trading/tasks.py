from __future__ import annotations

import logging
from collections.abc import Callable

from celery import shared_task
from redis.client import Pipeline

from apps.core.redis import get_redis
from apps.trading.models import TradingAccount

# A drain of the outbox is queued at most once at a time: the first order after a drain started
# queues the next one; a burst of orders costs one Celery message, not one each. The flag
# expires in case its task is lost with a worker (the 5 s beat sweep drains meanwhile).
WAKE_KEY = "trading:outbox:wake"
WAKE_TTL = 10  # seconds
DRAIN_LIMIT = 100
log = logging.getLogger(__name__)


def outbox_wake(*, also: Callable[[Pipeline], None] | None = None) -> None:
    """Have a worker drain the outbox soon (after an order, a cancel or a modify commits).

    `also` adds commands to the same Redis round trip (order entry's event on the stream)."""
    redis = get_redis()
    with redis.pipeline(transaction=False) as pipe:
        if also is not None:
            also(pipe)
        pipe.set(WAKE_KEY, "1", nx=True, ex=WAKE_TTL)
        # A command's error comes back as its result: one failed addition never keeps the
        # wake from going out (a lost connection still raises, for the caller to log).
        *added, woken = pipe.execute(raise_on_error=False)
    for result in added:
        if isinstance(result, Exception):
            log.error("a command sent with the outbox wake failed: %s", result)
    if isinstance(woken, Exception):
        raise woken
    if woken is not True:
        return  # a drain is queued and has not started: it will see this message
    try:
        outbox_dispatch_task.delay()
    except Exception:
        redis.delete(WAKE_KEY)
        raise


@shared_task(name="apps.trading.tasks.outbox_dispatch", time_limit=120, soft_time_limit=100)
def outbox_dispatch_task() -> int:
    from apps.trading.outbox import outbox_dispatch

    get_redis().delete(WAKE_KEY)  # from here on, a new message queues a new drain
    settled = outbox_dispatch(limit=DRAIN_LIMIT)
    if settled >= DRAIN_LIMIT:
        outbox_wake()  # more may be waiting
    return settled


@shared_task(name="apps.trading.tasks.account_sync", time_limit=120, soft_time_limit=100)
def account_sync_task(account_id: int) -> int:
    from apps.trading.outbox import account_sync

    account = TradingAccount.objects.filter(pk=account_id).first()
    return account_sync(account=account) if account else 0
