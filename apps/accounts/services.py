from __future__ import annotations

import hashlib
import secrets

from django.core.cache import cache
from django.db import transaction

from apps.accounts.models import ApiKey, Brand, KycStatus, TraderProfile, User
from apps.accounts.selectors import BRAND_CACHE_KEY
from apps.core import clock
from apps.core.services import audit_record


class AccountsError(Exception):
    """A request a person can correct; the message says how."""


BRAND_FIELDS = (
    "name",
    "tagline",
    "primary_colour",
    "accent_colour",
    "background_colour",
    "text_colour",
    "support_email",
    "legal_footer",
)

# Fields whose change sends an approved KYC back to review.
KYC_FIELDS = ("legal_name", "country", "tax_id")
PROFILE_FIELDS = (*KYC_FIELDS, "payout_method", "payout_usdc_address", "payout_bank_reference")

LOGO_TYPES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
LOGO_MAX_BYTES = 512 * 1024


def logo_content_type(data: bytes) -> str:
    """The image type of an uploaded logo, or an error a person can act on."""
    if len(data) > LOGO_MAX_BYTES:
        raise AccountsError(f"The logo is {len(data) // 1024} KB; the limit is 512 KB.")
    for magic, content_type in LOGO_TYPES.items():
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:2048].lower()):
        if b"<script" in data.lower():
            raise AccountsError("An SVG logo may not contain scripts.")
        return "image/svg+xml"
    raise AccountsError("The logo must be a PNG, JPEG, GIF, WebP or SVG image.")


@transaction.atomic
def brand_update(
    *, actor: User | None, logo: bytes | None = None, clear_logo: bool = False, **fields
) -> Brand:
    unknown = set(fields) - set(BRAND_FIELDS)
    if unknown:
        raise AccountsError(f"Unknown brand field(s): {', '.join(sorted(unknown))}")
    brand = Brand.objects.select_for_update().first() or Brand()
    before = {f: getattr(brand, f) for f in BRAND_FIELDS}
    before["logo"] = brand.logo_content_type or None
    for name, value in fields.items():
        setattr(brand, name, value)
    if logo is not None:
        brand.logo_content_type = logo_content_type(logo)
        brand.logo = logo
    elif clear_logo:
        brand.logo, brand.logo_content_type = None, ""
    brand.updated_at = clock.now()
    brand.full_clean()
    brand.save()
    after = {f: getattr(brand, f) for f in BRAND_FIELDS}
    after["logo"] = brand.logo_content_type or None
    audit_record(action="brand.update", subject=brand, actor=actor, before=before, after=after)
    # Now, and again after commit in case a request cached the old brand in between.
    cache.delete(BRAND_CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(BRAND_CACHE_KEY))
    return brand


@transaction.atomic
def profile_update(*, user: User, data: dict) -> TraderProfile:
    """A trader fills in or changes their profile; a complete profile goes to KYC review."""
    unknown = set(data) - set(PROFILE_FIELDS)
    if unknown:
        raise AccountsError(f"Unknown profile field(s): {', '.join(sorted(unknown))}")
    profile, _ = TraderProfile.objects.select_for_update().get_or_create(user=user)
    changed = sorted(f for f, v in data.items() if getattr(profile, f) != v)
    if not changed:
        return profile
    status_before = profile.kyc_status
    for name, value in data.items():
        setattr(profile, name, value)
    if profile.payout_method == "usdc":
        profile.payout_bank_reference = ""
    elif profile.payout_method == "bank":
        profile.payout_usdc_address = ""
    profile.full_clean(exclude=["user"])
    needs_review = profile.kyc_status in (KycStatus.NOT_SUBMITTED, KycStatus.REJECTED) or (
        profile.kyc_status == KycStatus.APPROVED and any(f in KYC_FIELDS for f in changed)
    )
    if needs_review and profile.is_complete:
        profile.kyc_status = KycStatus.PENDING
        profile.kyc_reason = ""
    profile.updated_at = clock.now()
    profile.save()
    # The values are personal data: kept for the reader, outside the hashed chain.
    audit_record(
        action="profile.update",
        subject=user,
        actor=user,
        before={"kyc_status": status_before, "fields_changed": changed},
        after={"kyc_status": profile.kyc_status},
        personal={f: str(getattr(profile, f)) for f in changed},
    )
    return profile


def _kyc_decide(*, profile: TraderProfile, actor: User, status: str, reason: str) -> TraderProfile:
    profile = TraderProfile.objects.select_for_update().get(pk=profile.pk)
    if not actor.has_perm("accounts.review_kyc"):
        raise AccountsError("You do not have permission to review KYC.")
    if profile.user_id == actor.pk:
        raise AccountsError("Nobody reviews their own KYC.")
    if profile.kyc_status != KycStatus.PENDING:
        status = profile.get_kyc_status_display()
        raise AccountsError(f"Only a pending profile can be reviewed; this one is {status}.")
    before = profile.kyc_status
    profile.kyc_status = status
    profile.kyc_reason = reason
    profile.kyc_reviewed_by = actor
    profile.kyc_reviewed_at = clock.now()
    profile.save()
    audit_record(
        action=f"kyc.{status}",
        subject=profile.user,
        actor=actor,
        before={"kyc_status": before},
        after={"kyc_status": status, "reason": reason},
    )
    return profile


@transaction.atomic
def kyc_approve(*, profile: TraderProfile, actor: User, reason: str = "") -> TraderProfile:
    return _kyc_decide(
        profile=profile, actor=actor, status=KycStatus.APPROVED, reason=reason.strip()
    )


@transaction.atomic
def kyc_reject(*, profile: TraderProfile, actor: User, reason: str) -> TraderProfile:
    if not reason.strip():
        raise AccountsError("A rejection needs a reason the trader can act on.")
    return _kyc_decide(
        profile=profile, actor=actor, status=KycStatus.REJECTED, reason=reason.strip()
    )


# --- API keys ----------------------------------------------------------------------------------

API_KEY_PREFIX = "pf_"


def api_key_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *, user: User, name: str, scope: str = "trading", expires_at=None
) -> tuple[ApiKey, str]:
    """A new key for the user; returns (the row, the key itself — shown once, never stored)."""
    name = name.strip()
    if not name:
        raise AccountsError("Give the key a name, so you can tell it apart later.")
    if scope not in ApiKey.Scope.values:
        raise AccountsError(f"Scope must be one of: {', '.join(ApiKey.Scope.values)}.")
    if expires_at is not None and expires_at <= clock.now():
        raise AccountsError("The expiry must be in the future.")
    if ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() >= 20:
        raise AccountsError("You already have 20 active keys; revoke one first.")
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=raw[:10],
        digest=api_key_digest(raw),
        scope=scope,
        expires_at=expires_at,
    )
    audit_record(
        action="api_key.create",
        subject=user,
        actor=user,
        after={"key": key.pk, "prefix": key.prefix, "scope": scope},
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: User) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.user_id != actor.pk and not actor.is_staff:
        raise AccountsError("That key is not yours.")
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            action="api_key.revoke",
            subject=key.user,
            actor=actor,
            after={"key": key.pk, "prefix": key.prefix},
        )
    return key
