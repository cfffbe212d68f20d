"""Trading's announcements, heard by the challenges app (connected in its AppConfig.ready())."""

from __future__ import annotations

import logging

from apps.challenges.evaluation import evaluation_sync
from apps.challenges.models_lifecycle import EvaluatedAccount

log = logging.getLogger(__name__)


def on_account_activity(sender, *, account_id: int, **kwargs) -> None:
    evaluated = (
        EvaluatedAccount.objects.filter(
            trading_account_id=account_id, status=EvaluatedAccount.Status.ACTIVE
        )
        .values_list("pk", flat=True)
        .first()
    )
    if evaluated is None:
        return
    try:
        evaluation_sync(account_id=evaluated)
    except Exception:
        log.exception("evaluation after activity on trading account %s failed", account_id)
