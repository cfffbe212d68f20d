"""The demo catalogue: six published plans on fifteen published rule sets, loaded
idempotently, whose rules the engine accepts and judges sensibly."""

from __future__ import annotations

from typing import Any

import pytest

from apps.challenges import catalogue
from apps.challenges.models import Plan, PlanPhase, RuleSet, Status
from apps.challenges.rules import replay, rules_from_json, scenario_from_json
from apps.challenges.selectors import plans_on_sale, ruleset_describe
from apps.core.demo import seeders
from apps.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _snapshot() -> tuple:
    rulesets = sorted(
        (r.code, r.version, r.status, str(r.to_rules_json()), str(r.to_limits_json()))
        for r in RuleSet.objects.all()
    )
    plans = sorted(
        (p.code, p.version, p.status, p.price, p.funded_ruleset.code)
        for p in Plan.objects.select_related("funded_ruleset")
    )
    phases = sorted(PlanPhase.objects.values_list("plan__code", "number", "ruleset__code"))
    return rulesets, plans, phases, AuditEvent.objects.count()


def test_the_catalogue_seeder_is_registered_after_the_people():
    names = [s.name for s in seeders()]
    assert "catalogue" in names and names.index("catalogue") > names.index("people")
    assert next(s for s in seeders() if s.name == "catalogue").order == 40


def test_the_catalogue_loads_six_published_plans_and_is_idempotent():
    lines = catalogue.seed()
    assert lines[0] == "rule sets: 15 new; plans: 6 new"
    first = _snapshot()
    again = catalogue.seed()
    assert again[0] == "rule sets: 0 new; plans: 0 new"
    assert _snapshot() == first
    assert RuleSet.objects.filter(status=Status.PUBLISHED).count() == 15
    on_sale = list(plans_on_sale())
    assert [(p.code, p.price, p.starting_balance) for p in on_sale] == [
        ("two-step-10k", 99, 10000),
        ("one-step-10k", 119, 10000),
        ("two-step-50k", 299, 50000),
        ("one-step-50k", 349, 50000),
        ("two-step-100k", 549, 100000),
        ("one-step-100k", 629, 100000),
    ]
    for plan in on_sale:
        phases = [p.ruleset.code for p in plan.phases.all()]
        expected = 2 if plan.code.startswith("two-step") else 1
        assert len(phases) == expected and plan.funded_ruleset.code == f"{plan.code}-funded"
        assert plan.profit_split_pct == 80 and plan.payout_frequency == "biweekly"
        assert plan.refund_fee_with_first_payout
        assert plan.scaling_plan[-1]["profit_split_pct"] == "90"


def test_a_plan_changed_in_the_admin_is_left_alone_by_the_seeder():
    from apps.challenges.services import plan_new_draft, plan_publish, plan_update

    catalogue.seed()
    v1 = Plan.objects.get(code="two-step-10k")
    v2 = plan_new_draft(source=v1, actor=None)
    plan_update(plan=v2, actor=None, price="79.00")
    plan_publish(plan=v2, actor=None)
    catalogue.seed()
    assert list(Plan.objects.filter(code="two-step-10k").values_list("version", "status")) == [
        (2, "published"),
        (1, "retired"),
    ]


def test_every_catalogue_rule_set_is_accepted_by_the_engine():
    catalogue.seed()
    for ruleset in RuleSet.objects.all():
        rules = rules_from_json(ruleset.to_rules_json())
        assert rules.has_objectives == (ruleset.stage == "evaluation"), ruleset.code


