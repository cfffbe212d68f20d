"""The firm's side of billing: demo codes, discount codes and purchases in the admin."""

import pytest

from apps.billing.demo import seed_discount_codes
from apps.billing.models import DiscountCode, Purchase
from apps.billing.services import BillingError
from apps.core.models import AuditEvent
from tests.billing.support import a_plan, bought, start
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_working_code_and_an_expired_one_and_seeds_once():
    seed_discount_codes()
    seed_discount_codes()
    assert set(DiscountCode.objects.values_list("code", flat=True)) == {
        "WELCOME10",
        "FIFTYOFF",
        "SPRING2025",
    }
    plan = a_plan()
    assert start(UserFactory(), plan, code="WELCOME10").amount == 90
    with pytest.raises(BillingError, match="expired"):
        start(UserFactory(), plan, code="SPRING2025")


def test_a_code_made_in_the_admin_is_upper_case_and_audited(admin_client_mfa):
    client, admin = admin_client_mfa
    response = client.post(
        "/admin/billing/discountcode/add/",
        {
            "code": "summer15",
            "kind": "percent",
            "value": "15",
            "currency": "USD",
            "plan_codes": "",
            "active": "on",
            "description": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    code = DiscountCode.objects.get()
    assert code.code == "SUMMER15"
    event = AuditEvent.objects.get(action="discount_code.create")
    assert event.actor == admin


def test_finance_voids_a_refunded_purchase_from_the_admin(admin_client_mfa):
    client, _ = admin_client_mfa
    purchase = bought(UserFactory(), a_plan())
    page = client.get("/admin/billing/purchase/")
    assert purchase.ref in page.content.decode()
    client.post(
        "/admin/billing/purchase/",
        {"action": "void_refunded", "_selected_action": [purchase.pk]},
    )
    purchase.refresh_from_db()
    assert purchase.status == "refunded" and purchase.challenge.status == "void"
    assert client.get(f"/admin/billing/purchase/{purchase.pk}/change/").status_code == 200
    assert Purchase.objects.count() == 1
