"""Demo people for `seed_demo`: one per role, in the demo e-mail domain."""

from __future__ import annotations

import base64
import hashlib

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction

from apps.accounts import roles
from apps.accounts.models import Brand, KycStatus, TraderProfile, User
from apps.accounts.selectors import BRAND_CACHE_KEY

DEMO_PEOPLE = [
    # email, name, role, staff
    ("trader@demo.test", "Dana Trader", roles.TRADER, False),
    ("risk@demo.test", "Riley Risk", roles.RISK_MANAGER, True),
    ("finance@demo.test", "Frankie Finance", roles.FINANCE, True),
    ("admin@demo.test", "Alex Admin", roles.FIRM_ADMIN, True),
]


class DemoError(Exception):
    pass


def demo_totp_secret(email: str) -> str:
    """A fixed secret per demo person, so their authenticator survives a re-seed."""
    digest = hashlib.sha256(f"propfirm-demo-totp:{email}".encode()).digest()[:20]
    return base64.b32encode(digest).decode()


def is_demo_email(email: str) -> bool:
    return email.lower().endswith("@" + settings.DEMO_EMAIL_DOMAIN)


def current_totp(email: str, at_unix: float) -> str:
    """The current code of a demo person's authenticator (refuses anyone else)."""
    if not is_demo_email(email):
        raise DemoError(f"{email} is not a demo person (@{settings.DEMO_EMAIL_DOMAIN}); refusing.")
    authenticator = Authenticator.objects.filter(
        user__email=email.lower(), type=Authenticator.Type.TOTP
    ).first()
    if authenticator is None:
        raise DemoError(f"{email} has no authenticator: run `manage.py seed_demo` first.")
    secret = decrypt(authenticator.data["secret"])
    return format_hotp_value(hotp_value(secret, int(at_unix) // 30))


@transaction.atomic
def seed_people() -> list[User]:
    people = []
    for email, name, role, staff in DEMO_PEOPLE:
        user = User.objects.filter(email=email).first() or User(email=email)
        user.name = name
        user.is_staff = staff
        user.is_superuser = role == roles.FIRM_ADMIN
        user.is_active = True
        user.set_password(settings.DEMO_PASSWORD)
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        EmailAddress.objects.update_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        if (
            staff
            and not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
        ):
            TOTP.activate(user, demo_totp_secret(email))
            RecoveryCodes.activate(user)
        if role == roles.TRADER:
            TraderProfile.objects.update_or_create(
                user=user,
                defaults={
                    "legal_name": "Dana Example Trader",
                    "country": "DE",
                    "tax_id": "DE-DEMO-12345",
                    "payout_method": "usdc",
                    "payout_usdc_address": "0x" + "d" * 40,
                    "kyc_status": KycStatus.APPROVED,
                    "kyc_reason": "Demo profile",
                },
            )
        people.append(user)
    return people


def seed_brand() -> Brand:
    brand, _ = Brand.objects.get_or_create(
        singleton=True,
        defaults={
            "name": "Meridian Prop Capital",
            "tagline": "Prove your edge on perpetual futures. Trade our capital, keep up to 90%.",
            "support_email": "support@meridian.demo.test",
            "legal_footer": (
                "Meridian Prop Capital (demo). Evaluations are simulated trading; funded accounts "
                "trade the firm's capital. Not investment advice."
            ),
        },
    )
    return brand


def seed() -> list[str]:
    brand = seed_brand()
    people = seed_people()
    cache.delete(BRAND_CACHE_KEY)
    lines = [f"brand: {brand.name}"]
    lines += [f"{u.email:<20} password {settings.DEMO_PASSWORD}" for u in people]
    lines.append("staff two-factor code: manage.py demo_totp EMAIL")
    return lines
