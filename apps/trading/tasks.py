from __future__ import annotations

from celery import shared_task

from apps.trading.models import TradingAccount


@shared_task(name="apps.trading.tasks.outbox_dispatch", time_limit=120, soft_time_limit=100)
def outbox_dispatch_task() -> int:
    from apps.trading.outbox import outbox_dispatch

    return outbox_dispatch()


@shared_task(name="apps.trading.tasks.account_sync", time_limit=120, soft_time_limit=100)
def account_sync_task(account_id: int) -> int:
    from apps.trading.outbox import account_sync

    account = TradingAccount.objects.filter(pk=account_id).first()
    return account_sync(account=account) if account else 0
