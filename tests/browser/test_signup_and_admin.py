"""Real Chromium against the real daphne: what a newcomer and a staff member see."""

import re

import pytest

from apps.accounts import roles
from apps.accounts.services import brand_update
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_candidate_signs_up_verifies_by_email_logs_in_and_sees_the_branded_site(
    page, live_server_url, mailbox
):
    brand_update(
        actor=None,
        name="Aurora Funding",
        primary_colour="#ff0066",
        legal_footer="Aurora Funding Ltd, demo legal footer",
    )
    page.goto(live_server_url + "/")
    assert page.title() == "Aurora Funding"
    page.get_by_role("link", name="Start your challenge").click()
    page.get_by_label("Email").fill("candidate@example.com")
    page.get_by_label("Password:", exact=True).fill("violet-Harbor-7391")
    page.get_by_label("Password (again):").fill("violet-Harbor-7391")
    page.get_by_role("button", name="Sign Up").click()
    page.get_by_text("We have sent an email to you for verification").wait_for()

    message = mailbox.wait_for("candidate@example.com")
    assert message["Subject"].startswith("[Aurora Funding]")
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.get_content()).group(0)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()

    page.goto(live_server_url + "/accounts/login/")
    page.get_by_label("Email").fill("candidate@example.com")
    page.get_by_label("Password").fill("violet-Harbor-7391")
    page.get_by_role("button", name="Sign In").click()
    page.locator(".hero").get_by_text("Signed in as candidate@example.com").wait_for()
    primary = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--brand-primary').trim()"
    )
    assert primary == "#ff0066"
    assert page.locator(".site-footer").inner_text().startswith("Aurora Funding Ltd")


def test_a_staff_member_without_two_factor_cannot_reach_the_admin(page, live_server_url):
    staff = UserFactory(email="newrisk@example.com", is_staff=True, role=roles.RISK_MANAGER)
    page.goto(live_server_url + "/admin/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.get_by_role("heading", name="Set up two-factor authentication first").wait_for()
    page.goto(live_server_url + "/admin/accounts/user/")
    page.get_by_role("heading", name="Set up two-factor authentication first").wait_for()
    assert "/admin/" not in page.url