def test_the_two_step_phase_one_rules_are_the_published_ones():
    catalogue.seed()
    ruleset = RuleSet.objects.get(code="two-step-10k-phase-1")
    assert ruleset.to_rules_json() == {
        "day_reset": {"timezone": "UTC", "time": "00:00"},
        "breach_when": "below",
        "profit_target": {"amount": {"pct_of_initial": "8"}, "basis": "balance"},
        "daily_loss": {"anchor": "day_start_balance", "amount": {"pct_of_initial": "5"}},
        "max_loss": {"anchor": "initial", "amount": {"pct_of_initial": "10"}, "lock_at": None},
        "min_trading_days": {"count": 4, "qualifying": {"kind": "any_trade"}},
        "max_duration_days": 30,
        "consistency": None,
    }
    lines = ruleset_describe(ruleset)
    assert (
        "Daily loss: 5% of the starting balance, measured from the balance at the day's start "
        "(00:00 UTC)"
    ) in lines
    assert "Time limit: 30 days" in lines


def _replay(code: str, events: list[dict[str, Any]], balance: str = "10000") -> dict[str, Any]:
    rules = RuleSet.objects.get(code=code).to_rules_json()
    account = {"currency": "USD", "starting_balance": balance, "start": "2026-03-02T08:00:00Z"}
    return replay(scenario_from_json({"account": account, "rules": rules, "events": events}))


def _round_trip(day: int, profit_price: str) -> list[dict[str, Any]]:
    t = f"2026-03-{day:02d}"
    return [
        {"t": f"{t}T09:00:00Z", "type": "fill", "symbol": "BTC", "side": "buy", "qty": "0.1",
         "price": "60000"},
        {"t": f"{t}T10:00:00Z", "type": "fill", "symbol": "BTC", "side": "sell", "qty": "0.1",
         "price": profit_price},
    ]  # fmt: skip


def test_a_two_step_phase_one_fails_on_the_daily_loss():
    catalogue.seed()
    result = _replay(
        "two-step-10k-phase-1",
        [
            {"t": "2026-03-02T09:00:00Z", "type": "fill", "symbol": "BTC", "side": "buy",
             "qty": "1", "price": "60000"},
            {"t": "2026-03-02T09:05:00Z", "type": "mark", "symbol": "BTC", "price": "59450"},
        ],
    )  # fmt: skip
    assert (result["status"], result["reason"]) == ("failed", "daily_loss")
    assert (result["daily_floor"], result["max_loss_floor"]) == ("9500.00", "9000.00")
    assert result["equity"] == "9450.00"


def test_a_two_step_phase_one_passes_with_8_percent_over_4_trading_days():
    catalogue.seed()
    events = [e for day in (2, 3, 4, 5) for e in _round_trip(day, "62000")]  # +200 a day
    result = _replay("two-step-10k-phase-1", events)
    assert (result["status"], result["balance"], result["trading_days"]) == (
        "passed",
        "10800.00",
        4,
    )
    assert result["decided_at"] == "2026-03-05T10:00:00Z"


def test_the_one_step_trailing_floor_locks_at_the_starting_balance():
    catalogue.seed()
    events = _round_trip(2, "67000")  # +700 on the first day: end-of-day peak 10,700
    events.append({"t": "2026-03-03T12:00:00Z", "type": "end"})
    result = _replay("one-step-10k-phase-1", events)
    assert result["status"] == "active"
    assert result["max_loss_floor"] == "10000.00"  # 10,700 - 600 = 10,100, locked at 10,000
    assert result["daily_floor"] == "10300.00"  # 4% below the day-start balance


def test_the_one_step_consistency_rule_holds_back_a_pass_made_in_one_day():
    catalogue.seed()
    events = _round_trip(2, "70000")  # +1,000 in a day: the 10% target, but 100% of the profit
    events.append({"t": "2026-03-04T12:00:00Z", "type": "end"})
    result = _replay("one-step-10k-phase-1", events)
    assert (result["status"], result["profit_target_met"]) == ("active", True)
    assert result["best_day_share_pct"] == "100.00"


def test_a_funded_rule_set_never_passes():
    catalogue.seed()
    events = [e for day in (2, 3, 4, 5, 6) for e in _round_trip(day, "64000")]
    result = _replay("two-step-10k-funded", events)
    assert (result["status"], result["balance"], result["profit_target_met"]) == (
        "active",
        "12000.00",
        None,
    )
