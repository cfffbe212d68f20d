import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value

from apps.accounts import roles
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _code(offset: int = 0) -> str:
    return format_hotp_value(hotp_value(SECRET, int(time.time()) // 30 + offset))


def _login(client, user):
    return client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})


def test_staff_without_mfa_is_sent_to_set_it_up_and_never_sees_the_admin(client):
    staff = UserFactory(is_staff=True, is_superuser=True, role=roles.FIRM_ADMIN)
    _login(client, staff)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"] == "/staff/mfa-required/"
    page = client.get("/staff/mfa-required/")
    assert page.status_code == 403
    assert "Set up two-factor authentication first" in page.content.decode()
    assert client.get("/admin/accounts/user/").status_code == 302


def test_staff_with_mfa_passes_the_code_step_and_reaches_the_admin(client):
    staff = UserFactory(is_staff=True, is_superuser=True, role=roles.FIRM_ADMIN)
    TOTP.activate(staff, SECRET)
    response = _login(client, staff)
    assert response["Location"].startswith("/accounts/2fa/authenticate/")
    assert client.get("/admin/").status_code == 302  # not signed in until the code is given
    done = client.post("/accounts/2fa/authenticate/", {"code": _code()})
    assert done.status_code == 302
    admin = client.get("/admin/")
    assert admin.status_code == 200
    assert "administration" in admin.content.decode()


def test_a_wrong_mfa_code_is_refused_with_a_message(client):
    staff = UserFactory(is_staff=True, role=roles.RISK_MANAGER)
    TOTP.activate(staff, SECRET)
    _login(client, staff)
    response = client.post(
        "/accounts/2fa/authenticate/", {"code": "000000" if _code() != "000000" else "111111"}
    )
    assert response.status_code == 200
    assert "Incorrect code" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_staff_who_enrolled_mid_session_must_confirm_a_code_before_the_admin(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    Authenticator.objects.all().delete()
    TOTP.activate(staff, SECRET)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/accounts/2fa/reauthenticate/" in response["Location"]


def test_the_admin_login_form_is_allauths_so_two_factor_cannot_be_skipped(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_trader_cannot_open_the_admin(client):
    trader = UserFactory(role=roles.TRADER)
    _login(client, trader)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert "no access to the firm's administration" in response.content.decode()
