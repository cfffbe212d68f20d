"""Risk limits in the admin: every change goes through the services, so it is audited with its
reason; nothing is deleted outright."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.core.models import AuditEvent
from apps.risk.models import FirmExposureLimit, LimitOverride
from apps.trading.models import Position, TradingAccount
from apps.trading.services import account_open
from tests.risk.support import person

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(market):
    return account_open(owner=person(), starting_balance=Decimal("50000"), key="admin")


def test_an_override_added_in_the_admin_is_audited_with_its_reason(admin_client_mfa, account):
    client, admin_user = admin_client_mfa
    response = client.post(
        "/admin/risk/limitoverride/add/",
        {"account": account.pk, "field": "price_band_pct", "value": "2.5", "reason": "news day"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    override = LimitOverride.objects.get()
    assert (override.value, override.set_by, override.reason) == ("2.5", admin_user, "news day")
    event = AuditEvent.objects.get(action="risk.limit_override.set")
    assert event.actor_id == admin_user.pk and event.after["reason"] == "news day"


def test_a_bad_value_in_the_admin_is_shown_and_nothing_is_saved(admin_client_mfa, account):
    client, _ = admin_client_mfa
    response = client.post(
        "/admin/risk/limitoverride/add/",
        {"account": account.pk, "field": "max_open_orders", "value": "lots", "reason": "x"},
    )
    assert response.status_code == 200
    assert "must be a whole number" in response.content.decode()
    assert not LimitOverride.objects.exists()


def test_clearing_an_override_in_the_admin_takes_a_reason(admin_client_mfa, account):
    client, _ = admin_client_mfa
    client.post(
        "/admin/risk/limitoverride/add/",
        {"account": account.pk, "field": "allowed_instruments", "value": "BTC,ETH", "reason": "a"},
    )
    override = LimitOverride.objects.get()
    page = client.get(f"/admin/risk/limitoverride/{override.pk}/change/")
    assert page.status_code == 200 and "BTC,ETH" in page.content.decode()
    response = client.post(
        f"/admin/risk/limitoverride/{override.pk}/change/",
        {"value": "", "reason": "back to the rule set", "clear": "on"},
    )
    assert response.status_code == 302
    assert not LimitOverride.objects.exists()
    event = AuditEvent.objects.get(action="risk.limit_override.clear")
    assert event.after["reason"] == "back to the rule set"


def test_the_firm_limit_page_shows_real_and_simulated_exposure(admin_client_mfa, market):
    client, _ = admin_client_mfa
    live = TradingAccount.objects.create(owner=person(), venue="hyperliquid", venue_ref="s1")
    paper = TradingAccount.objects.create(owner=person(), venue="paper")
    Position.objects.create(account=live, coin="BTC", size=Decimal("1"), entry_price=60000)
    Position.objects.create(account=paper, coin="BTC", size=Decimal("2"), entry_price=60000)
    response = client.post(
        "/admin/risk/firmexposurelimit/add/",
        {"coin": "BTC", "direction": "long", "max_notional": "1000000", "reason": "desk"},
    )
    assert response.status_code == 302
    limit = FirmExposureLimit.objects.get()
    page = client.get(f"/admin/risk/firmexposurelimit/{limit.pk}/change/").content.decode()
    assert "real (live venues): 60,000.00" in page
    assert "simulated (paper, not counted): 120,000.00" in page
