"""Payout writes: pinning funded terms, the trader's request, finance's approval, rejection
and payment. Each is one transaction, audited; money leaves the venue after commit.

Approval is the one place profit leaves an account: one `payout` ledger entry for the whole
distributable profit (keyed `payout:<account>:<period>`, which the rules engine reads as an
adjustment with `rebase: "anchors"`, so no trailing floor is breached by it) and the
high-water mark raised by the same amount, in one transaction under the payout's row lock.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts import roles
from apps.accounts.models import User
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.core import clock
from apps.core.services import audit_record
from apps.payouts import calc
from apps.payouts.models import FundedTerms, Payout
from apps.payouts.notify import notify_trader
from apps.payouts.selectors import funded_terms_preview, payout_facts, refund_due
from apps.trading.models import LedgerEntry, TradingAccount
from apps.trading.services import ledger_post, venue_account_of
from apps.trading.venues.registry import venue_for

log = logging.getLogger(__name__)
APPROVE_PERMISSION = "payouts.approve_payout"
TERMS_FIELDS = (
    "profit_split_pct",
    "payout_frequency",
    "first_payout_days",
    "min_payout",
    "payout_requires_flat",
    "refund_fee_with_first_payout",
    "consistency_max_best_day_share_pct",
    "consistency_of",
    "scaling_plan",
    "scaling_max_balance",
)


class PayoutError(Exception):
    """A payout action that cannot happen; the message says why, in words a person can act on."""

    def __init__(self, message: str, *, code: str = "invalid"):
        super().__init__(message)
        self.message, self.code = message, code


# --- terms -----------------------------------------------------------------------------------


def terms_json(terms: FundedTerms) -> dict[str, Any]:
    return {name: getattr(terms, name) for name in TERMS_FIELDS} | {
        "source": terms.source,
        "plan": terms.plan_id,
        "fee_paid": terms.fee_paid,
        "high_water_mark": terms.high_water_mark,
        "account_size": terms.account_size,
    }


@transaction.atomic
def funded_terms_pin(*, account: EvaluatedAccount, actor: User | None = None) -> FundedTerms:
    """The account's funded terms, copied from its plan (or the direct defaults) the first
    time they are needed; afterwards the same row, whatever the plan becomes."""
    existing = FundedTerms.objects.filter(account_id=account.pk).first()
    if existing is not None:
        return existing
    # Lock the account so two first uses pin once.
    account = (
        EvaluatedAccount.objects.select_for_update(of=("self",))
        .select_related("trading_account", "challenge__plan")
        .get(pk=account.pk)
    )
    existing = FundedTerms.objects.filter(account_id=account.pk).first()
    if existing is not None:
        return existing
    if account.stage != EvaluatedAccount.Stage.FUNDED:
        raise PayoutError("Only a funded account has funded terms.", code="not_funded")
    terms = funded_terms_preview(account)
    terms.save(force_insert=True)
    audit_record(
        action="payout.terms_pin",
        subject=account.trading_account,
        actor=actor,
        after=terms_json(terms),
    )
    return terms


def is_firm_admin(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.has_role(roles.FIRM_ADMIN))


def _lock_terms(account: EvaluatedAccount) -> FundedTerms:
    funded_terms_pin(account=account)
    return FundedTerms.objects.select_for_update().get(account_id=account.pk)


@transaction.atomic
def funded_terms_set(
    *, account: EvaluatedAccount, actor: User, values: dict[str, Any]
) -> FundedTerms:
    """A firm admin sets the terms of a directly funded account (terms pinned from a plan are
    what the trader bought, and never change here)."""
    if not is_firm_admin(actor):
        raise PayoutError("Only a firm admin can set funded terms.", code="forbidden")
    if account.challenge_id is not None:
        raise PayoutError(
            "This account's terms come from the plan the trader bought; they cannot be changed.",
            code="pinned",
        )
    unknown = set(values) - set(TERMS_FIELDS)
    if unknown:
        raise PayoutError(f"Not a term: {', '.join(sorted(unknown))}.")
    terms = _lock_terms(account)
    before = terms_json(terms)
    for name, value in values.items():
        setattr(terms, name, value)
    try:
        terms.clean()
    except ValidationError as exc:
        raise PayoutError("; ".join(exc.messages), code="invalid_terms") from None
    terms.updated_at = clock.now()
    terms.save()
    audit_record(
        action="payout.terms_set",
        subject=account.trading_account,
        actor=actor,
        before=before,
        after=terms_json(terms),
    )
    return terms


# --- after commit: the venue -----------------------------------------------------------------


def transfer_after_commit(
    *, model: type, pk: int, trading: TradingAccount, amount: Decimal, key: str
):
    """Move `amount` at the venue once the booking is committed (negative: from the account
    back to the firm). A failure is logged and retried by `venue_transfers_retry`; the
    venue's transfer is idempotent by key."""

    def send() -> None:
        try:
            venue_for(trading).transfer(venue_account_of(trading), amount, key=key)
        except Exception:
            log.exception("venue transfer %s of %s failed; it will be retried", key, amount)
            return
        model.objects.filter(pk=pk, venue_transferred_at__isnull=True).update(
            venue_transferred_at=clock.now()
        )

    transaction.on_commit(send)


