"""Reads of billing: the catalogue as candidates see it, discount codes, purchases, the retry
offers of failed challenges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, QuerySet
from django_countries import countries

from apps.billing.models import DiscountCode, Purchase
from apps.billing.pricing import quote_compute
from apps.challenges.models import Plan
from apps.challenges.models_lifecycle import Challenge
from apps.challenges.selectors import plan_describe, plan_on_sale, plans_on_sale, ruleset_describe

# A use of a code counts while its purchase is paid (or was, then refunded or charged back)
# or is still awaiting payment within its time.
USED_STATUSES = (Purchase.Status.PAID, Purchase.Status.REFUNDED, Purchase.Status.DISPUTED)


def catalogue() -> list[dict]:
    """Every plan on sale with its rules in plain language: the plan's terms, then each
    phase's rule set, then the funded account's."""
    rows = []
    for plan in plans_on_sale():
        phases = sorted(plan.phases.all(), key=lambda p: p.number)
        rows.append(
            {
                "plan": plan,
                "summary": plan_describe(plan),
                "stages": [
                    {
                        "title": f"Phase {phase.number}" if len(phases) > 1 else "Evaluation",
                        "lines": ruleset_describe(phase.ruleset, currency=plan.currency),
                    }
                    for phase in phases
                ]
                + [
                    {
                        "title": "Funded account",
                        "lines": ruleset_describe(plan.funded_ruleset, currency=plan.currency),
                    }
                ],
                "steps": len(phases),
            }
        )
    return rows


def plan_for_checkout(code: str) -> Plan | None:
    return plan_on_sale(code)


def discount_code_find(text: str) -> DiscountCode | None:
    text = (text or "").strip().upper()
    return DiscountCode.objects.filter(code=text).first() if text else None


def discount_code_uses(code: DiscountCode, *, now: datetime) -> int:
    return (
        Purchase.objects.filter(discount_code=code)
        .filter(Q(status__in=USED_STATUSES) | Q(status=Purchase.Status.PENDING, expires_at__gt=now))
        .count()
    )


def country_refused(country: str) -> bool:
    return bool(country) and country.upper() in settings.REFUSED_COUNTRIES


def country_name(country: str) -> str:
    return countries.name(country.upper()) or country.upper()


def purchases_of(user) -> QuerySet[Purchase]:
    return Purchase.objects.filter(buyer=user).select_related("plan", "challenge", "discount_code")


def purchase_of(user, ref: str) -> Purchase | None:
    return purchases_of(user).filter(ref=ref).first()


@dataclass(frozen=True)
class RetryOffer:
    challenge: Challenge
    plan: Plan
    discount_pct: Decimal
    price: Decimal
    currency: str


def retry_offer(challenge: Challenge) -> RetryOffer | None:
    """The plan again at the failed challenge's retry discount, until it is used."""
    pct = challenge.retry_discount_pct
    if challenge.status != Challenge.Status.FAILED or not pct:
        return None
    if Challenge.objects.filter(retry_of=challenge).exists():
        return None
    if Purchase.objects.filter(retry_of=challenge, status=Purchase.Status.PAID).exists():
        return None
    plan = plan_on_sale(challenge.plan.code)
    if plan is None:
        return None
    quote = quote_compute(currency=plan.currency, list_price=plan.price, retry_discount_pct=pct)
    return RetryOffer(
        challenge=challenge, plan=plan, discount_pct=pct, price=quote.amount, currency=plan.currency
    )
