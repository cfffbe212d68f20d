"""The risk pages in the admin: the dashboard and an account's interventions, for risk managers
signed in with two factors; everyone else is refused."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from apps.accounts import roles
from apps.core.models import AuditEvent
from apps.trading.models import TradingState
from apps.trading.services import account_open
from tests.risk.support import person

pytestmark = pytest.mark.django_db
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def signed_in(client, role: str = roles.RISK_MANAGER):
    """A staff member of `role` signed in through allauth with a TOTP code."""
    from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value

    from tests.factories import PASSWORD, UserFactory

    user = UserFactory(is_staff=True, role=role)
    TOTP.activate(user, SECRET)
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    code = format_hotp_value(hotp_value(SECRET, int(time.time()) // 30))
    assert client.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 302
    return client, user


@pytest.fixture
def account(market, run_commits):
    return run_commits(account_open, owner=person(), starting_balance=Decimal("50000"), key="pg")


def test_the_dashboard_shows_positions_exposure_and_alerts_to_a_risk_manager(client, account):
    from apps.risk.models import Alert

    Alert.objects.create(kind="crowding", key="k", coin="BTC", message="5 traders long BTC")
    client, _ = signed_in(client)
    response = client.get("/admin/risk/dashboard/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "5 traders long BTC" in body and 'data-socket="/ws/risk/firm/"' in body


def test_finance_may_not_open_the_risk_pages(client, account):
    client, _ = signed_in(client, roles.FINANCE)
    assert client.get("/admin/risk/dashboard/").status_code == 403
    assert client.get(f"/admin/risk/account/{account.pk}/").status_code == 403


def test_suspending_from_the_account_page_needs_a_reason_and_is_audited(client, account):
    client, user = signed_in(client)
    url = f"/admin/risk/account/{account.pk}/"
    response = client.post(
        url, {"action": "state", "state": "suspended", "reason": ""}, follow=True
    )
    assert "reason" in response.content.decode()
    account.refresh_from_db()
    assert account.state == TradingState.ACTIVE
    client.post(url, {"action": "state", "state": "suspended", "reason": "review"})
    account.refresh_from_db()
    assert account.state == TradingState.SUSPENDED
    event = AuditEvent.objects.get(action="risk.intervention.state")
    assert event.actor_id == user.pk and event.after["reason"] == "review"
    assert client.get(url).status_code == 200
