"""Checkout through the sandbox: refused countries, paying once, failures that charge nothing,
the challenge started at once, the receipt."""

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import override_settings

from apps.accounts.models import TraderProfile
from apps.billing.models import Purchase
from apps.billing.services import BillingError, sandbox_complete
from apps.challenges.models_lifecycle import Challenge
from apps.core import clock
from apps.core.models import AuditEvent
from tests.billing.support import a_code, a_plan, bought, start
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan():
    return a_plan()


def test_a_refused_country_chosen_at_checkout_is_refused_with_a_clear_message(plan):
    with pytest.raises(BillingError) as refused:
        start(UserFactory(), plan, country="US")
    assert refused.value.field == "country"
    assert refused.value.message == (
        "We cannot sell challenges to residents of United States of America: the firm does not "
        "serve that country. Nothing was charged."
    )
    assert not Purchase.objects.exists()


def test_a_refused_profile_country_is_refused_whatever_is_chosen(plan):
    buyer = UserFactory()
    TraderProfile.objects.create(user=buyer, country="IR")
    with pytest.raises(BillingError, match="residents of Iran"):
        start(buyer, plan, country="DE")


@override_settings(REFUSED_COUNTRIES=["FR"])
def test_the_refused_countries_come_from_settings(plan):
    with pytest.raises(BillingError, match="France"):
        start(UserFactory(), plan, country="FR")
    assert start(UserFactory(), plan, country="US").status == "pending"


def test_paying_in_the_sandbox_starts_the_challenge_at_once(plan):
    buyer = UserFactory()
    purchase = bought(buyer, plan)
    challenge = purchase.challenge
    assert purchase.status == "paid" and purchase.payment_ref.startswith("sbx_pi_")
    assert (challenge.trader, challenge.purchase_ref, challenge.price_paid) == (
        buyer,
        purchase.payment_ref,
        Decimal("100.00"),
    )
    account = challenge.accounts.get()
    assert (account.phase, account.trading_account.balance) == (1, Decimal("100000"))
    assert re.fullmatch(r"R\d{4}-\d{6}", purchase.receipt_number)
    assert AuditEvent.objects.filter(action="purchase.paid", subject_id=str(purchase.pk)).exists()


def test_pressing_pay_twice_charges_once_and_starts_one_challenge(plan):
    purchase = start(UserFactory(), plan)
    first = sandbox_complete(purchase=purchase, outcome="pay")
    again = sandbox_complete(purchase=purchase, outcome="pay")
    assert first.payment_ref == again.payment_ref
    assert Challenge.objects.count() == 1


def test_the_same_checkout_form_sent_twice_makes_one_purchase(plan):
    buyer, key = UserFactory(), uuid.uuid4().hex
    assert start(buyer, plan, key=key).pk == start(buyer, plan, key=key).pk
    assert Purchase.objects.count() == 1


def test_a_declined_payment_starts_nothing_and_cannot_be_paid_afterwards(plan):
    purchase = sandbox_complete(purchase=start(UserFactory(), plan), outcome="decline")
    assert (purchase.status, purchase.failure_reason) == ("failed", "The TEST card was declined.")
    with pytest.raises(BillingError, match="This checkout is closed"):
        sandbox_complete(purchase=purchase, outcome="pay")
    assert not Challenge.objects.exists()


def test_an_abandoned_checkout_that_expired_cannot_be_paid(plan):
    purchase = start(UserFactory(), plan)
    clock.advance(timedelta(minutes=61))
    with pytest.raises(BillingError, match="expired before it was paid; nothing was charged"):
        sandbox_complete(purchase=purchase, outcome="pay")
    purchase.refresh_from_db()
    assert purchase.status == "abandoned" and not Challenge.objects.exists()


@override_settings(PRODUCTION=True)
def test_the_sandbox_cannot_take_a_payment_in_production(plan):
    purchase = start(UserFactory(), plan)
    with pytest.raises(Exception, match="TEST checkout is off in production"):
        sandbox_complete(purchase=purchase, outcome="pay")
    assert not Challenge.objects.exists()


