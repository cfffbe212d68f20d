"""Discount codes: percent or fixed, validity dates, usage caps counted under a row lock."""

import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from apps.billing import pricing
from apps.billing.models import Purchase
from apps.billing.services import BillingError, checkout_quote, checkout_start, sandbox_complete
from apps.core import clock
from tests.billing.support import a_code, a_plan, bought, start
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan():
    return a_plan()


def test_a_percent_code_takes_its_share_off_the_price(plan):
    a_code("SAVE10", kind="percent", value=Decimal("10"))
    purchase = start(UserFactory(), plan, code="save10")  # typed in lower case
    assert (purchase.list_price, purchase.code_discount, purchase.amount) == (
        Decimal("100.00"),
        Decimal("10.00"),
        Decimal("90.00"),
    )
    assert purchase.discount_code.code == "SAVE10"


def test_a_fixed_code_takes_its_amount_off(plan):
    a_code("TAKE30", kind="fixed", value=Decimal("30"))
    assert start(UserFactory(), plan, code="TAKE30").amount == Decimal("70.00")


def test_a_code_worth_more_than_the_price_makes_it_free_and_starts_at_once(plan):
    a_code("ONUS", kind="fixed", value=Decimal("500"))
    purchase = start(UserFactory(), plan, code="ONUS")
    assert (purchase.amount, purchase.provider, purchase.status) == (
        Decimal("0.00"),
        "free",
        "paid",
    )
    assert purchase.challenge.purchase_ref == purchase.payment_ref == f"free_{purchase.ref}"


def test_an_unknown_code_is_refused_and_nothing_is_created(plan):
    with pytest.raises(BillingError, match="There is no discount code NOPE") as refused:
        start(UserFactory(), plan, code="nope")
    assert refused.value.field == "discount_code"
    assert not Purchase.objects.exists()


def test_an_expired_code_is_refused(plan):
    a_code(
        "OLD",
        valid_from=clock.now() - timedelta(days=30),
        valid_until=clock.now() - timedelta(days=1),
    )
    with pytest.raises(BillingError, match="The code OLD expired on"):
        start(UserFactory(), plan, code="OLD")
    assert not Purchase.objects.exists()


def test_a_code_not_yet_valid_is_refused(plan):
    a_code("SOON", valid_from=clock.now() + timedelta(days=2))
    with pytest.raises(BillingError, match="The code SOON is valid from"):
        checkout_quote(buyer=UserFactory(), plan=plan, discount_code="SOON")


def test_a_deactivated_code_or_one_for_other_plans_is_refused(plan):
    a_code("OFF", active=False)
    a_code("OTHER", plan_codes=["one-step-10k"])
    with pytest.raises(BillingError, match="no longer offered"):
        start(UserFactory(), plan, code="OFF")
    with pytest.raises(BillingError, match="does not apply to this plan"):
        start(UserFactory(), plan, code="OTHER")


def test_an_exhausted_code_is_refused_and_the_paid_use_stays_counted(plan):
    a_code("ONCE", max_uses=1)
    bought(UserFactory(), plan, code="ONCE")
    with pytest.raises(BillingError, match="The code ONCE has been used up"):
        start(UserFactory(), plan, code="ONCE")
    assert Purchase.objects.count() == 1


def test_a_failed_or_abandoned_checkout_gives_its_use_back(plan):
    a_code("ONCE", max_uses=1)
    declined = sandbox_complete(purchase=start(UserFactory(), plan, code="ONCE"), outcome="decline")
    assert declined.status == "failed"
    cancelled = sandbox_complete(purchase=start(UserFactory(), plan, code="ONCE"), outcome="cancel")
    assert cancelled.status == "abandoned"
    assert start(UserFactory(), plan, code="ONCE").status == "pending"


def test_an_unpaid_checkout_holds_its_use_only_until_it_expires(plan):
    a_code("ONCE", max_uses=1)
    start(UserFactory(), plan, code="ONCE")
    with pytest.raises(BillingError, match="used up"):
        start(UserFactory(), plan, code="ONCE")
    clock.advance(timedelta(minutes=61))
    assert start(UserFactory(), plan, code="ONCE").status == "pending"


@pytest.mark.django_db(transaction=True)
def test_two_checkouts_racing_for_the_last_use_get_one_purchase(monkeypatch):
    """Both checkouts count the uses, then write. Without the code's row lock both would
    count 0 and both take the last use; the lock makes the second count after the first
    commits. The pause widens the window between counting and writing."""
    plan = a_plan("race-plan")
    a_code("LAST", max_uses=1)
    buyers = [UserFactory(), UserFactory()]
    real = pricing.quote_compute

    def slow_quote(**kwargs):
        time.sleep(0.4)
        return real(**kwargs)

    monkeypatch.setattr(pricing, "quote_compute", slow_quote)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def checkout(buyer):
        try:
            barrier.wait()
            checkout_start(
                buyer=buyer,
                plan=plan,
                country="DE",
                discount_code="LAST",
                idempotency_key=uuid.uuid4().hex,
                provider="sandbox",
            )
            outcomes.append("bought")
        except BillingError as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=checkout, args=(b,)) for b in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes.count("bought") == 1, outcomes
    assert "used up" in [o for o in outcomes if o != "bought"][0]
    assert Purchase.objects.filter(discount_code__code="LAST").count() == 1
