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
    "audit-verify-chains-nightly": {
        "task": "apps.core.tasks.audit_verify_chains",
        "schedule": crontab(hour=2, minute=15),
    },
}
