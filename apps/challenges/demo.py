"""Demo challenges for `seed_demo`: the demo trader is in phase 1 of a 2-step $100k plan."""

from __future__ import annotations

from decimal import Decimal

from apps.accounts.models import User
from apps.challenges.lifecycle import challenge_start
from apps.challenges.models import Plan


def seed_challenges() -> list[str]:
    trader = User.objects.filter(email="trader@demo.test").first()
    plan = Plan.objects.filter(code="two-step-100k", status="published").first()
    if trader is None or plan is None:
        return ["skipped: run the people and catalogue seeders first"]
    challenge = challenge_start(
        trader=trader,
        plan=plan,
        purchase_ref="demo:trader:two-step-100k",
        price_paid=plan.price,
    )
    account = challenge.accounts.order_by("pk").last()
    return [
        f"trader@demo.test: {plan.name} challenge #{challenge.pk}, "
        f"phase {challenge.current_phase} on trading account #{account.trading_account_id} "
        f"({Decimal(account.starting_balance):,.0f} {challenge.currency})"
    ]
