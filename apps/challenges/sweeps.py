"""Sweeps: the same engine over accounts that no fill or price frame reached lately (day
resets, expiry, graduation). Accounts are claimed with compare-and-set on a lease, a chunk
at a time, so several workers share a sweep without evaluating one account twice."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.db.models import Q

from apps.challenges.evaluation import evaluation_sync
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.core import clock

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)


def _claim(chunk: int, after_id: int) -> list[int]:
    now = clock.now()
    free = Q(sweep_lease_until__isnull=True) | Q(sweep_lease_until__lt=now)
    candidates = (
        EvaluatedAccount.objects.filter(
            free, status=EvaluatedAccount.Status.ACTIVE, pk__gt=after_id
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:chunk]
    )
    claimed = []
    for pk in candidates:
        # UPDATE … WHERE the lease is still free: exactly one sweeper wins each account.
        if EvaluatedAccount.objects.filter(free, pk=pk).update(sweep_lease_until=now + LEASE):
            claimed.append(pk)
    return claimed


def evaluation_sweep(*, chunk: int = 200, budget_seconds: float = 50.0) -> int:
    """Evaluate every active account not already being swept; return how many."""
    started, done, after_id = time.monotonic(), 0, 0
    while time.monotonic() - started < budget_seconds:
        ids = _claim(chunk, after_id)
        if not ids:
            break
        for pk in ids:
            try:
                evaluation_sync(account_id=pk)
                done += 1
            except Exception:
                log.exception("evaluation of account %s failed", pk)
            finally:
                EvaluatedAccount.objects.filter(pk=pk).update(sweep_lease_until=None)
        after_id = ids[-1]
    return done
