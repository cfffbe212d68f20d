"""Scaling funded accounts: the plan's steps (data, see scaling_rules.py) evaluated by a Celery
job. A step is one `resize` ledger entry (the rules engine reads it as an adjustment with
`rebase: "resize"`, so the floors follow the new size), the money moved at the venue after
commit, the high-water mark moved with the capital (a resize is not profit), a ScalingEvent
recording it, an audit event and an e-mail to the trader. All in one transaction under the
account's terms row lock; the event's sequence number makes its ledger key, so a step is
never applied twice.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.core import clock
from apps.core.services import audit_record
from apps.payouts.models import Payout, ScalingEvent
from apps.payouts.notify import notify_trader
from apps.payouts.scaling_rules import ScalingState, decide
from apps.payouts.services import _lock_terms, transfer_after_commit
from apps.trading.models import LedgerEntry, TradingAccount
from apps.trading.services import ledger_post

log = logging.getLogger(__name__)


@transaction.atomic
def scaling_evaluate(*, account: EvaluatedAccount, now: datetime | None = None):
    """Apply the scaling step due on this account now, if any; return its ScalingEvent."""
    now = now or clock.now()
    account = EvaluatedAccount.objects.select_related("trader").get(pk=account.pk)
    if (
        account.stage != EvaluatedAccount.Stage.FUNDED
        or account.status != EvaluatedAccount.Status.ACTIVE
    ):
        return None
    terms = _lock_terms(account)
    if not terms.scaling_plan:
        return None
    trading = TradingAccount.objects.select_for_update().get(pk=account.trading_account_id)
    window_payouts = Payout.objects.filter(
        account=account,
        status__in=[Payout.Status.APPROVED, Payout.Status.PAID],
        decided_at__gte=terms.window_started_at,
    ).count()
    state = ScalingState(
        now=now,
        initial=Decimal(terms.initial_balance),
        size=Decimal(terms.account_size),
        max_balance=terms.scaling_max_balance,
        split_pct=Decimal(terms.profit_split_pct),
        growth_applied=terms.growth_steps_applied,
        balance=Decimal(trading.balance),
        gross=Decimal(trading.balance) + terms.paid_out_total,
        window_started_at=terms.window_started_at,
        window_size=Decimal(terms.window_size),
        window_gross=Decimal(terms.window_gross),
        window_payouts=window_payouts,
    )
    decision = decide(terms.scaling_plan, state)
    if decision is None:
        return None
    seq = ScalingEvent.objects.filter(account=account).count() + 1
    key = f"resize:{account.pk}:{seq}"
    entry = ledger_post(
        account=trading,
        kind=LedgerEntry.Kind.RESIZE,
        amount=decision.amount,
        key=key,
        memo=f"Scaling step {seq}: {state.size:.2f} -> {decision.new_size:.2f}",
        at=now,
    )
    event = ScalingEvent.objects.create(
        account=account,
        seq=seq,
        step_index=decision.step_index,
        step=terms.scaling_plan[decision.step_index],
        shape=decision.shape,
        reason=decision.reason,
        size_before=state.size,
        size_after=decision.new_size,
        amount=decision.amount,
        split_before=state.split_pct,
        split_after=decision.split_pct,
        ledger_entry=entry,
        at=now,
    )
    terms.account_size = decision.new_size
    terms.high_water_mark += decision.amount  # capital moved, not profit
    terms.profit_split_pct = decision.split_pct
    if decision.shape != "cut":
        terms.growth_steps_applied += 1
    terms.window_started_at = now
    terms.window_size = decision.new_size
    terms.window_gross = Decimal(entry.balance_after) + terms.paid_out_total
    terms.updated_at = now
    terms.save()
    audit_record(
        action="payout.scaling_step",
        subject=trading,
        after={
            "seq": seq,
            "step": event.step,
            "reason": decision.reason,
            "size_before": state.size,
            "size_after": decision.new_size,
            "amount": decision.amount,
            "split_pct": decision.split_pct,
            "ledger_key": key,
        },
    )
    transfer_after_commit(
        model=ScalingEvent, pk=event.pk, trading=trading, amount=decision.amount, key=key
    )
    notify_trader(
        account.trader,
        "scaled_up" if decision.amount > 0 else "scaled_down",
        step=event,
        currency=terms.currency,
    )
    return event


def scaling_sweep(*, chunk: int = 200, budget_seconds: float = 300.0) -> int:
    """Evaluate every active funded account that has (or will pin) a scaling plan; return
    how many steps were applied. Each account is its own transaction."""
    started, applied, after_id = time.monotonic(), 0, 0
    has_plan = Q(funded_terms__isnull=False) & ~Q(funded_terms__scaling_plan=[])
    plan_to_pin = Q(funded_terms__isnull=True, challenge__isnull=False) & ~Q(
        challenge__plan__scaling_plan=[]
    )
    candidates = EvaluatedAccount.objects.filter(
        has_plan | plan_to_pin,
        stage=EvaluatedAccount.Stage.FUNDED,
        status=EvaluatedAccount.Status.ACTIVE,
    )
    while time.monotonic() - started < budget_seconds:
        ids = list(
            candidates.filter(pk__gt=after_id).order_by("pk").values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            break
        for pk in ids:
            try:
                if scaling_evaluate(account=EvaluatedAccount(pk=pk)) is not None:
                    applied += 1
            except Exception:
                log.exception("scaling account %s failed", pk)
        after_id = ids[-1]
    return applied


def venue_transfers_retry() -> int:
    """Send again the venue transfers whose after-commit send failed (idempotent by key)."""
    from apps.trading.services import venue_account_of
    from apps.trading.venues.registry import venue_for

    sent = 0
    pending = [
        (Payout, p.pk, p.account.trading_account, -p.gross_profit, p.ledger_key)
        for p in Payout.objects.filter(
            status__in=[Payout.Status.APPROVED, Payout.Status.PAID],
            venue_transferred_at__isnull=True,
        ).select_related("account__trading_account")[:500]
    ] + [
        (ScalingEvent, e.pk, e.account.trading_account, e.amount, e.ledger_key)
        for e in ScalingEvent.objects.filter(venue_transferred_at__isnull=True).select_related(
            "account__trading_account"
        )[:500]
    ]
    for model, pk, trading, amount, key in pending:
        try:
            venue_for(trading).transfer(venue_account_of(trading), amount, key=key)
        except Exception:
            log.exception("venue transfer %s still failing", key)
            continue
        model.objects.filter(pk=pk).update(venue_transferred_at=clock.now())
        sent += 1
    return sent
