"""Stripe Checkout through the official library, mocked only at the network edge
(`stripe.checkout.Session.create` / `retrieve`), and webhooks signed offline exactly as Stripe
signs them: Stripe-Signature = t=<unix time>,v1=HMAC_SHA256(secret, f"{t}.{payload}")."""

import hashlib
import hmac
import json
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
import stripe
from django.test import override_settings

from apps.billing.models import Purchase, WebhookEvent
from apps.billing.services import BillingError, checkout_begin
from apps.challenges.models_lifecycle import Challenge
from apps.core.models import AuditEvent
from apps.trading.models import TradingAccount
from tests.billing.support import a_code, a_plan, start
from tests.factories import UserFactory

SECRET = "whsec_test_0123456789abcdef"
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("stripe_settings"),
]


@pytest.fixture
def stripe_settings():
    with override_settings(
        PAYMENT_PROVIDER="stripe",
        STRIPE_SECRET_KEY="sk_test_not_a_real_key",
        STRIPE_WEBHOOK_SECRET=SECRET,
    ):
        yield


@pytest.fixture
def plan():
    return a_plan()


@pytest.fixture
def created(monkeypatch):
    """Stripe's Session.create, stubbed: what we asked for, and a session like Stripe's."""
    calls = []

    def create(**params):
        calls.append(params)
        return SimpleNamespace(
            id=f"cs_test_{len(calls)}",
            url=f"https://checkout.stripe.com/c/pay/cs_test_{len(calls)}",
        )

    monkeypatch.setattr(stripe.checkout.Session, "create", create)
    return calls


def sign(payload: str, secret: str = SECRET, t: int | None = None) -> str:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def deliver(client, event: dict, *, signature: str | None = None, payload: str | None = None):
    body = payload if payload is not None else json.dumps(event)
    return client.post(
        "/billing/webhooks/stripe/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature if signature is not None else sign(body),
    )


def completed(purchase: Purchase, *, event_id="evt_1", amount=None, pi="pi_123") -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": purchase.provider_ref,
                "object": "checkout.session",
                "client_reference_id": purchase.ref,
                "metadata": {"purchase": purchase.ref},
                "payment_status": "paid",
                "payment_intent": pi,
                "amount_total": int((amount or purchase.amount) * 100),
                "currency": "usd",
            }
        },
    }


def opened(buyer, plan, created, **kwargs) -> Purchase:
    purchase = start(buyer, plan, provider="stripe", **kwargs)
    url = checkout_begin(purchase=purchase, success_url="http://t/ok", cancel_url="http://t/cancel")
    assert url.startswith("https://checkout.stripe.com/")
    purchase.refresh_from_db()
    return purchase


def test_checkout_creates_a_stripe_session_for_the_discounted_amount(plan, created):
    a_code("SAVE10")
    buyer = UserFactory()
    purchase = opened(buyer, plan, created, code="SAVE10")
    (params,) = created
    assert params["mode"] == "payment" and params["api_key"] == "sk_test_not_a_real_key"
    assert params["client_reference_id"] == purchase.ref == params["metadata"]["purchase"]
    assert params["line_items"] == [
        {
            "quantity": 1,
            "price_data": {
                "currency": "usd",
                "unit_amount": 9000,
                "product_data": {"name": plan.name},
            },
        }
    ]
    assert params["customer_email"] == buyer.email
    assert params["idempotency_key"] == f"checkout-{purchase.ref}"
    assert (purchase.provider, purchase.provider_ref, purchase.status) == (
        "stripe",
        "cs_test_1",
        "pending",
    )
    assert not Challenge.objects.exists()  # nothing starts before Stripe says it is paid


def test_the_checkout_view_sends_the_candidate_to_stripe(client, plan, created):
    client.force_login(UserFactory())
    page = client.get(f"/plans/{plan.code}/checkout/").content.decode()
    key = page.split('name="idempotency_key" value="')[1].split('"')[0]
    response = client.post(
        f"/plans/{plan.code}/checkout/", {"country": "GB", "idempotency_key": key}
    )
    assert response.status_code == 302
    assert response["Location"] == "https://checkout.stripe.com/c/pay/cs_test_1"
    assert created[0]["success_url"].endswith(f"/billing/return/{Purchase.objects.get().ref}/")


def test_stripe_unreachable_fails_the_checkout_and_gives_the_code_back(plan, monkeypatch):
    def down(**params):
        raise stripe.APIConnectionError("network down")

    monkeypatch.setattr(stripe.checkout.Session, "create", down)
    a_code("ONCE", max_uses=1)
    purchase = start(UserFactory(), plan, code="ONCE", provider="stripe")
    with pytest.raises(BillingError, match="could not be opened; nothing was charged"):
        checkout_begin(purchase=purchase, success_url="http://t/ok", cancel_url="http://t/no")
    purchase.refresh_from_db()
    assert purchase.status == "failed"
    assert start(UserFactory(), plan, code="ONCE").status == "pending"  # the use came back


def test_a_signed_completed_webhook_starts_the_challenge(client, plan, created):
    purchase = opened(UserFactory(), plan, created)
    response = deliver(client, completed(purchase))
    assert response.status_code == 200 and response.json()["duplicate"] is False
    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_ref) == ("paid", "pi_123")
    assert purchase.challenge.purchase_ref == "pi_123"
    assert WebhookEvent.objects.get(event_id="evt_1").purchase == purchase