# --- the trader asks -------------------------------------------------------------------------


def _figures_json(payout: Payout) -> dict[str, Any]:
    return {
        "account": payout.account_id,
        "period": payout.period,
        "status": payout.status,
        "gross_profit": payout.gross_profit,
        "split_pct": payout.split_pct,
        "trader_share": payout.trader_share,
        "firm_share": payout.firm_share,
        "fee_refund": payout.fee_refund,
        "amount": payout.amount,
    }


def payout_from(
    *,
    account: EvaluatedAccount,
    period: calc.Period,
    figures: calc.Figures,
    origin: str,
    status: str = Payout.Status.REQUESTED,
    reason: str = "",
    destination: str = "",
    run_id: int | None = None,
    requested_by: User | None = None,
    now: datetime,
    currency: str = "USD",
) -> Payout:
    """An unsaved payout with its figures (the run saves them in bulk)."""
    return Payout(
        account=account,
        trader_id=account.trader_id,
        origin=origin,
        run_id=run_id,
        period=period.label,
        period_start=period.start,
        period_end=period.end,
        status=status,
        currency=currency,
        gross_profit=figures.gross,
        split_pct=figures.split_pct,
        trader_share=figures.trader_share,
        firm_share=figures.firm_share,
        fee_refund=figures.refund,
        amount=figures.amount,
        reason=reason,
        destination=destination,
        requested_at=now,
        requested_by=requested_by,
    )


@transaction.atomic
def payout_request(
    *, account: EvaluatedAccount, actor: User, now: datetime | None = None
) -> Payout:
    """The trader asks for a payout of an on-request account: refused, with the reason and
    nothing written, before the waiting period, twice in a period, without an approved KYC or
    a payout destination, with open positions where the plan forbids them, below the minimum,
    or against the rule set's consistency rule."""
    now = now or clock.now()
    if actor.pk != account.trader_id:
        raise PayoutError("You can only ask for payouts of your own accounts.", code="not_owner")
    terms = _lock_terms(account)  # serialises requests, runs and approvals of one account
    account = EvaluatedAccount.objects.select_related("trading_account", "trader").get(
        pk=account.pk
    )
    if (
        account.stage != EvaluatedAccount.Stage.FUNDED
        or account.status != EvaluatedAccount.Status.ACTIVE
    ):
        raise PayoutError("Only an active funded account can be paid out.", code="not_active")
    if terms.payout_frequency != "on_request":
        when = calc.next_payout_at(
            frequency=terms.payout_frequency,
            funded_at=account.start,
            first_payout_days=terms.first_payout_days,
            now=now,
            period_taken=False,
        )
        raise PayoutError(
            f"Your plan pays out {terms.get_payout_frequency_display().lower()} by the payout "
            f"run (next on {when:%Y-%m-%d}); there is nothing to request.",
            code="not_on_request",
        )
    period = calc.period_of(terms.payout_frequency, now)
    facts = payout_facts(account=account, terms=terms, period=period)
    figures, problems = calc.assess(facts, now=now, period=period)
    if problems:
        first = calc.request_order(problems)[0]
        raise PayoutError(first.message, code=first.code)
    payout = payout_from(
        account=account,
        period=period,
        figures=figures,
        origin=Payout.Origin.REQUEST,
        destination=facts.destination,
        requested_by=actor,
        now=now,
        currency=terms.currency,
    )
    payout.save(force_insert=True)
    audit_record(action="payout.request", subject=payout, actor=actor, after=_figures_json(payout))
    return payout


# --- finance decides -------------------------------------------------------------------------


def is_finance(user: User) -> bool:
    return user.is_active and user.has_role(roles.FINANCE) and user.has_perm(APPROVE_PERMISSION)


def _require_finance(actor: User, payout: Payout, verb: str) -> None:
    if not is_finance(actor):
        raise PayoutError(f"Only finance can {verb} payouts.", code="forbidden")
    if actor.pk == payout.trader_id:
        raise PayoutError(f"You cannot {verb} your own payout.", code="own_payout")


def _locked(payout: Payout) -> Payout:
    # The guard against a double approval: the second of two racing decisions waits here,
    # then finds the payout decided.
    return Payout.objects.select_for_update().get(pk=payout.pk)


