"""Celery entry points: they take ids, call a service and return a small summary."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="apps.payouts.tasks.payout_runs_due", time_limit=900, soft_time_limit=840)
def payout_runs_due_task() -> list[dict]:
    """Hourly: run, resume or (when done) skip the bi-weekly and monthly runs of the period
    just ended."""
    from apps.payouts.runs import payout_runs_due

    return [
        {"run": r.pk, "period": r.period, "status": r.status, "requested": r.requested}
        for r in payout_runs_due()
    ]


@shared_task(name="apps.payouts.tasks.scaling_sweep", time_limit=900, soft_time_limit=840)
def scaling_sweep_task() -> int:
    from apps.payouts.scaling import scaling_sweep

    return scaling_sweep()


@shared_task(name="apps.payouts.tasks.venue_transfers_retry", time_limit=300, soft_time_limit=270)
def venue_transfers_retry_task() -> int:
    from apps.payouts.scaling import venue_transfers_retry

    return venue_transfers_retry()


@shared_task(name="apps.payouts.tasks.export_build", time_limit=1800, soft_time_limit=1700)
def export_build_task(export_id: int) -> str:
    from apps.payouts.exports import export_build

    return export_build(export_id=export_id).status
