import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from apps.accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STRONG = "violet-Harbor-7391"


def _signup(client, email, password1=STRONG, password2=None):
    return client.post(
        "/accounts/signup/",
        {"email": email, "password1": password1, "password2": password2 or password1},
    )


def test_signup_sends_a_verification_link_that_verifies_the_address(client):
    response = _signup(client, "new@example.com")
    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert not EmailAddress.objects.get(user=user).verified
    body = mail.outbox[-1].body
    assert mail.outbox[-1].subject.startswith("[Propfirm]")
    link = re.search(r"http://\S+/accounts/confirm-email/(\S+)/", body)
    assert link
    confirm = client.post(f"/accounts/confirm-email/{link.group(1)}/")
    assert confirm.status_code == 302
    assert EmailAddress.objects.get(user=user).verified


def test_signup_with_a_taken_email_is_refused_and_changes_nothing(client):
    UserFactory(email="taken@example.com")
    response = _signup(client, "Taken@Example.com")
    assert response.status_code == 200
    assert "already registered" in response.content.decode()
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "too short"),
        ("password1234", "too common"),
        ("8201938475610", "entirely numeric"),
    ],
)
def test_signup_with_a_weak_password_is_refused_and_changes_nothing(client, password, message):
    response = _signup(client, "weak@example.com", password)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email="weak@example.com").exists()


def test_a_bad_verification_link_says_so_and_verifies_nothing(client):
    _signup(client, "someone@example.com")
    response = client.get("/accounts/confirm-email/not-a-real-key/")
    assert "expired or is invalid" in response.content.decode()
    assert not EmailAddress.objects.get(email="someone@example.com").verified


def test_an_unverified_person_cannot_sign_in_until_verified(client):
    _signup(client, "pending@example.com")
    client.logout()
    response = client.post("/accounts/login/", {"login": "pending@example.com", "password": STRONG})
    assert response.status_code == 302 and "confirm-email" in response["Location"]
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_is_refused_with_a_message(client):
    UserFactory(email="p@example.com")
    response = client.post(
        "/accounts/login/", {"login": "p@example.com", "password": "nope-nope-1"}
    )
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_failed_logins_are_rate_limited_in_redis(client):
    UserFactory(email="target@example.com")
    for _ in range(5):
        client.post("/accounts/login/", {"login": "target@example.com", "password": "wrong-pass-1"})
    response = client.post(
        "/accounts/login/", {"login": "target@example.com", "password": "wrong-pass-1"}
    )
    assert "Too many failed login attempts" in response.content.decode()
    import redis
    from django.conf import settings

    # The counters live in Redis (the cache), so every web process shares them.
    keys = redis.Redis.from_url(settings.REDIS_URL).keys("*allauth:rl*")
    assert keys


def test_password_reset_sends_a_link_that_sets_a_new_password(client):
    user = UserFactory(email="forgot@example.com")
    client.post("/accounts/password/reset/", {"email": "forgot@example.com"})
    link = re.search(r"http://\S+(/accounts/password/reset/key/\S+/)", mail.outbox[-1].body)
    assert link
    form_page = client.get(link.group(1), follow=True)
    client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link.group(1),
        {"password1": "new-Granite-4471", "password2": "new-Granite-4471"},
    )
    user.refresh_from_db()
    assert user.check_password("new-Granite-4471")
