from __future__ import annotations

from allauth.account.internal.flows.login import get_authentication_records
from allauth.mfa.models import Authenticator
from django.core.cache import cache

from apps.accounts.models import Brand

BRAND_CACHE_KEY = "brand:v1"


def brand_get() -> Brand:
    """The deployment's brand (cached; services clear the cache when it changes)."""
    brand = cache.get(BRAND_CACHE_KEY)
    if brand is None:
        brand = Brand.objects.defer("logo").first() or Brand()
        cache.set(BRAND_CACHE_KEY, brand, timeout=300)
    return brand


def brand_logo() -> tuple[bytes, str] | None:
    row = Brand.objects.values("logo", "logo_content_type").first()
    if not row or not row["logo"]:
        return None
    return bytes(row["logo"]), row["logo_content_type"]


def user_has_totp(user) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists()


def staff_mfa_state(request) -> str:
    """For a staff user: "ok", "not_enrolled" (no TOTP yet) or "not_verified" (enrolled, but
    this session did not pass a TOTP or recovery-code check)."""
    user = request.user
    if not user_has_totp(user):
        return "not_enrolled"
    records = get_authentication_records(request, user)
    if not any(record.get("method") == "mfa" for record in records):
        return "not_verified"
    return "ok"
