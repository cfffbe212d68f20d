"""Building blocks for lifecycle tests: a small published plan and trading through the
real order entry, outbox, paper venue and fill booking."""

from __future__ import annotations

from decimal import Decimal

from apps.challenges.models import Plan
from apps.challenges.services import plan_create, plan_publish, ruleset_create, ruleset_publish
from apps.trading.outbox import outbox_dispatch
from apps.trading.registry import OrderIntent
from apps.trading.services import order_submit

LIMITS = {
    "max_leverage": Decimal("20"),
    "allowed_instruments": [],
    "allowed_directions": "both",
    "max_order_notional": Decimal("1000000"),
    "max_position_notional": Decimal("1000000"),
    "max_margin_use_pct": Decimal("100"),
    "price_band_pct": Decimal("10"),
    "max_open_orders": 50,
    "max_orders_per_minute": 600,
}
LOSSES = {
    "daily_loss_anchor": "day_start_balance",
    "daily_loss_kind": "pct_of_initial",
    "daily_loss_value": Decimal("5"),
    "max_loss_anchor": "initial",
    "max_loss_kind": "pct_of_initial",
    "max_loss_value": Decimal("10"),
}
COMMON = {"day_reset_timezone": "UTC", "day_reset_time": "00:00", "breach_when": "below"}


def make_plan(code: str = "test-2step", *, min_days: int = 1, phases: int = 2) -> Plan:
    rulesets = []
    for number in range(1, phases + 1):
        ruleset = ruleset_create(
            actor=None,
            code=f"{code}-p{number}",
            name=f"{code} phase {number}",
            stage="evaluation",
            profit_target_kind="pct_of_initial",
            profit_target_value=Decimal("5"),
            min_trading_days=min_days,
            max_duration_days=30,
            **COMMON,
            **LOSSES,
            **LIMITS,
        )
        rulesets.append(ruleset_publish(ruleset=ruleset, actor=None))
    funded = ruleset_publish(
        ruleset=ruleset_create(
            actor=None,
            code=f"{code}-funded",
            name=f"{code} funded",
            stage="funded",
            **COMMON,
            **LOSSES,
            **LIMITS,
        ),
        actor=None,
    )
    plan = plan_create(
        actor=None,
        phases=rulesets,
        funded_ruleset=funded,
        code=code,
        name=f"Plan {code}",
        price=Decimal("100"),
        currency="USD",
        starting_balance=Decimal("100000"),
        profit_split_pct=Decimal("80"),
        payout_frequency="biweekly",
        first_payout_days=14,
        min_payout=Decimal("50"),
        payout_requires_flat=True,
        refund_fee_with_first_payout=True,
        retry_discount_pct=Decimal("15"),
        scaling_plan=[],
        scaling_max_balance=None,
    )
    return plan_publish(plan=plan, actor=None)


def trade(account, side: str, size: str, key: str, *, reduce_only: bool = False):
    """A market order through order entry; the outbox sends it and the fill is booked."""
    order = order_submit(
        account=account,
        intent=OrderIntent(
            coin="BTC", side=side, kind="market", size=Decimal(size), reduce_only=reduce_only
        ),
        origin="trader_web",
        idempotency_key=key,
    )
    outbox_dispatch()
    order.refresh_from_db()
    return order
