from __future__ import annotations

import logging

from celery import shared_task

from apps.core.services import audit_verify_chains

log = logging.getLogger(__name__)


@shared_task(name="apps.core.tasks.audit_verify_chains", time_limit=1800, soft_time_limit=1700)
def audit_verify_chains_task() -> dict:
    """Nightly: recompute every audit chain and log each break loudly."""
    checked, problems = audit_verify_chains()
    for problem in problems:
        log.error("audit chain broken: %s", problem)
    return {"checked": checked, "problems": [str(p) for p in problems]}
