import pytest
from django.contrib.auth.models import Group

from apps.accounts import roles
from apps.accounts.models import KycStatus, TraderProfile
from apps.accounts.services import AccountsError, kyc_approve, kyc_reject, profile_update
from apps.core.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

COMPLETE = {
    "legal_name": "Ann Example",
    "country": "FR",
    "tax_id": "FR123",
    "payout_method": "usdc",
    "payout_usdc_address": "0x" + "a" * 40,
}


def test_roles_exist_as_groups_with_their_permissions():
    perms = {
        g.name: set(g.permissions.values_list("codename", flat=True))
        for g in Group.objects.prefetch_related("permissions")
    }
    assert set(perms) >= {roles.TRADER, roles.RISK_MANAGER, roles.FINANCE, roles.FIRM_ADMIN}
    assert perms[roles.TRADER] == set()
    assert "review_kyc" in perms[roles.FINANCE] and "review_kyc" not in perms[roles.RISK_MANAGER]
    assert {"change_brand", "change_user"} <= perms[roles.FIRM_ADMIN]
    assert "view_auditevent" in perms[roles.RISK_MANAGER]
    assert "change_auditevent" not in perms[roles.FIRM_ADMIN]


def test_a_complete_profile_goes_to_kyc_review_and_is_audited_without_personal_data_hashed():
    trader = UserFactory()
    profile = profile_update(user=trader, data=COMPLETE)
    assert profile.kyc_status == KycStatus.PENDING
    event = AuditEvent.objects.get(action="profile.update")
    assert "Ann Example" not in str(event.after) + str(event.before)
    assert event.personal["legal_name"] == "Ann Example"


def test_finance_approves_and_a_later_legal_name_change_goes_back_to_review():
    trader, finance = UserFactory(), UserFactory(is_staff=True, role=roles.FINANCE)
    profile = profile_update(user=trader, data=COMPLETE)
    kyc_approve(profile=profile, actor=finance)
    assert TraderProfile.objects.get(pk=profile.pk).kyc_status == KycStatus.APPROVED
    profile = profile_update(user=trader, data={"payout_usdc_address": "0x" + "b" * 40})
    assert profile.kyc_status == KycStatus.APPROVED  # a new address is not a new identity
    profile = profile_update(user=trader, data={"legal_name": "Ann Other"})
    assert profile.kyc_status == KycStatus.PENDING


def test_a_rejection_needs_a_reason_and_keeps_it_for_the_trader():
    trader, finance = UserFactory(), UserFactory(is_staff=True, role=roles.FINANCE)
    profile = profile_update(user=trader, data=COMPLETE)
    with pytest.raises(AccountsError, match="reason"):
        kyc_reject(profile=profile, actor=finance, reason="  ")
    assert TraderProfile.objects.get(pk=profile.pk).kyc_status == KycStatus.PENDING
    kyc_reject(profile=profile, actor=finance, reason="The name does not match the document.")
    profile.refresh_from_db()
    assert (profile.kyc_status, profile.kyc_reviewed_by) == (KycStatus.REJECTED, finance)
    assert AuditEvent.objects.filter(action="kyc.rejected", actor=finance).exists()


def test_someone_without_the_review_permission_cannot_decide_kyc():
    trader, risk = UserFactory(), UserFactory(is_staff=True, role=roles.RISK_MANAGER)
    profile = profile_update(user=trader, data=COMPLETE)
    with pytest.raises(AccountsError, match="permission"):
        kyc_approve(profile=profile, actor=risk)
    assert TraderProfile.objects.get(pk=profile.pk).kyc_status == KycStatus.PENDING


def test_nobody_reviews_their_own_kyc():
    finance = UserFactory(is_staff=True, role=roles.FINANCE)
    profile = profile_update(user=finance, data=COMPLETE)
    with pytest.raises(AccountsError, match="own"):
        kyc_approve(profile=profile, actor=finance)


def test_profile_page_refuses_a_bad_usdc_address_and_saves_nothing(client):
    trader = UserFactory()
    client.force_login(trader)
    response = client.post("/profile/", {**COMPLETE, "payout_usdc_address": "0x123"})
    assert response.status_code == 200
    assert "0x followed by 40 hexadecimal" in response.content.decode()
    assert not TraderProfile.objects.filter(user=trader).exists()


def test_profile_page_saves_and_shows_the_review_status(client):
    trader = UserFactory()
    client.force_login(trader)
    response = client.post("/profile/", COMPLETE, follow=True)
    assert "Pending review" in response.content.decode()
    assert TraderProfile.objects.get(user=trader).country == "FR"


def test_reject_in_the_admin_asks_for_a_reason(admin_client_mfa):
    client, _ = admin_client_mfa
    trader = UserFactory()
    profile = profile_update(user=trader, data=COMPLETE)
    url = f"/admin/accounts/traderprofile/reject/?ids={profile.pk}"
    response = client.post(url, {"reason": ""})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    client.post(url, {"reason": "Document expired"})
    profile.refresh_from_db()
    assert profile.kyc_status == KycStatus.REJECTED and profile.kyc_reason == "Document expired"


def test_a_trader_creates_sees_once_and_revokes_an_api_key(client):
    from apps.accounts.models import ApiKey

    trader = UserFactory()
    client.force_login(trader)
    page = client.post(
        "/profile/api-keys/", {"action": "create", "name": "bot", "scope": "trading"}
    )
    html = page.content.decode()
    key = ApiKey.objects.get(user=trader)
    assert "never shown again" in html and f"{key.prefix}" in html
    listing = client.get("/profile/api-keys/").content.decode()
    assert "never shown again" not in listing and "bot" in listing
    client.post("/profile/api-keys/", {"action": "revoke", "key": key.pk})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_key_without_a_name_is_refused(client):
    from apps.accounts.models import ApiKey

    client.force_login(UserFactory())
    response = client.post("/profile/api-keys/", {"action": "create", "name": " "}, follow=True)
    assert "Give the key a name" in response.content.decode()
    assert not ApiKey.objects.exists()
