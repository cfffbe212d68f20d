"""Building blocks for billing tests: a plan on sale, discount codes, a checkout paid in the
sandbox, a failed challenge."""

from __future__ import annotations

import uuid
from decimal import Decimal

from apps.billing.models import DiscountCode, Purchase
from apps.billing.services import checkout_start, discount_code_save, sandbox_complete
from apps.challenges.models_lifecycle import Challenge
from tests.challenges.lifecycle_support import make_plan


def a_plan(code: str = "bill-2step"):
    return make_plan(code)


def a_code(code: str = "SAVE10", **fields) -> DiscountCode:
    fields.setdefault("kind", "percent")
    fields.setdefault("value", Decimal("10"))
    return discount_code_save(code=DiscountCode(code=code, **fields), actor=None)


def start(buyer, plan, *, country="DE", code="", retry_of=None, key=None, provider="sandbox"):
    return checkout_start(
        buyer=buyer,
        plan=plan,
        country=country,
        discount_code=code,
        retry_of=retry_of,
        idempotency_key=key or uuid.uuid4().hex,
        provider=provider,
    )


def bought(buyer, plan, **kwargs) -> Purchase:
    """A checkout paid through the sandbox: the challenge has started."""
    return sandbox_complete(purchase=start(buyer, plan, **kwargs), outcome="pay")


def failed_challenge(buyer, plan) -> Challenge:
    """A bought challenge failed the way the lifecycle fails one (status, retry discount)."""
    from apps.core import clock

    purchase = bought(buyer, plan)
    challenge = purchase.challenge
    Challenge.objects.filter(pk=challenge.pk).update(
        status=Challenge.Status.FAILED,
        ended_at=clock.now(),
        end_reason="daily_loss",
        retry_discount_pct=plan.retry_discount_pct,
    )
    challenge.refresh_from_db()
    return challenge
