from __future__ import annotations

from celery import shared_task


@shared_task(name="apps.challenges.tasks.evaluation_sweep", time_limit=120, soft_time_limit=100)
def evaluation_sweep_task() -> int:
    from apps.challenges.sweeps import evaluation_sweep

    return evaluation_sweep()
