"""The drawdown sweep: the live risk engine's backstop, on Celery beat.

It is `apps.challenges.sweeps.evaluation_sweep`, on purpose. The backstop exists for accounts
no frame reached (the engine stopped, its shard not running, Redis or the feed down): for them
it must apply exactly what the engine would, and the one thing that decides a verdict is the
rules engine's writer, `evaluation_sync`, fed the journal's pending events and the latest
marks, with the lifecycle enforcing any verdict. A second implementation here (a float screen,
a batch halt) would be a second way to compute rule state, which DESIGN.md rules out; and the
sweep's compare-and-set leases already let it run beside the challenges app's own sweep and
several workers without evaluating an account twice.

What it does not do: halt breaches as one batch. A sweep finds a breach only when the live
engine missed it, one account at a time over a minute, so the lifecycle's per-account
enforcement (HALTED, cancel, flatten, fail, in one transaction) is the right shape there.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="apps.risk.tasks.drawdown_sweep", time_limit=120, soft_time_limit=100)
def drawdown_sweep_task() -> int:
    from apps.challenges.sweeps import evaluation_sweep

    return evaluation_sweep()
