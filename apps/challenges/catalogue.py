"""The demo catalogue: a two-step and a one-step challenge at $10k, $50k and $100k.

Rules of the kind firms publish. Two-step: an 8% then a 5% target, 5% daily loss on the
day-start balance at 00:00 UTC, 10% static max loss, 4 minimum trading days, 30 and 60 days.
One-step (dearer, no time limit): a 10% target, 4% daily loss on the higher of the day-start
balance and equity, 6% max loss trailing the end-of-day balance and locked at the starting
balance, no day above 40% of the net profit. Funded: the same loss rules, no objective, an
80% split rising to 90% through scaling, payouts every two weeks, the fee refunded with the
first payout.

`seed()` is the `seed_demo` step (idempotent): a family that exists is left as it is, since
published versions never change.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.challenges.models import Plan, RuleSet, Stage, Status
from apps.challenges.services import plan_create, plan_publish, ruleset_create, ruleset_publish

SIZES = (10_000, 50_000, 100_000)
PRICES = {
    "two-step": {10_000: "99", 50_000: "299", 100_000: "549"},
    "one-step": {10_000: "119", 50_000: "349", 100_000: "629"},
}
MAJORS = ["BTC", "ETH", "SOL", "XRP", "DOGE", "HYPE"]


def _limits(size: int, *, leverage: str, instruments: list[str]) -> dict[str, Any]:
    return {
        "max_leverage": Decimal(leverage),
        "allowed_instruments": instruments,
        "allowed_directions": "both",
        "max_order_notional": Decimal(size) * Decimal("2.5"),
        "max_position_notional": Decimal(size) * 5,
        "max_margin_use_pct": Decimal("80"),
        "price_band_pct": Decimal("5"),
        "max_open_orders": 25,
        "max_orders_per_minute": 60,
    }


TWO_STEP_LOSSES: dict[str, Any] = {
    "daily_loss_anchor": "day_start_balance",
    "daily_loss_kind": "pct_of_initial",
    "daily_loss_value": Decimal("5"),
    "max_loss_anchor": "initial",
    "max_loss_kind": "pct_of_initial",
    "max_loss_value": Decimal("10"),
}
ONE_STEP_LOSSES: dict[str, Any] = {
    "daily_loss_anchor": "day_start_max",
    "daily_loss_kind": "pct_of_initial",
    "daily_loss_value": Decimal("4"),
    "max_loss_anchor": "peak_eod_balance",
    "max_loss_kind": "pct_of_initial",
    "max_loss_value": Decimal("6"),
    "max_loss_lock_kind": "pct_of_initial",
    "max_loss_lock_value": Decimal("100"),
}


def _k(size: int) -> str:
    return f"{size // 1000}k"


def ruleset_specs(size: int) -> dict[str, dict[str, Any]]:
    """The rule sets of one account size, by code, in creation order."""
    two, one = f"two-step-{_k(size)}", f"one-step-{_k(size)}"
    two_limits = _limits(size, leverage="10", instruments=[])
    one_limits = _limits(size, leverage="5", instruments=MAJORS)
    common = {"day_reset_timezone": "UTC", "day_reset_time": "00:00", "breach_when": "below"}

    def phase(target: str, days: int) -> dict[str, Any]:
        return {
            **common,
            "stage": Stage.EVALUATION,
            "profit_target_kind": "pct_of_initial",
            "profit_target_value": Decimal(target),
            **TWO_STEP_LOSSES,
            "min_trading_days": 4,
            "max_duration_days": days,
            **two_limits,
        }

    return {
        f"{two}-phase-1": {
            "name": f"Two-step ${_k(size)}: phase 1",
            "description": "Reach 8% in 30 days, trading at least 4 days.",
            **phase("8", 30),
        },
        f"{two}-phase-2": {
            "name": f"Two-step ${_k(size)}: phase 2",
            "description": "Reach 5% in 60 days, trading at least 4 days.",
            **phase("5", 60),
        },
        f"{two}-funded": {
            "name": f"Two-step ${_k(size)}: funded",
            "description": "The firm's capital under the evaluation's loss limits.",
            **common,
            "stage": Stage.FUNDED,
            **TWO_STEP_LOSSES,
            **two_limits,
        },
        f"{one}-phase-1": {
            "name": f"One-step ${_k(size)}: evaluation",
            "description": "Reach 10% with no time limit; no day above 40% of the profit.",
            **common,
            "stage": Stage.EVALUATION,
            "profit_target_kind": "pct_of_initial",
            "profit_target_value": Decimal("10"),
            **ONE_STEP_LOSSES,
            "consistency_max_best_day_share_pct": Decimal("40"),
            "consistency_of": "net_profit",
            **one_limits,
        },
        f"{one}-funded": {
            "name": f"One-step ${_k(size)}: funded",
            "description": "The firm's capital under the evaluation's loss limits.",
            **common,
            "stage": Stage.FUNDED,
            **ONE_STEP_LOSSES,
            **one_limits,
        },
    }


SCALING = [
    {
        "every_months": 4,
        "min_net_profit_pct": "10",
        "min_payouts": 2,
        "increase_pct_of_initial": "25",
        "profit_split_pct": split,
    }
    for split in ("85", "90")
]


def plan_specs() -> list[dict[str, Any]]:
    """The six plans: fields plus `phases` and `funded` (rule set codes)."""
    plans = []
    for kind, label, phases in (
        ("two-step", "Two-step", ["phase-1", "phase-2"]),
        ("one-step", "One-step", ["phase-1"]),
    ):
        for size in SIZES:
            code = f"{kind}-{_k(size)}"
            plans.append(
                {
                    "code": code,
                    "name": f"{label} challenge ${size:,}",
                    "description": f"{label} evaluation of a ${size:,} account.",
                    "price": Decimal(PRICES[kind][size]),
                    "currency": "USD",
                    "starting_balance": Decimal(size),
                    "profit_split_pct": Decimal("80"),
                    "payout_frequency": "biweekly",
                    "first_payout_days": 14,
                    "min_payout": Decimal("50"),
                    "payout_requires_flat": True,
                    "refund_fee_with_first_payout": True,
                    "retry_discount_pct": Decimal("10"),
                    "scaling_plan": [dict(step) for step in SCALING],
                    "scaling_max_balance": Decimal(size) * 4,
                    "phases": [f"{code}-{p}" for p in phases],
                    "funded": f"{code}-funded",
                }
            )
    return plans


def _published(code: str) -> RuleSet | None:
    return RuleSet.objects.filter(code=code, status=Status.PUBLISHED).order_by("-version").first()


def seed() -> list[str]:
    made_rulesets = made_plans = 0
    for size in SIZES:
        for code, spec in ruleset_specs(size).items():
            if RuleSet.objects.filter(code=code).exists():
                continue
            ruleset = ruleset_create(actor=None, code=code, **spec)
            ruleset_publish(ruleset=ruleset, actor=None)
            made_rulesets += 1
    lines = []
    for spec in plan_specs():
        fields = {k: v for k, v in spec.items() if k not in ("phases", "funded")}
        if Plan.objects.filter(code=spec["code"]).exists():
            continue
        phases = [_published(code) for code in spec["phases"]]
        funded = _published(spec["funded"])
        if funded is None or None in phases:
            lines.append(f"{spec['code']}: skipped, a rule set it needs has no published version")
            continue
        plan = plan_create(actor=None, phases=phases, funded_ruleset=funded, **fields)
        plan_publish(plan=plan, actor=None)
        made_plans += 1
    lines.insert(0, f"rule sets: {made_rulesets} new; plans: {made_plans} new")
    for plan in Plan.objects.filter(status=Status.PUBLISHED).order_by("code"):
        lines.append(
            f"{plan.code:<16} v{plan.version}  {plan.price:>7} {plan.currency}  "
            f"{plan.starting_balance:>10,.0f} account"
        )
    return lines