def test_a_webhook_delivered_twice_starts_one_challenge(client, plan, created):
    purchase = opened(UserFactory(), plan, created)
    event = completed(purchase)
    assert deliver(client, event).json()["duplicate"] is False
    again = deliver(client, event)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    # the same payment told again under another event id (async success) changes nothing
    other = {**event, "id": "evt_2", "type": "checkout.session.async_payment_succeeded"}
    assert deliver(client, other).status_code == 200
    assert Challenge.objects.count() == 1
    assert AuditEvent.objects.filter(action="purchase.paid").count() == 1


def test_the_return_page_confirms_with_stripe_and_the_late_webhook_adds_nothing(
    client, plan, created, monkeypatch
):
    buyer = UserFactory()
    purchase = opened(buyer, plan, created)
    session = completed(purchase)["data"]["object"]
    monkeypatch.setattr(
        stripe.checkout.Session, "retrieve", lambda sid, **kw: SimpleNamespace(**session)
    )
    client.force_login(buyer)
    response = client.get(f"/billing/return/{purchase.ref}/")
    purchase.refresh_from_db()
    assert response["Location"] == f"/dashboard/#challenge-{purchase.challenge_id}"
    assert deliver(client, completed(purchase)).status_code == 200
    assert Challenge.objects.count() == 1


@pytest.mark.parametrize(
    "how",
    ["wrong secret", "tampered body", "no header", "stale timestamp", "not json"],
)
def test_a_webhook_that_does_not_verify_is_refused_and_changes_nothing(client, plan, created, how):
    purchase = opened(UserFactory(), plan, created)
    body = json.dumps(completed(purchase))
    signature = sign(body)
    if how == "wrong secret":
        signature = sign(body, secret="whsec_someone_else")
    elif how == "tampered body":
        body = body.replace('"amount_total": 10000', '"amount_total": 1')
        assert '"amount_total": 1,' in body
    elif how == "no header":
        signature = ""
    elif how == "stale timestamp":
        signature = sign(body, t=int(time.time()) - 3600)
    else:
        body = "{not json"
        signature = sign(body)
    response = deliver(client, {}, payload=body, signature=signature)
    assert response.status_code == 400 and "error" in response.json()
    purchase.refresh_from_db()
    assert purchase.status == "pending"
    assert not Challenge.objects.exists() and not WebhookEvent.objects.exists()


def test_a_paid_amount_that_differs_from_the_price_starts_nothing(client, plan, created):
    purchase = opened(UserFactory(), plan, created)
    deliver(client, completed(purchase, amount=Decimal("1.00")))
    purchase.refresh_from_db()
    assert purchase.status == "failed" and "support will contact you" in purchase.failure_reason
    assert not Challenge.objects.exists()


def test_an_expired_session_abandons_the_checkout(client, plan, created):
    purchase = opened(UserFactory(), plan, created)
    event = completed(purchase)
    event["type"] = "checkout.session.expired"
    event["data"]["object"]["payment_status"] = "unpaid"
    deliver(client, event)
    purchase.refresh_from_db()
    assert purchase.status == "abandoned" and not Challenge.objects.exists()


def _charge_event(kind: str, event_id: str, obj: dict) -> dict:
    return {"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}


@pytest.fixture
def paid(client, plan, created):
    purchase = opened(UserFactory(), plan, created)
    deliver(client, completed(purchase))
    purchase.refresh_from_db()
    return purchase


def _assert_void(purchase: Purchase, status: str) -> None:
    purchase.refresh_from_db()
    assert purchase.status == status and purchase.voided_at is not None
    challenge = Challenge.objects.get(pk=purchase.challenge_id)
    assert challenge.status == "void"
    account = challenge.accounts.get()
    assert account.closed_at is not None and account.close_reason == "terminated"
    trading = TradingAccount.objects.get(pk=account.trading_account_id)
    assert (trading.status, trading.state) == ("closed", "halted")
    assert AuditEvent.objects.filter(action="challenge.void").count() == 1
    assert AuditEvent.objects.filter(action=f"purchase.{status}").count() == 1


def test_a_refund_voids_the_challenge_and_stops_its_accounts(client, paid):
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": "pi_123",
        "refunded": True,
        "amount": 10000,
        "amount_refunded": 10000,
        "currency": "usd",
    }
    response = deliver(client, _charge_event("charge.refunded", "evt_r1", charge))
    assert response.status_code == 200
    _assert_void(paid, "refunded")
    deliver(client, _charge_event("charge.refunded", "evt_r1", charge))  # again: nothing more
    _assert_void(paid, "refunded")


def test_a_partial_refund_leaves_the_challenge_running(client, paid):
    charge = {
        "id": "ch_1",
        "payment_intent": "pi_123",
        "refunded": False,
        "amount_refunded": 1000,
        "currency": "usd",
    }
    deliver(client, _charge_event("charge.refunded", "evt_r2", charge))
    paid.refresh_from_db()
    assert paid.status == "paid" and paid.challenge.status == "active"


def test_a_chargeback_voids_the_challenge(client, paid):
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "charge": "ch_1",
        "payment_intent": "pi_123",
        "amount": 10000,
        "currency": "usd",
        "reason": "fraudulent",
    }
    deliver(client, _charge_event("charge.dispute.created", "evt_d1", dispute))
    _assert_void(paid, "disputed")
    assert paid.void_reason == "chargeback (fraudulent)"
