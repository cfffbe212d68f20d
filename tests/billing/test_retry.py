"""A failed challenge offers its plan again at the retry discount, once."""

from decimal import Decimal

import pytest

from apps.billing.selectors import retry_offer
from apps.billing.services import BillingError
from tests.billing.support import a_code, a_plan, bought, failed_challenge, start
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan():
    return a_plan()


def test_a_failed_challenge_is_offered_again_at_its_retry_discount(plan):
    buyer = UserFactory()
    failed = failed_challenge(buyer, plan)
    offer = retry_offer(failed)
    assert (offer.plan, offer.discount_pct, offer.price) == (
        plan,
        Decimal("15.00"),
        Decimal("85.00"),
    )
    purchase = bought(buyer, plan, retry_of=failed)
    assert (purchase.retry_discount, purchase.amount) == (Decimal("15.00"), Decimal("85.00"))
    assert purchase.challenge.retry_of == failed
    assert retry_offer(failed) is None  # used


def test_the_retry_discount_and_a_code_both_apply(plan):
    buyer = UserFactory()
    failed = failed_challenge(buyer, plan)
    a_code("SAVE10")
    purchase = start(buyer, plan, retry_of=failed, code="SAVE10")
    assert (purchase.retry_discount, purchase.code_discount, purchase.amount) == (
        Decimal("15.00"),
        Decimal("8.50"),
        Decimal("76.50"),
    )


def test_a_retry_is_refused_for_someone_elses_or_an_active_challenge(plan):
    failed = failed_challenge(UserFactory(), plan)
    with pytest.raises(BillingError, match="not yours"):
        start(UserFactory(), plan, retry_of=failed)
    buyer = UserFactory()
    active = bought(buyer, plan).challenge
    with pytest.raises(BillingError, match="offered once, for a failed challenge"):
        start(buyer, plan, retry_of=active)


def test_a_used_retry_discount_cannot_be_used_again(plan):
    buyer = UserFactory()
    failed = failed_challenge(buyer, plan)
    bought(buyer, plan, retry_of=failed)
    with pytest.raises(BillingError, match="offered once"):
        start(buyer, plan, retry_of=failed)


def test_the_dashboard_shows_the_offer_and_checkout_applies_it(client, plan):
    buyer = UserFactory()
    failed = failed_challenge(buyer, plan)
    client.force_login(buyer)
    dashboard = client.get("/dashboard/").content.decode()
    assert "Try again at 15% off" in dashboard
    assert f"/plans/{plan.code}/checkout/?retry={failed.pk}" in dashboard
    checkout = client.get(f"/plans/{plan.code}/checkout/?retry={failed.pk}").content.decode()
    assert "Retry discount (15%)" in checkout and "85.00 USD" in checkout
