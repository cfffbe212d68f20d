"""Demo discount codes for `seed_demo`: one that works, one that expired, one nearly used up."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from apps.billing.models import DiscountCode
from apps.billing.services import discount_code_save
from apps.core import clock


def seed_discount_codes() -> list[str]:
    now = clock.now()
    specs = [
        {
            "code": "WELCOME10",
            "kind": "percent",
            "value": Decimal("10"),
            "description": "10% off any challenge",
        },
        {
            "code": "FIFTYOFF",
            "kind": "fixed",
            "value": Decimal("50"),
            "max_uses": 100,
            "description": "$50 off, the first 100 purchases",
        },
        {
            "code": "SPRING2025",
            "kind": "percent",
            "value": Decimal("25"),
            "valid_from": now - timedelta(days=400),
            "valid_until": now - timedelta(days=300),
            "description": "An expired campaign (shows the refusal)",
        },
    ]
    lines = []
    for spec in specs:
        if DiscountCode.objects.filter(code=spec["code"]).exists():
            continue
        code = discount_code_save(code=DiscountCode(**spec), actor=None)
        lines.append(f"discount code {code.code}: {spec['description']}")
    return lines or ["discount codes: already there (WELCOME10, FIFTYOFF, SPRING2025)"]
