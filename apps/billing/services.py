"""Every write of billing: checkouts, payments, failures, refunds and chargebacks, webhooks.

Each is one transaction and audited. A payment starts its challenge in the same transaction
(`challenge_start` with the payment's id as purchase_ref), so a paid purchase without a
challenge, or a challenge without a payment, never commits.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction

from apps.accounts.models import TraderProfile, User
from apps.billing import pricing
from apps.billing.models import DiscountCode, Purchase, WebhookEvent
from apps.billing.providers import base as events
from apps.billing.providers import provider_get
from apps.billing.providers.base import ProviderError, ProviderEvent
from apps.billing.providers.sandbox import SandboxProvider
from apps.billing.receipts import receipt_send
from apps.billing.selectors import (
    country_name,
    country_refused,
    discount_code_uses,
    retry_offer,
)
from apps.challenges.lifecycle import account_terminate, challenge_start
from apps.challenges.models import Plan
from apps.challenges.models_lifecycle import Challenge
from apps.core import clock
from apps.core.services import audit_record

log = logging.getLogger(__name__)

# How long an unpaid checkout holds its discount code (Stripe's session lives as long).
CHECKOUT_MINUTES = 60


class BillingError(Exception):
    """Something the candidate can correct; `field` names the form field, where there is one."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


# --- checkout --------------------------------------------------------------------------------


def _country_check(buyer: User, country: str) -> str:
    country = (country or "").strip().upper()
    if not country:
        raise BillingError("Choose the country you live in.", field="country")
    profile_country = (
        TraderProfile.objects.filter(user=buyer).values_list("country", flat=True).first() or ""
    )
    for code in (profile_country, country):
        if country_refused(code):
            raise BillingError(
                f"We cannot sell challenges to residents of {country_name(code)}: the firm does "
                "not serve that country. Nothing was charged.",
                field="country",
            )
    return country


def _retry_check(buyer: User, plan: Plan, retry_of: Challenge | None) -> Decimal | None:
    if retry_of is None:
        return None
    if retry_of.trader_id != buyer.pk:
        raise BillingError("That challenge is not yours.", field="retry")
    offer = retry_offer(retry_of)
    if offer is None:
        raise BillingError(
            "This retry discount is not available: it is offered once, for a failed challenge.",
            field="retry",
        )
    if offer.plan.code != plan.code:
        raise BillingError(
            f"The retry discount is for {offer.plan.name}, not {plan.name}.", field="retry"
        )
    return offer.discount_pct


def _code_for_update(text: str) -> DiscountCode | None:
    text = (text or "").strip().upper()
    if not text:
        return None
    # The row lock serialises every checkout of this code: the uses counted below cannot
    # change until this transaction ends, so two checkouts never both take the last use.
    code = DiscountCode.objects.select_for_update().filter(code=text).first()
    if code is None:
        raise BillingError(f"There is no discount code {text}.", field="discount_code")
    return code


def _code_check(code: DiscountCode, plan: Plan) -> None:
    now = clock.now()
    try:
        pricing.code_check(code, plan_code=plan.code, currency=plan.currency, now=now)
    except pricing.CodeRefused as exc:
        raise BillingError(str(exc), field="discount_code") from None
    if code.max_uses is not None and discount_code_uses(code, now=now) >= code.max_uses:
        raise BillingError(
            f"The code {code.code} has been used up: it was good for {code.max_uses} "
            f"purchase{'s' if code.max_uses != 1 else ''}.",
            field="discount_code",
        )


def checkout_quote(
    *, buyer: User, plan: Plan, discount_code: str = "", retry_of: Challenge | None = None
) -> pricing.Quote:
    """The price the candidate would pay (a preview: nothing is reserved)."""
    retry_pct = _retry_check(buyer, plan, retry_of)
    code = None
    text = (discount_code or "").strip().upper()
    if text:
        code = DiscountCode.objects.filter(code=text).first()
        if code is None:
            raise BillingError(f"There is no discount code {text}.", field="discount_code")
        _code_check(code, plan)
    return pricing.quote_compute(
        currency=plan.currency, list_price=plan.price, retry_discount_pct=retry_pct, code=code
    )