@transaction.atomic
def payout_approve(*, payout: Payout, actor: User, now: datetime | None = None) -> Payout:
    """Finance approves: the whole gross profit leaves the account as one `payout` ledger
    entry and the high-water mark rises by it, once, however often this is called."""
    now = now or clock.now()
    _require_finance(actor, payout, "approve")
    payout = _locked(payout)
    if payout.status != Payout.Status.REQUESTED:
        raise PayoutError(
            f"This payout is {payout.get_status_display().lower()}: only a requested payout "
            "can be approved.",
            code="not_requested",
        )
    account = EvaluatedAccount.objects.select_related("trading_account", "trader").get(
        pk=payout.account_id
    )
    if account.status != EvaluatedAccount.Status.ACTIVE:
        raise PayoutError(
            f"The account is {account.get_status_display().lower()} since the request: reject "
            "this payout with that reason.",
            code="not_active",
        )
    terms = _lock_terms(account)
    trading = TradingAccount.objects.select_for_update().get(pk=account.trading_account_id)
    account.trading_account = trading
    period = calc.Period(payout.period, payout.period_start, payout.period_end)
    facts = payout_facts(account=account, terms=terms, period=period, exclude=payout)
    _, problems = calc.assess(facts, now=now, period=period)
    blocking = [p for p in problems if p.code in ("kyc", "destination", "open_positions")]
    if blocking:
        raise PayoutError(
            f"Cannot approve now: {blocking[0].message} Reject it with that reason, or wait.",
            code=blocking[0].code,
        )
    available = calc.distributable(
        balance=facts.balance, high_water_mark=facts.high_water_mark, paid_out=facts.paid_out
    )
    if available < payout.gross_profit:
        raise PayoutError(
            f"The profit above the high-water mark is now {available:,} {payout.currency}, "
            f"below the {payout.gross_profit:,} requested (the account lost since): reject "
            "this payout with that reason.",
            code="profit_fell",
        )
    before = _figures_json(payout)
    refund = refund_due(terms)
    if refund != payout.fee_refund:  # the fee went with an earlier payout (or is due now)
        figures = calc.split(payout.gross_profit, payout.split_pct, refund, payout.currency)
        payout.fee_refund, payout.amount = figures.refund, figures.amount
    entry = ledger_post(
        account=trading,
        kind=LedgerEntry.Kind.PAYOUT,
        amount=-payout.gross_profit,
        key=payout.ledger_key,
        memo=f"Payout for {payout.period}: {payout.split_pct.normalize():f}% to the trader",
        actor=actor,
        at=now,
    )
    terms.high_water_mark += payout.gross_profit
    terms.paid_out_total += payout.gross_profit
    terms.fee_refunded = terms.fee_refunded or payout.fee_refund > 0
    terms.updated_at = now
    terms.save(update_fields=["high_water_mark", "paid_out_total", "fee_refunded", "updated_at"])
    payout.status = Payout.Status.APPROVED
    payout.approved_by, payout.decided_at, payout.ledger_entry = actor, now, entry
    payout.destination = facts.destination
    payout.save()
    audit_record(
        action="payout.approve",
        subject=payout,
        actor=actor,
        before=before,
        after={
            **_figures_json(payout),
            "ledger_key": entry.key,
            "high_water_mark": terms.high_water_mark,
        },
    )
    transfer_after_commit(
        model=Payout,
        pk=payout.pk,
        trading=trading,
        amount=-payout.gross_profit,
        key=payout.ledger_key,
    )
    notify_trader(account.trader, "approved", payout=payout)
    return payout


@transaction.atomic
def payout_reject(*, payout: Payout, actor: User, reason: str) -> Payout:
    """Finance rejects a requested payout; the reason is shown to the trader."""
    _require_finance(actor, payout, "reject")
    if not reason.strip():
        raise PayoutError("Say why the payout is rejected: the trader is shown it.", code="reason")
    payout = _locked(payout)
    if payout.status != Payout.Status.REQUESTED:
        raise PayoutError(
            f"This payout is {payout.get_status_display().lower()}: only a requested payout "
            "can be rejected.",
            code="not_requested",
        )
    payout.status, payout.reason = Payout.Status.REJECTED, reason.strip()
    payout.rejected_by, payout.decided_at = actor, clock.now()
    payout.save(update_fields=["status", "reason", "rejected_by", "decided_at"])
    audit_record(
        action="payout.reject",
        subject=payout,
        actor=actor,
        before={"status": Payout.Status.REQUESTED},
        after={"status": payout.status, "reason": payout.reason},
    )
    notify_trader(payout.trader, "rejected", payout=payout)
    return payout


@transaction.atomic
def payout_mark_paid(*, payout: Payout, actor: User, reference: str) -> Payout:
    """Finance records that the trader's money was sent, with the payment's reference."""
    _require_finance(actor, payout, "pay")
    reference = reference.strip()
    if not reference:
        raise PayoutError("Enter the payment's reference (transaction hash or bank reference).")
    payout = _locked(payout)
    if payout.status == Payout.Status.PAID and payout.payment_reference == reference:
        return payout  # a repeat of the same answer
    if payout.status != Payout.Status.APPROVED:
        raise PayoutError(
            f"This payout is {payout.get_status_display().lower()}: only an approved payout "
            "can be marked paid.",
            code="not_approved",
        )
    payout.status, payout.payment_reference = Payout.Status.PAID, reference
    payout.paid_by, payout.paid_at = actor, clock.now()
    payout.save(update_fields=["status", "payment_reference", "paid_by", "paid_at"])
    audit_record(
        action="payout.paid",
        subject=payout,
        actor=actor,
        before={"status": Payout.Status.APPROVED},
        after={"status": payout.status, "reference": reference, "amount": payout.amount},
    )
    notify_trader(payout.trader, "paid", payout=payout)
    return payout
