"""Stripe Checkout through the official library: a Checkout Session per purchase, and the
webhook verified by `stripe.Webhook.construct_event` (HMAC-SHA256 of "t.payload" with the
endpoint's signing secret, within five minutes) before anything is read from it."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import stripe
from django.conf import settings

from apps.billing.providers.base import (
    ABANDONED,
    DISPUTED,
    FAILED,
    IGNORED,
    PAID,
    REFUNDED,
    ProviderError,
    ProviderEvent,
    Redirect,
    WebhookRejected,
)
from apps.core.money import places

if TYPE_CHECKING:
    from apps.billing.models import Purchase

# Stripe has no USDC card payments: a USDC-priced plan is charged the same amount in USD.
STRIPE_CURRENCY = {"USD": "usd", "USDC": "usd", "EUR": "eur", "GBP": "gbp"}
# Stripe keeps a Checkout Session open 30 minutes at least and 24 hours at most.
SESSION_MINUTES = 60


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def minor_units(amount: Decimal, currency: str) -> int:
    return int(amount.scaleb(places(currency)).to_integral_value())


def from_minor_units(value: int | None, currency: str) -> Decimal | None:
    return None if value is None else Decimal(value).scaleb(-places(currency.upper()))


class StripeProvider:
    name = "stripe"

    def _key(self) -> str:
        if not settings.STRIPE_SECRET_KEY:
            raise ProviderError(
                "Card payments are not set up yet (STRIPE_SECRET_KEY is empty); nothing was "
                "charged. Please contact support."
            )
        return settings.STRIPE_SECRET_KEY

    def begin(self, purchase: Purchase, *, success_url: str, cancel_url: str) -> Redirect:
        currency = STRIPE_CURRENCY.get(purchase.currency)
        if currency is None:
            raise ProviderError(f"Card payments in {purchase.currency} are not available.")
        try:
            session = stripe.checkout.Session.create(
                api_key=self._key(),
                # A retried create (a timeout, a double click) returns the same session.
                idempotency_key=f"checkout-{purchase.ref}",
                mode="payment",
                client_reference_id=purchase.ref,
                customer_email=purchase.buyer.email,
                line_items=[
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": currency,
                            "unit_amount": minor_units(purchase.amount, purchase.currency),
                            "product_data": {"name": purchase.plan.name},
                        },
                    }
                ],
                metadata={"purchase": purchase.ref},
                payment_intent_data={"metadata": {"purchase": purchase.ref}},
                success_url=success_url,
                cancel_url=cancel_url,
                expires_at=int(time.time()) + SESSION_MINUTES * 60,
            )
        except stripe.StripeError as exc:
            raise ProviderError(
                "The card payment page could not be opened; nothing was charged. Please try "
                f"again in a minute. ({exc.user_message or type(exc).__name__})"
            ) from None
        return Redirect(url=_get(session, "url"), provider_ref=_get(session, "id"))

    def confirm(self, purchase: Purchase) -> ProviderEvent | None:
        if not purchase.provider_ref:
            return None
        try:
            session = stripe.checkout.Session.retrieve(purchase.provider_ref, api_key=self._key())
        except stripe.StripeError:
            return None  # the webhook will tell us
        return _session_event(
            f"confirm:{purchase.provider_ref}", "checkout.session.retrieved", session
        )

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            raise WebhookRejected("STRIPE_WEBHOOK_SECRET is not set: webhooks cannot be verified.")
        try:
            stripe.Webhook.construct_event(payload, headers.get("Stripe-Signature"), secret)
        except stripe.SignatureVerificationError as exc:
            raise WebhookRejected(f"bad signature: {exc.user_message or exc}") from None
        except ValueError:
            raise WebhookRejected("the body is not JSON") from None
        # The signature covers these exact bytes: read them as plain data.
        event = json.loads(payload)
        kind = event.get("type", "")
        obj = (event.get("data") or {}).get("object") or {}
        event_id = event.get("id", "")
        if kind in (
            "checkout.session.completed",
            "checkout.session.async_payment_succeeded",
            "checkout.session.async_payment_failed",
            "checkout.session.expired",
        ):
            return _session_event(event_id, kind, obj, payload=event)
        if kind == "charge.refunded":
            full = bool(obj.get("refunded"))
            return ProviderEvent(
                event_id=event_id,
                kind=kind,
                # A partial refund (a goodwill gesture) leaves the challenge running.
                effect=REFUNDED if full else IGNORED,
                payment_ref=obj.get("payment_intent") or "",
                purchase_ref=(obj.get("metadata") or {}).get("purchase", ""),
                amount=from_minor_units(obj.get("amount_refunded"), obj.get("currency", "usd")),
                reason="refunded" if full else "partially refunded",
                payload=event,
            )
        if kind == "charge.dispute.created":
            return ProviderEvent(
                event_id=event_id,
                kind=kind,
                effect=DISPUTED,
                payment_ref=obj.get("payment_intent") or "",
                amount=from_minor_units(obj.get("amount"), obj.get("currency", "usd")),
                reason=f"chargeback ({obj.get('reason') or 'no reason given'})",
                payload=event,
            )
        return ProviderEvent(event_id=event_id, kind=kind, effect=IGNORED, payload=event)


def _session_event(event_id: str, kind: str, session: Any, payload: dict | None = None):
    status = _get(session, "payment_status")
    if kind == "checkout.session.expired":
        effect = ABANDONED
    elif kind == "checkout.session.async_payment_failed":
        effect = FAILED
    elif status in ("paid", "no_payment_required"):
        effect = PAID
    else:
        effect = IGNORED  # e.g. a bank debit still clearing: async_payment_succeeded follows
    metadata = _get(session, "metadata") or {}
    return ProviderEvent(
        event_id=event_id,
        kind=kind,
        effect=effect,
        purchase_ref=_get(session, "client_reference_id") or _get(metadata, "purchase") or "",
        provider_ref=_get(session, "id") or "",
        payment_ref=_get(session, "payment_intent") or "",
        amount=from_minor_units(_get(session, "amount_total"), _get(session, "currency") or "usd"),
        reason="the payment failed" if effect == FAILED else "",
        payload=payload or {},
    )