def checkout_start(
    *,
    buyer: User,
    plan: Plan,
    country: str,
    idempotency_key: str,
    discount_code: str = "",
    retry_of: Challenge | None = None,
    provider: str | None = None,
) -> Purchase:
    """A purchase awaiting payment, its discount code's use taken. The same idempotency key
    returns the same purchase (a form sent twice buys once)."""
    if not idempotency_key or len(idempotency_key) > 64:
        raise BillingError("This form is out of date: reload the page and try again.")
    existing = Purchase.objects.filter(buyer=buyer, idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    if plan.status != "published":
        raise BillingError(f"{plan.name} is no longer on sale.")
    country = _country_check(buyer, country)
    retry_pct = _retry_check(buyer, plan, retry_of)
    provider_name = provider or provider_get().name
    try:
        with transaction.atomic():
            code = _code_for_update(discount_code)
            if code is not None:
                _code_check(code, plan)
            quote = pricing.quote_compute(
                currency=plan.currency,
                list_price=plan.price,
                retry_discount_pct=retry_pct,
                code=code,
            )
            now = clock.now()
            purchase = Purchase.objects.create(
                ref=f"pur_{secrets.token_hex(10)}",
                buyer=buyer,
                plan=plan,
                country=country,
                currency=plan.currency,
                list_price=quote.list_price,
                retry_of=retry_of,
                retry_discount_pct=quote.retry_discount_pct,
                retry_discount=quote.retry_discount,
                discount_code=code,
                code_discount=quote.code_discount,
                amount=quote.amount,
                provider="free" if quote.amount == 0 else provider_name,
                idempotency_key=idempotency_key,
                created_at=now,
                expires_at=now + timedelta(minutes=CHECKOUT_MINUTES),
            )
            audit_record(
                action="purchase.start",
                subject=purchase,
                actor=buyer,
                after={
                    "plan": plan.pk,
                    "amount": quote.amount,
                    "currency": plan.currency,
                    "code": quote.code,
                    "retry_of": retry_of.pk if retry_of else None,
                    "country": country,
                    "provider": purchase.provider,
                },
            )
    except IntegrityError:
        # The same form, sent twice at once: the first one's purchase is the answer.
        existing = Purchase.objects.filter(buyer=buyer, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing
    if purchase.amount == 0:
        # A 100 % discount: nothing to charge, so no provider is asked.
        return payment_succeeded(purchase=purchase, payment_ref=f"free_{purchase.ref}")
    return purchase


def checkout_begin(*, purchase: Purchase, success_url: str, cancel_url: str) -> str:
    """Open the provider's checkout for a pending purchase; the URL to send the candidate to.
    The provider is called outside any transaction (it is a network call)."""
    if purchase.status != Purchase.Status.PENDING:
        raise BillingError("This checkout is closed: start a new one.")
    provider = provider_get(purchase.provider)
    try:
        redirect = provider.begin(purchase, success_url=success_url, cancel_url=cancel_url)
    except ProviderError as exc:
        purchase_fail(purchase=purchase, reason=str(exc))
        raise BillingError(str(exc)) from None
    if redirect.provider_ref and not purchase.provider_ref:
        Purchase.objects.filter(pk=purchase.pk, provider_ref="").update(
            provider_ref=redirect.provider_ref
        )
    return redirect.url


# --- outcomes --------------------------------------------------------------------------------


def _locked(purchase: Purchase) -> Purchase:
    return (
        Purchase.objects.select_for_update(of=("self",))
        .select_related("plan", "buyer", "retry_of")
        .get(pk=purchase.pk)
    )


@transaction.atomic
def payment_succeeded(
    *,
    purchase: Purchase,
    payment_ref: str,
    amount: Decimal | None = None,
    provider_ref: str = "",
    actor: User | None = None,
) -> Purchase:
    """The payment went through: the purchase is paid and its challenge starts, at once and
    once (a repeat, from a second webhook or the return page, changes nothing)."""
    purchase = _locked(purchase)
    if purchase.status == Purchase.Status.PAID or purchase.is_void:
        return purchase
    if not payment_ref:
        raise BillingError("A payment without an id cannot start a challenge.")
    if amount is not None and amount != purchase.amount:
        # Money moved, but not the amount quoted: a person must look at it.
        log.error("purchase %s: paid %s, expected %s", purchase.ref, amount, purchase.amount)
        purchase.status = Purchase.Status.FAILED
        purchase.failure_reason = (
            f"Paid {amount} {purchase.currency} but the price was {purchase.amount}: support "
            "will contact you."
        )[:300]
        purchase.closed_at = clock.now()
        purchase.save(update_fields=["status", "failure_reason", "closed_at"])
        audit_record(
            action="purchase.amount_mismatch",
            subject=purchase,
            actor=actor,
            after={"paid": amount, "expected": purchase.amount, "payment": payment_ref},
        )
        return purchase
    retry_of = purchase.retry_of
    if (
        retry_of is not None
        and Purchase.objects.filter(retry_of=retry_of, status=Purchase.Status.PAID)
        .exclude(pk=purchase.pk)
        .exists()
    ):
        # Two checkouts of one retry offer, both paid: the second still gets its challenge at
        # the price it paid, but the offer was the first one's.
        purchase.retry_of = retry_of = None
    now = clock.now()
    before = purchase.status
    purchase.status = Purchase.Status.PAID
    purchase.payment_ref = payment_ref
    purchase.paid_at = now
    purchase.closed_at = None
    purchase.failure_reason = ""
    if provider_ref and not purchase.provider_ref:
        purchase.provider_ref = provider_ref
    purchase.receipt_number = f"R{now:%Y}-{purchase.pk:06d}"
    challenge = challenge_start(
        trader=purchase.buyer,
        plan=purchase.plan,
        purchase_ref=payment_ref,
        price_paid=purchase.amount,
        retry_of=retry_of,
    )
    purchase.challenge = challenge
    purchase.save()
    audit_record(
        action="purchase.paid",
        subject=purchase,
        actor=actor,
        actor_label="" if actor else f"payment:{purchase.provider}",
        before={"status": before},
        after={
            "status": "paid",
            "payment": payment_ref,
            "amount": purchase.amount,
            "challenge": challenge.pk,
            "receipt": purchase.receipt_number,
        },
    )
    receipt_send(purchase)
    return purchase


def _close(purchase: Purchase, status: str, reason: str, action: str) -> Purchase:
    purchase = _locked(purchase)
    if purchase.status != Purchase.Status.PENDING:
        return purchase  # paid, already closed, or void: a late "failed" changes nothing
    purchase.status = status
    purchase.failure_reason = reason[:300]
    purchase.closed_at = clock.now()
    purchase.save(update_fields=["status", "failure_reason", "closed_at"])
    audit_record(action=action, subject=purchase, after={"status": status, "reason": reason})
    return purchase


@transaction.atomic
def purchase_fail(*, purchase: Purchase, reason: str) -> Purchase:
    """The payment failed: nothing was charged; the discount code's use is given back."""
    return _close(purchase, Purchase.Status.FAILED, reason, "purchase.failed")


@transaction.atomic
def purchase_abandon(*, purchase: Purchase, reason: str) -> Purchase:
    """The candidate left (or the checkout expired) without paying."""
    return _close(purchase, Purchase.Status.ABANDONED, reason, "purchase.abandoned")


@transaction.atomic
def purchase_void(
    *, purchase: Purchase, effect: str, reason: str, actor: User | None = None
) -> Purchase:
    """A refund or a chargeback: the purchase is void and so is its challenge, whose open
    accounts stop (orders cancelled, positions closed) and close."""
    if effect not in (Purchase.Status.REFUNDED, Purchase.Status.DISPUTED):
        raise ValueError(f"not a void: {effect!r}")
    purchase = _locked(purchase)
    if purchase.is_void or purchase.status != Purchase.Status.PAID:
        return purchase
    purchase.status = effect
    purchase.voided_at = clock.now()
    purchase.void_reason = reason[:300]
    purchase.save(update_fields=["status", "voided_at", "void_reason"])
    audit_record(
        action=f"purchase.{effect}",
        subject=purchase,
        actor=actor,
        after={"status": effect, "reason": reason, "challenge": purchase.challenge_id},
    )
    if purchase.challenge_id:
        challenge_void(challenge=purchase.challenge, reason=reason, actor=actor)
    return purchase


@transaction.atomic
def challenge_void(*, challenge: Challenge, reason: str, actor: User | None = None) -> Challenge:
    """Void a challenge whose payment was taken back: every open account is terminated (the
    lifecycle stops and closes it, audited, the trader told), the challenge marked void."""
    challenge = Challenge.objects.select_for_update().get(pk=challenge.pk)
    if challenge.status == Challenge.Status.VOID:
        return challenge
    for account in challenge.accounts.filter(closed_at__isnull=True).order_by("pk"):
        account_terminate(account=account, actor=actor, reason=f"payment {reason}")
    before = challenge.status
    now = clock.now()
    Challenge.objects.filter(pk=challenge.pk).update(
        status=Challenge.Status.VOID, ended_at=now, end_reason=f"void: {reason}"[:200]
    )
    audit_record(
        action="challenge.void",
        subject=challenge,
        actor=actor,
        before={"status": before},
        after={"status": "void", "reason": reason},
    )
    challenge.refresh_from_db()
    return challenge


# --- the sandbox page and the provider's return page ------------------------------------------


def sandbox_complete(*, purchase: Purchase, outcome: str) -> Purchase:
    """The TEST checkout page's buttons: pay (succeeds), decline (fails), cancel."""
    if purchase.provider != "sandbox":
        raise BillingError("This checkout is not a TEST checkout.")
    SandboxProvider()._allowed()
    if purchase.status == Purchase.Status.PAID:
        return purchase  # a second click on "Pay": nothing is charged twice
    if purchase.status != Purchase.Status.PENDING:
        raise BillingError(
            f"This checkout is closed ({purchase.get_status_display().lower()}): nothing was "
            "charged. Start a new one."
        )
    if purchase.expires_at <= clock.now():
        purchase_abandon(purchase=purchase, reason="the checkout expired before it was paid")
        raise BillingError(
            "This checkout expired before it was paid; nothing was charged. Start a new one."
        )
    if outcome == "pay":
        return payment_succeeded(
            purchase=purchase, payment_ref=SandboxProvider.new_payment_ref(), amount=purchase.amount
        )
    if outcome == "decline":
        return purchase_fail(purchase=purchase, reason="The TEST card was declined.")
    if outcome == "cancel":
        return purchase_abandon(purchase=purchase, reason="cancelled at the payment page")
    raise BillingError(f"Unknown choice {outcome!r}.")


def checkout_confirm(*, purchase: Purchase) -> Purchase:
    """On the provider's return page: ask the provider, so the challenge starts at once even
    if its webhook is late (both paths start one challenge)."""
    if purchase.status != Purchase.Status.PENDING:
        return purchase
    try:
        event = provider_get(purchase.provider).confirm(purchase)
    except ProviderError:
        return purchase
    if event is not None and event.effect == events.PAID:
        return payment_succeeded(
            purchase=purchase,
            payment_ref=event.payment_ref or event.provider_ref,
            amount=event.amount,
            provider_ref=event.provider_ref,
        )
    return purchase


# --- webhooks --------------------------------------------------------------------------------


def _purchase_for(provider: str, event: ProviderEvent) -> Purchase | None:
    rows = Purchase.objects.filter(provider=provider)
    if event.purchase_ref:
        found = rows.filter(ref=event.purchase_ref).first()
        if found is not None:
            return found
    if event.payment_ref:
        found = rows.filter(payment_ref=event.payment_ref).first()
        if found is not None:
            return found
    if event.provider_ref:
        return rows.filter(provider_ref=event.provider_ref).first()
    return None


def _apply(provider: str, event: ProviderEvent, purchase: Purchase | None) -> str:
    if event.effect == events.IGNORED:
        return f"ignored ({event.reason or event.kind})"
    if purchase is None:
        log.warning("%s webhook %s names no purchase of ours", provider, event.event_id)
        return "no matching purchase"
    if event.effect == events.PAID:
        done = payment_succeeded(
            purchase=purchase,
            payment_ref=event.payment_ref or event.provider_ref,
            amount=event.amount,
            provider_ref=event.provider_ref,
        )
        return f"purchase {done.status}; challenge {done.challenge_id}"
    if event.effect == events.FAILED:
        return f"purchase {purchase_fail(purchase=purchase, reason=event.reason).status}"
    if event.effect == events.ABANDONED:
        done = purchase_abandon(purchase=purchase, reason="the checkout expired")
        return f"purchase {done.status}"
    done = purchase_void(purchase=purchase, effect=event.effect, reason=event.reason)
    return f"purchase {done.status}; challenge {done.challenge_id} void"


def webhook_receive(
    *, provider: str, payload: bytes, headers: Mapping[str, str]
) -> tuple[WebhookEvent, bool]:
    """Verify and apply one webhook delivery: (its record, whether it was a repeat).

    Raises WebhookRejected (nothing done) for a bad signature or body. A delivery seen before
    changes nothing; one that fails on our side rolls back whole, so the provider's retry
    applies it afresh.
    """
    event = provider_get(provider).parse_webhook(payload, headers)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(
                    provider=provider,
                    event_id=event.event_id,
                    kind=event.kind,
                    payload=event.payload,
                )
        except IntegrityError:
            return WebhookEvent.objects.get(provider=provider, event_id=event.event_id), True
        purchase = _purchase_for(provider, event)
        record.outcome = _apply(provider, event, purchase)[:300]
        record.purchase = purchase
        record.save(update_fields=["outcome", "purchase"])
    return record, False


# --- the firm's side -------------------------------------------------------------------------


@transaction.atomic
def discount_code_save(*, code: DiscountCode, actor: User | None) -> DiscountCode:
    """Create or change a discount code (the admin's form), audited."""
    code.code = code.code.strip().upper()
    created = code.pk is None
    code.full_clean()
    code.save()
    audit_record(
        action="discount_code.create" if created else "discount_code.change",
        subject=code,
        actor=actor,
        after={
            "code": code.code,
            "kind": code.kind,
            "value": code.value,
            "valid_from": code.valid_from,
            "valid_until": code.valid_until,
            "max_uses": code.max_uses,
            "plans": list(code.plan_codes),
            "active": code.active,
        },
    )
    return code
