"""Celery tasks of the Hyperliquid venue. Thin: each reloads by id and calls a service."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.trading.venues.base import VenueError

log = logging.getLogger("apps.trading.venues.hyperliquid")
RETRY_SECONDS = 30


@shared_task(
    bind=True,
    name="apps.trading.tasks_hyperliquid.provisioning_advance",
    max_retries=20,
    time_limit=120,
    soft_time_limit=100,
)
def provisioning_advance_task(self, provisioning_id: int) -> str:
    from apps.trading.venues.hyperliquid.provisioning import provisioning_advance

    try:
        return provisioning_advance(provisioning_id=provisioning_id).status
    except VenueError as exc:  # retryable: a timeout, the budget, a 429
        log.warning("provisioning %s will be retried: %s", provisioning_id, exc.reason)
        raise self.retry(countdown=RETRY_SECONDS) from None


@shared_task(
    name="apps.trading.tasks_hyperliquid.provisioning_sweep", time_limit=300, soft_time_limit=280
)
def provisioning_sweep_task() -> int:
    """A backstop: advance every provisioning that is neither ready nor failed."""
    from apps.trading.models_hyperliquid import Provisioning
    from apps.trading.venues.hyperliquid.provisioning import provisioning_advance

    moved = 0
    pending = Provisioning.objects.exclude(status__in=["ready", "failed"]).values_list(
        "pk", flat=True
    )
    for pk in list(pending):
        try:
            provisioning_advance(provisioning_id=pk)
            moved += 1
        except VenueError as exc:
            log.warning("provisioning %s not advanced: %s", pk, exc.reason)
    return moved


@shared_task(name="apps.trading.tasks_hyperliquid.poll_fills", time_limit=120, soft_time_limit=100)
def poll_fills_task() -> int:
    from apps.trading.venues.hyperliquid.polling import poll_round

    return poll_round()


@shared_task(
    name="apps.trading.tasks_hyperliquid.release_closed", time_limit=300, soft_time_limit=280
)
def release_closed_task() -> int:
    """Give the sub-accounts of closed accounts back to the pool (once they are flat)."""
    from apps.trading.models_hyperliquid import SubAccount
    from apps.trading.venues.hyperliquid.provisioning import sub_account_release

    released = 0
    closed = SubAccount.objects.filter(status="assigned", trading_account__status="closed")
    for sub in closed.select_related("master__network", "trading_account"):
        try:
            sub_account_release(sub=sub)
            released += 1
        except VenueError as exc:
            log.warning("sub-account %s not released yet: %s", sub.address, exc.reason)
    return released
