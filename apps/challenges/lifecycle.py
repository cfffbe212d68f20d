"""The evaluation lifecycle: start, pass to the next phase, get funded, fail, terminate.

Every transition is one transaction, audited, idempotent (running it twice changes nothing)
and e-mailed to the trader after commit; orders to the venue leave through the outbox.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction

from apps.accounts.models import User
from apps.challenges.models import Plan, RuleSet
from apps.challenges.models_lifecycle import Challenge, EvaluatedAccount
from apps.challenges.notify import notify_trader
from apps.core import clock
from apps.core.services import audit_record
from apps.trading.models import Order, Position, TradingAccount, TradingState
from apps.trading.registry import OrderIntent
from apps.trading.services import (
    TradingError,
    account_open,
    account_set_state,
    order_cancel,
    order_submit,
)

log = logging.getLogger(__name__)


class LifecycleError(Exception):
    """A transition a person asked for that cannot happen; the message says why."""


def _open_evaluated(
    *,
    trader: User,
    ruleset: RuleSet,
    balance: Decimal,
    key: str,
    label: str,
    challenge: Challenge | None,
    stage: str,
    phase: int | None,
    venue: str = "paper",
    actor: User | None = None,
) -> EvaluatedAccount:
    trading = account_open(
        owner=trader, starting_balance=balance, key=key, label=label, venue=venue, actor=actor
    )
    existing = EvaluatedAccount.objects.filter(trading_account=trading).first()
    if existing is not None:
        return existing
    return EvaluatedAccount.objects.create(
        trader=trader,
        challenge=challenge,
        trading_account=trading,
        ruleset=ruleset,
        stage=stage,
        phase=phase,
        rules=ruleset.to_rules_json(),
        starting_balance=balance,
        start=trading.created_at,
    )


@transaction.atomic
def challenge_start(
    *,
    trader: User,
    plan: Plan,
    purchase_ref: str,
    price_paid: Decimal,
    retry_of: Challenge | None = None,
    actor: User | None = None,
) -> Challenge:
    """A purchased plan becomes a challenge with its phase-1 account. One per purchase."""
    existing = Challenge.objects.filter(purchase_ref=purchase_ref).first()
    if existing is not None:
        return existing
    if plan.status != "published":
        raise LifecycleError(f"{plan.name} is not on sale.")
    first = plan.phases.order_by("number").select_related("ruleset").first()
    if first is None:
        raise LifecycleError(f"{plan.name} has no evaluation phase.")
    challenge = Challenge.objects.create(
        trader=trader,
        plan=plan,
        purchase_ref=purchase_ref,
        price_paid=price_paid,
        currency=plan.currency,
        retry_of=retry_of,
    )
    account = _open_evaluated(
        trader=trader,
        ruleset=first.ruleset,
        balance=plan.starting_balance,
        key=f"challenge:{challenge.pk}:phase:1",
        label=f"{plan.name} · phase 1",
        challenge=challenge,
        stage=EvaluatedAccount.Stage.EVALUATION,
        phase=1,
        actor=actor,
    )
    audit_record(
        action="challenge.start",
        subject=challenge,
        actor=actor or trader,
        after={"plan": plan.pk, "purchase": purchase_ref, "account": account.trading_account_id},
    )
    notify_trader(trader, "challenge_started", challenge=challenge, account=account)
    return challenge


def _stop_trading(account: EvaluatedAccount, reason: str) -> None:
    """Refuse new trader orders, cancel resting ones, close positions (system orders)."""
    trading = account.trading_account
    if trading.state != TradingState.HALTED:
        account_set_state(account=trading, state=TradingState.HALTED, reason=reason)
    live = Order.objects.filter(
        account=trading, status__in=[Order.Status.PENDING, Order.Status.OPEN]
    ).exclude(origin="system_flatten")
    for order in live:
        try:
            order_cancel(order=order, origin="system_flatten")
        except TradingError as exc:
            log.warning("could not cancel %s: %s", order.pk, exc.message)
    for position in Position.objects.filter(account=trading).exclude(size=0):
        intent = OrderIntent(
            coin=position.coin,
            side="sell" if position.size > 0 else "buy",
            kind="market",
            size=abs(position.size),
            reduce_only=True,
        )
        try:
            order_submit(
                account=trading,
                intent=intent,
                origin="system_flatten",
                idempotency_key=f"flatten:{account.pk}:{position.coin}:{account.journal_seq}",
            )
        except TradingError as exc:
            # The sweep tries again; the account is halted meanwhile, so nothing grows.
            log.error("could not flatten %s on %s: %s", position.coin, trading.pk, exc.message)


def on_verdict(*, account: EvaluatedAccount, engine) -> None:
    """Called by the evaluation, inside its transaction, when the engine decided."""
    if account.status == EvaluatedAccount.Status.PASSED:
        _phase_passed(account)
    else:
        _account_failed(account)


def _phase_passed(account: EvaluatedAccount) -> None:
    challenge = account.challenge
    _stop_trading(account, f"Phase {account.phase} passed: this account's trading is over.")
    account.closed_at, account.close_reason = clock.now(), "passed"
    account.save(update_fields=["closed_at", "close_reason"])
    plan = challenge.plan
    phases = list(plan.phases.order_by("number").select_related("ruleset"))
    following = [p for p in phases if p.number > account.phase]
    if following:
        nxt = following[0]
        new = _open_evaluated(
            trader=challenge.trader,
            ruleset=nxt.ruleset,
            balance=plan.starting_balance,
            key=f"challenge:{challenge.pk}:phase:{nxt.number}",
            label=f"{plan.name} · phase {nxt.number}",
            challenge=challenge,
            stage=EvaluatedAccount.Stage.EVALUATION,
            phase=nxt.number,
        )
        challenge.current_phase = nxt.number
        challenge.save(update_fields=["current_phase"])
        event = "phase_passed"
    else:
        new = _open_evaluated(
            trader=challenge.trader,
            ruleset=plan.funded_ruleset,
            balance=plan.starting_balance,
            key=f"challenge:{challenge.pk}:funded",
            label=f"{plan.name} · funded",
            challenge=challenge,
            stage=EvaluatedAccount.Stage.FUNDED,
            phase=None,
        )
        challenge.status = Challenge.Status.FUNDED
        challenge.save(update_fields=["status"])
        event = "funded"
    audit_record(
        action=f"challenge.{event}",
        subject=challenge,
        after={
            "passed_account": account.trading_account_id,
            "next": new.trading_account_id,
            "decided_at": account.decided_at,
        },
    )
    notify_trader(challenge.trader, event, challenge=challenge, account=new, passed=account)


def _account_failed(account: EvaluatedAccount) -> None:
    reason = {
        "max_loss": "the maximum loss limit",
        "daily_loss": "the daily loss limit",
        "max_duration": "the time limit",
    }.get(account.reason, account.reason)
    _stop_trading(
        account,
        f"Breached {reason}." if account.reason != "max_duration" else "The time limit ran out.",
    )
    account.closed_at, account.close_reason = clock.now(), account.status
    account.save(update_fields=["closed_at", "close_reason"])
    challenge = account.challenge
    if challenge is not None and challenge.status in (
        Challenge.Status.ACTIVE,
        Challenge.Status.FUNDED,
    ):
        challenge.status = Challenge.Status.FAILED
        challenge.ended_at = clock.now()
        challenge.end_reason = account.reason
        challenge.retry_discount_pct = challenge.plan.retry_discount_pct
        challenge.save(update_fields=["status", "ended_at", "end_reason", "retry_discount_pct"])
    audit_record(
        action=f"evaluation.{account.status}",
        subject=account.trading_account,
        after={
            "reason": account.reason,
            "decided_at": account.decided_at,
            "challenge": account.challenge_id,
        },
    )
    notify_trader(account.trader, "failed", challenge=challenge, account=account)


@transaction.atomic
def funded_account_open(
    *,
    trader: User,
    ruleset: RuleSet,
    allocation: Decimal,
    actor: User,
    reason: str,
    venue: str = "paper",
) -> EvaluatedAccount:
    """The traditional model: a firm admin funds a hired trader directly."""
    if ruleset.status != "published":
        raise LifecycleError("Only a published rule set can be given to an account.")
    if allocation <= 0:
        raise LifecycleError("The allocation must be positive.")
    if not reason.strip():
        raise LifecycleError("Say why this trader is funded directly (it is audited).")
    count = EvaluatedAccount.objects.filter(trader=trader, challenge__isnull=True).count()
    account = _open_evaluated(
        trader=trader,
        ruleset=ruleset,
        balance=allocation,
        key=f"direct:{trader.pk}:{count + 1}",
        label=f"Funded · {ruleset.name}",
        challenge=None,
        stage=EvaluatedAccount.Stage.FUNDED,
        phase=None,
        venue=venue,
        actor=actor,
    )
    audit_record(
        action="account.fund_direct",
        subject=account.trading_account,
        actor=actor,
        after={
            "trader": trader.pk,
            "ruleset": ruleset.pk,
            "allocation": allocation,
            "reason": reason,
        },
    )
    notify_trader(trader, "funded", challenge=None, account=account)
    return account


@transaction.atomic
def account_terminate(*, account: EvaluatedAccount, actor: User, reason: str) -> EvaluatedAccount:
    """Close any account: orders cancelled, positions closed, account closed, audited."""
    if not reason.strip():
        raise LifecycleError("A termination needs a reason (it is audited and told to the trader).")
    account = (
        EvaluatedAccount.objects.select_for_update(of=("self",))
        .select_related("trading_account", "challenge")
        .get(pk=account.pk)
    )
    if account.closed_at is not None and account.close_reason == "terminated":
        return account
    _stop_trading(account, f"Terminated by the firm: {reason}")
    if account.status == EvaluatedAccount.Status.ACTIVE:
        account.status = EvaluatedAccount.Status.CLOSED
    account.closed_at, account.close_reason = clock.now(), "terminated"
    account.save(update_fields=["status", "closed_at", "close_reason"])
    TradingAccount.objects.filter(pk=account.trading_account_id).update(
        status=TradingAccount.Status.CLOSED, closed_at=clock.now()
    )
    if account.challenge and account.challenge.status in (
        Challenge.Status.ACTIVE,
        Challenge.Status.FUNDED,
    ):
        Challenge.objects.filter(pk=account.challenge_id).update(
            status=Challenge.Status.TERMINATED, ended_at=clock.now(), end_reason=reason
        )
    audit_record(
        action="account.terminate",
        subject=account.trading_account,
        actor=actor,
        after={"reason": reason},
    )
    notify_trader(
        account.trader, "terminated", challenge=account.challenge, account=account, reason=reason
    )
    return account
