"""The trader's payouts page, finance's admin (approve, reject, mark paid, exports and their
download), and the demo data."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest

from apps.accounts import roles
from apps.core import clock
from apps.payouts.exports import export_build, export_request
from apps.payouts.models import Export, FundedTerms, Payout
from apps.payouts.services import funded_terms_pin, payout_request
from tests.factories import PASSWORD, UserFactory
from tests.payouts.support import (
    book_profit,
    funded_direct,
    funded_from_plan,
    funded_ruleset,
    payout_plan,
    trader,
)
from tests.trading.market import load_instruments, set_prices

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(django_capture_on_commit_callbacks):
    load_instruments()
    set_prices(BTC="60000")
    with django_capture_on_commit_callbacks(execute=True):
        account = funded_from_plan(payout_plan("page"), trader())
    book_profit(account, "2500", "profit")
    return account


def signed_in_staff(client, role: str):
    """Staff signed in through allauth with a TOTP code, as the admin requires."""
    from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value

    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    user = UserFactory(is_staff=True, role=role)
    TOTP.activate(user, secret)
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    assert client.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 302
    return user


def test_the_payouts_page_needs_a_sign_in(client):
    response = client.get("/payouts/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_trader_sees_the_mark_the_split_the_next_date_and_asks_for_a_payout(client, funded):
    client.force_login(funded.trader)
    page = client.get("/payouts/").content.decode()
    assert "2,500.00" in page and "80%" in page
    assert "Your first payout is possible from" in page and "Request payout" not in page
    clock.travel(clock.now() + timedelta(days=15))
    page = client.get("/payouts/").content.decode()
    assert "Request payout of 2,100.00 USD" in page  # 80% of 2,500 + the 100 fee refund
    response = client.post(f"/payouts/{funded.pk}/request/", follow=True)
    assert "Payout requested: 2,100.00 USD" in response.content.decode()
    payout = Payout.objects.get()
    assert (payout.status, payout.requested_by) == ("requested", funded.trader)
    response = client.post(f"/payouts/{funded.pk}/request/", follow=True)
    assert "already a payout for" in response.content.decode()
    assert Payout.objects.count() == 1


def test_a_trader_cannot_ask_for_someone_elses_account(client, funded):
    client.force_login(trader())
    assert client.post(f"/payouts/{funded.pk}/request/").status_code == 404
    assert client.get("/payouts/").content.decode().count("You have no funded account") == 1


def test_finance_approves_rejects_and_marks_paid_in_the_admin(client, funded):
    clock.travel(clock.now() + timedelta(days=15))
    payout = payout_request(account=funded, actor=funded.trader)
    signed_in_staff(client, roles.FINANCE)
    listing = client.get("/admin/payouts/payout/").content.decode()
    assert f"/admin/payouts/payout/{payout.pk}/approve/" in listing
    assert "80%" in client.get(f"/admin/payouts/payout/{payout.pk}/approve/").content.decode()
    client.post(f"/admin/payouts/payout/{payout.pk}/approve/")
    payout.refresh_from_db()
    assert payout.status == "approved"
    client.post(f"/admin/payouts/payout/{payout.pk}/paid/", {"reference": "0xfeed"})
    payout.refresh_from_db()
    assert (payout.status, payout.payment_reference) == ("paid", "0xfeed")
    client.post(f"/admin/payouts/payout/{payout.pk}/reject/", {"reason": "late"}, follow=True)
    payout.refresh_from_db()
    assert payout.status == "paid"


def test_a_risk_manager_cannot_approve_in_the_admin(client, funded):
    clock.travel(clock.now() + timedelta(days=15))
    payout = payout_request(account=funded, actor=funded.trader)
    signed_in_staff(client, roles.RISK_MANAGER)
    response = client.post(f"/admin/payouts/payout/{payout.pk}/approve/", follow=True)
    assert response.status_code in (403, 200)
    payout.refresh_from_db()
    assert payout.status == "requested"


def test_finance_requests_an_export_and_downloads_it_when_ready(client, funded):
    finance = signed_in_staff(client, roles.FINANCE)
    today = clock.now().date().isoformat()
    response = client.post(
        "/admin/payouts/export/new/",
        {"kind": "register_csv", "date_from": today, "date_to": today},
    )
    assert response.status_code == 302
    export = Export.objects.get()
    assert export.requested_by == finance and export.status == "pending"
    listing = client.get("/admin/payouts/export/").content.decode()
    assert 'http-equiv="refresh"' in listing and "<progress" in listing
    export_build(export_id=export.pk)
    listing = client.get("/admin/payouts/export/").content.decode()
    assert f"/payouts/exports/{export.pk}/download/" in listing
    download = client.get(f"/payouts/exports/{export.pk}/download/")
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    assert b"gross profit" in download.content


def test_only_signed_in_finance_downloads_exports(client, funded):
    export = export_request(
        kind="register_csv",
        params={"date_from": "2026-01-01", "date_to": "2026-01-31"},
        actor=UserFactory(is_staff=True, role=roles.FINANCE),
    )
    url = f"/payouts/exports/{export.pk}/download/"
    client.force_login(funded.trader)
    assert client.get(url).status_code == 403
    client.force_login(UserFactory(is_staff=True, role=roles.FINANCE))  # no two-factor step
    assert client.get(url).status_code == 403
    client.logout()
    signed_in_staff(client, roles.FINANCE)
    assert client.get(url).status_code == 404  # not built yet
    export_build(export_id=export.pk)
    assert client.get(url).status_code == 200


def test_a_firm_admin_sets_terms_of_a_direct_account_and_cannot_edit_plan_terms(
    client, funded, admin_client_mfa
):
    admin_client, admin = admin_client_mfa
    terms = funded_terms_pin(account=funded)
    page = admin_client.get(f"/admin/payouts/fundedterms/{terms.pk}/change/").content.decode()
    assert 'name="profit_split_pct"' not in page  # read-only: what the trader bought
    direct = funded_direct(trader(), admin, funded_ruleset("direct-admin"))
    response = admin_client.post(
        "/admin/payouts/fundedterms/add/",
        {
            "account": direct.pk,
            "profit_split_pct": "75",
            "payout_frequency": "on_request",
            "first_payout_days": "7",
            "min_payout": "100",
            "payout_requires_flat": "on",
            "consistency_of": "net_profit",
            "scaling_plan": '[{"after_return_pct": "10", "multiply": "2"}]',
            "scaling_max_balance": "200000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    terms = FundedTerms.objects.get(account=direct)
    assert (terms.source, terms.profit_split_pct, terms.payout_frequency) == (
        "direct",
        Decimal("75"),
        "on_request",
    )
    assert terms.scaling_plan == [{"after_return_pct": "10", "multiply": "2"}]
    response = admin_client.post(
        f"/admin/payouts/fundedterms/{direct.pk}/change/",
        {
            "profit_split_pct": "75",
            "payout_frequency": "monthly",
            "first_payout_days": "7",
            "min_payout": "100",
            "consistency_of": "net_profit",
            "scaling_plan": '[{"grow": "fast"}]',
        },
    )
    assert "not a scaling step this platform knows" in response.content.decode()


def test_the_demo_gives_the_trader_a_funded_account_and_a_payout_for_finance(
    django_capture_on_commit_callbacks,
):
    from apps.accounts.demo import seed as seed_people
    from apps.challenges.catalogue import seed as seed_catalogue
    from apps.payouts.demo import seed_payouts

    load_instruments()
    seed_people()
    seed_catalogue()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            lines = seed_payouts()
    payout = Payout.objects.get()
    assert (payout.status, payout.trader.email) == ("requested", "trader@demo.test")
    assert payout.gross_profit == Decimal("6250.00") and payout.amount == Decimal("5000.00")
    assert "for finance@demo.test to approve" in lines[0]