def test_the_receipt_is_emailed_once_the_payment_commits(plan, django_capture_on_commit_callbacks):
    buyer = UserFactory()
    a_code("SAVE10")
    with django_capture_on_commit_callbacks(execute=True):
        purchase = bought(buyer, plan, code="SAVE10")
    receipt = [m for m in mail.outbox if "Your receipt" in m.subject]
    assert len(receipt) == 1 and receipt[0].to == [buyer.email]
    body = receipt[0].body
    assert purchase.receipt_number in body and "Paid:       90.00 USD" in body
    assert "Code SAVE10: -10.00 USD" in body and f"/billing/receipts/{purchase.ref}/" in body
    purchase.refresh_from_db()
    assert purchase.receipt_sent_at is not None


# --- the pages -------------------------------------------------------------------------------


def _signed_in(client):
    user = UserFactory()
    client.force_login(user)
    return user


def _form(client, plan, **data):
    page = client.get(f"/plans/{plan.code}/checkout/")
    key = re.search(r'name="idempotency_key" value="(\w+)"', page.content.decode()).group(1)
    return {"country": "DE", "discount_code": "", "idempotency_key": key, **data}


def test_the_catalogue_shows_each_plans_rules_plainly(client, plan):
    page = client.get("/plans/").content.decode()
    assert plan.name in page and "100.00 USD" in page
    assert "Profit target: 5% of the starting balance, counted on your balance" in page
    assert "Daily loss: 5% of the starting balance, measured from the balance at the day" in page
    assert "Minimum trading days: 1" in page and "Time limit: 30 days" in page
    assert "Profit split: 80% to you" in page and "Payouts: every two weeks" in page


def test_checkout_to_the_sandbox_and_back_to_the_dashboard(client, plan):
    buyer = _signed_in(client)
    a_code("WELCOME10")
    response = client.post(
        f"/plans/{plan.code}/checkout/", _form(client, plan, discount_code="welcome10")
    )
    purchase = Purchase.objects.get(buyer=buyer)
    assert (
        response.status_code == 302 and response["Location"] == f"/billing/sandbox/{purchase.ref}/"
    )
    page = client.get(response["Location"]).content.decode()
    assert "TEST MODE" in page and "90.00 USD" in page
    response = client.post(response["Location"], {"outcome": "pay"})
    purchase.refresh_from_db()
    assert response["Location"] == f"/dashboard/#challenge-{purchase.challenge_id}"
    dashboard = client.get("/dashboard/").content.decode()
    assert "Payment received" in dashboard and "Phase 1" in dashboard
    assert client.get(f"/billing/receipts/{purchase.ref}/").status_code == 200


def test_checkout_refusals_are_shown_on_the_page_and_nothing_is_bought(client, plan):
    _signed_in(client)
    a_code("OLD", valid_until=clock.now() - timedelta(days=1), valid_from=None)
    page = client.post(f"/plans/{plan.code}/checkout/", _form(client, plan, country="KP"))
    assert "residents of North Korea" in page.content.decode()
    page = client.post(f"/plans/{plan.code}/checkout/", _form(client, plan, discount_code="OLD"))
    assert "The code OLD expired on" in page.content.decode()
    assert not Purchase.objects.exists()


def test_a_declined_payment_says_so_and_sends_the_candidate_back_to_checkout(client, plan):
    _signed_in(client)
    response = client.post(f"/plans/{plan.code}/checkout/", _form(client, plan))
    response = client.post(response["Location"], {"outcome": "decline"}, follow=True)
    page = response.content.decode()
    assert "Your payment failed: The TEST card was declined. Nothing was charged" in page
    assert response.redirect_chain[-1][0] == f"/plans/{plan.code}/checkout/"
    assert not Challenge.objects.exists()


def test_the_discount_code_preview_shows_the_price_or_why_not(client, plan):
    _signed_in(client)
    a_code("SAVE10")
    ok = client.post(f"/plans/{plan.code}/checkout/quote/", {"discount_code": "SAVE10"})
    assert "90.00 USD" in ok.content.decode()
    bad = client.post(f"/plans/{plan.code}/checkout/quote/", {"discount_code": "NOPE"})
    assert "There is no discount code NOPE" in bad.content.decode()


def test_a_receipt_or_sandbox_page_is_its_buyers_only(client, plan):
    purchase = bought(UserFactory(), plan)
    _signed_in(client)
    assert client.get(f"/billing/receipts/{purchase.ref}/").status_code == 404
    assert client.get(f"/billing/sandbox/{purchase.ref}/").status_code == 404
