"""The Celery app. The beat schedule is declared here, in code, and nowhere else."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "propfirm.settings")

app = Celery("propfirm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # A backstop: orders are sent on commit; this picks up any whose send was lost and any
    # whose outcome is unknown once its lease runs out.
    "trading-outbox-sweep": {
        "task": "apps.trading.tasks.outbox_dispatch",
        "schedule": 5.0,
    },
    # Day resets, expiry and graduation for accounts no fill reached; the same engine.
    "challenges-evaluation-sweep": {
        "task": "apps.challenges.tasks.evaluation_sweep",
        "schedule": 60.0,
    },
    # The bi-weekly and monthly payout runs of the period just ended: a finished run is a
    # no-op, an interrupted one resumes where it stopped.
    "payouts-runs-due": {
        "task": "apps.payouts.tasks.payout_runs_due",
        "schedule": crontab(minute=5),
    },
    "payouts-scaling-sweep": {
        "task": "apps.payouts.tasks.scaling_sweep",
        "schedule": crontab(hour=1, minute=30),
    },
    # Venue transfers of payouts and scaling steps whose after-commit send failed.
    "payouts-venue-transfers-retry": {
        "task": "apps.payouts.tasks.venue_transfers_retry",
        "schedule": 600.0,
    },
    "risk-concentration-scan": {"task": "apps.risk.alerts.concentration_scan", "schedule": 60.0},
    "risk-reconciliation": {
        "task": "apps.risk.reconciliation.reconciliation_run",
        "schedule": crontab(hour=0, minute=30),
    },
    # Hyperliquid: fills and funding within the rate-limit budget, sub-account provisioning,
    # and returning the sub-accounts of closed accounts to the pool.
    "hyperliquid-poll-fills": {
        "task": "apps.trading.tasks_hyperliquid.poll_fills",
        "schedule": 10.0,
    },
    "hyperliquid-provisioning-sweep": {
        "task": "apps.trading.tasks_hyperliquid.provisioning_sweep",
        "schedule": 60.0,
    },
    "hyperliquid-release-closed": {
        "task": "apps.trading.tasks_hyperliquid.release_closed",
        "schedule": 300.0,
    },
    # The risk engine's backstop: the same rules engine over accounts no frame reached.
    "risk-drawdown-sweep": {
        "task": "apps.risk.tasks.drawdown_sweep",
        "schedule": 60.0,
    },
    "audit-verify-chains-nightly": {
        "task": "apps.core.tasks.audit_verify_chains",
        "schedule": crontab(hour=2, minute=15),
    },
}


def producer_warm() -> None:
    """Load the publishing side and open the broker connection now, not on the first task a
    request queues (about 40 ms of CPU in a fresh process, every request of that process waiting
    behind it). Called by the web process at start; a broker that is down is only logged:
    tasks connect again when it is back."""
    import logging

    app.finalize(auto=True)  # every app's tasks module, imported now (an error here is a bug)
    app.amqp.router  # noqa: B018 - built on first use
    try:
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        logging.getLogger(__name__).warning("broker not reachable at start: %s", exc)
