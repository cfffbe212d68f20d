"""Plans: what a candidate buys, versioned like rule sets, published only with published rule
sets, immutable (phases included) once published, and their admin."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.db.utils import DatabaseError

from apps.challenges.models import Plan, PlanPhase, RuleSet, Status
from apps.challenges.selectors import plan_describe, plan_on_sale, plans_on_sale
from apps.challenges.services import (
    ChallengesError,
    plan_create,
    plan_delete_draft,
    plan_new_draft,
    plan_publish,
    plan_retire,
    plan_set_phases,
    plan_update,
    ruleset_create,
    ruleset_new_draft,
    ruleset_publish,
    ruleset_retire,
)
from apps.core.models import AuditEvent
from tests.challenges.test_rulesets import funded_fields, published, ruleset_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def rulesets() -> dict[str, RuleSet]:
    return {
        "phase1": published(**ruleset_fields(code="p1")),
        "phase2": published(**ruleset_fields(code="p2", profit_target_value=Decimal("5"))),
        "funded": published(**funded_fields(code="funded")),
    }


def plan_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "code": "two-step-10k",
        "name": "Two-step $10,000",
        "price": Decimal("99.00"),
        "currency": "USD",
        "starting_balance": Decimal("10000.00"),
        "profit_split_pct": Decimal("80"),
        "payout_frequency": "biweekly",
        "first_payout_days": 14,
        "min_payout": Decimal("50.00"),
        "payout_requires_flat": True,
        "refund_fee_with_first_payout": True,
        "retry_discount_pct": Decimal("10"),
        "scaling_plan": [
            {
                "every_months": 4,
                "min_net_profit_pct": "10",
                "min_payouts": 2,
                "increase_pct_of_initial": "25",
                "profit_split_pct": "90",
            }
        ],
        "scaling_max_balance": Decimal("40000.00"),
    }
    fields.update(overrides)
    return fields


def make_plan(rulesets: dict[str, RuleSet], **overrides: Any) -> Plan:
    return plan_create(
        actor=None,
        phases=[rulesets["phase1"], rulesets["phase2"]],
        funded_ruleset=rulesets["funded"],
        **plan_fields(**overrides),
    )


def test_a_plan_is_created_as_a_draft_with_numbered_phases(rulesets):
    plan = make_plan(rulesets)
    assert (plan.version, plan.status) == (1, Status.DRAFT)
    assert [(p.number, p.ruleset.code) for p in plan.phases.order_by("number")] == [
        (1, "p1"),
        (2, "p2"),
    ]
    assert AuditEvent.objects.get(action="plan.create").after["phases"] == ["1: p1 v1", "2: p2 v1"]


def test_publishing_a_plan_freezes_it_and_puts_it_on_sale(rulesets):
    plan = plan_publish(plan=make_plan(rulesets), actor=None)
    assert plan.status == Status.PUBLISHED and plan.published_at is not None
    assert list(plans_on_sale()) == [plan]


# --- validation --------------------------------------------------------------------------

INVALID = [
    pytest.param({"profit_split_pct": Decimal("95")}, "profit_split_pct", "between 50% and 90%"),
    pytest.param({"profit_split_pct": Decimal("40")}, "profit_split_pct", "between 50% and 90%"),
    pytest.param({"price": Decimal("0")}, "price", "The price must be above 0"),
    pytest.param({"starting_balance": Decimal("-1")}, "starting_balance", "above 0"),
    pytest.param({"retry_discount_pct": Decimal("150")}, "retry_discount_pct", "0% and 100%"),
    pytest.param({"first_payout_days": 400}, "first_payout_days", "at most 365 days"),
    pytest.param({"payout_frequency": "weekly"}, "payout_frequency", "not a valid choice"),
    pytest.param({"scaling_plan": {"every_months": 4}}, "scaling_plan", "is a list of steps, like"),
    pytest.param(
        {"scaling_plan": [{"every_month": 4}]},
        "scaling_plan",
        "Step 1: unknown key “every_month”",
    ),
    pytest.param(
        {
            "scaling_plan": [
                {
                    "every_months": 4,
                    "min_net_profit_pct": 10,
                    "min_payouts": 2,
                    "increase_pct_of_initial": "25",
                }
            ]
        },
        "scaling_plan",
        "“min_net_profit_pct” must be a decimal in quotes",
        id="scaling-json-number",
    ),
    pytest.param(
        {
            "scaling_plan": [
                {
                    "every_months": 0,
                    "min_net_profit_pct": "10",
                    "min_payouts": 2,
                    "increase_pct_of_initial": "25",
                }
            ]
        },
        "scaling_plan",
        "“every_months” must be a whole number, at least 1",
    ),
    pytest.param(
        {
            "scaling_plan": [
                {
                    "every_months": 4,
                    "min_net_profit_pct": "10",
                    "min_payouts": 2,
                    "increase_pct_of_initial": "25",
                    "profit_split_pct": "75",
                }
            ]
        },
        "scaling_plan",
        "may not fall below the split before it (80%)",
    ),
    pytest.param(
        {"scaling_plan": [{"every_months": 4}]}, "scaling_plan", "“min_payouts” is missing"
    ),
    pytest.param({"scaling_max_balance": None}, "scaling_max_balance", "needs a maximum balance"),
    pytest.param(
        {"scaling_max_balance": Decimal("5000")},
        "scaling_max_balance",
        "below the starting balance",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "message"), INVALID)
def test_an_invalid_plan_is_refused_naming_the_field_and_nothing_is_saved(
    rulesets, overrides, field, message
):
    with pytest.raises(ChallengesError) as caught:
        make_plan(rulesets, **overrides)
    assert any(message in m for m in caught.value.errors[field]), caught.value.errors
    assert not Plan.objects.exists() and not PlanPhase.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="plan.").exists()


def test_a_plan_cannot_be_made_with_a_draft_rule_set(rulesets):
    draft = ruleset_create(actor=None, **ruleset_fields(code="draft-rules"))
    with pytest.raises(ChallengesError, match="Phase 1: draft-rules v1 is draft: a phase uses a"):
        plan_create(actor=None, phases=[draft], funded_ruleset=rulesets["funded"], **plan_fields())
    assert not Plan.objects.exists()


def test_a_plan_cannot_be_published_with_a_draft_rule_set(rulesets):
    plan = make_plan(rulesets)
    draft = ruleset_create(actor=None, **ruleset_fields(code="draft-rules"))
    PlanPhase.objects.filter(plan=plan, number=2).update(ruleset=draft)  # outside the services
    with pytest.raises(ChallengesError, match="Phase 2 uses rule set draft-rules v1, which is"):
        plan_publish(plan=plan, actor=None)
    assert Plan.objects.get(pk=plan.pk).status == Status.DRAFT


def test_a_plan_cannot_be_published_with_a_draft_funded_rule_set(rulesets):
    draft = ruleset_new_draft(source=rulesets["funded"], actor=None)
    plan = make_plan(rulesets)
    Plan.objects.filter(pk=plan.pk).update(funded_ruleset=draft)
    with pytest.raises(ChallengesError, match="The funded rule set funded v2 is draft: publish"):
        plan_publish(plan=plan, actor=None)


def test_a_plan_cannot_be_published_without_a_funded_rule_set(rulesets):
    plan = plan_create(actor=None, phases=[rulesets["phase1"]], **plan_fields())
    with pytest.raises(ChallengesError, match="Choose the funded rule set"):
        plan_publish(plan=plan, actor=None)


def test_a_plan_cannot_be_published_without_phases_or_with_gaps(rulesets):
    plan = plan_create(actor=None, funded_ruleset=rulesets["funded"], **plan_fields())
    with pytest.raises(ChallengesError, match="no evaluation phase: add phase 1"):
        plan_publish(plan=plan, actor=None)
    PlanPhase.objects.create(plan=plan, number=1, ruleset=rulesets["phase1"])
    PlanPhase.objects.create(plan=plan, number=3, ruleset=rulesets["phase2"])
    with pytest.raises(ChallengesError, match="without gaps \\(found 1, 3\\)"):
        plan_publish(plan=plan, actor=None)


def test_setting_phases_with_a_gap_or_too_many_is_refused(rulesets):
    plan = make_plan(rulesets)
    p1 = rulesets["phase1"]
    with pytest.raises(ChallengesError, match="phase 2 is missing"):
        plan_set_phases(plan=plan, phases={1: p1, 3: p1}, actor=None)
    with pytest.raises(ChallengesError, match="one to three evaluation phases"):
        plan_set_phases(plan=plan, phases={1: p1, 2: p1, 3: p1, 4: p1}, actor=None)
    assert plan.phases.count() == 2


def test_stages_must_match_their_rule_sets(rulesets):
    with pytest.raises(ChallengesError, match="is a funded rule set: a phase uses an evaluation"):
        plan_create(actor=None, phases=[rulesets["funded"]], **plan_fields())
    with pytest.raises(ChallengesError) as caught:
        plan_create(actor=None, funded_ruleset=rulesets["phase1"], **plan_fields())
    assert "choose a funded one" in caught.value.errors["funded_ruleset"][0]


def test_a_fixed_loss_as_large_as_the_starting_balance_is_refused_at_publish(rulesets):
    big = published(
        **funded_fields(
            code="big-funded",
            daily_loss_kind="fixed",
            daily_loss_value=Decimal("10000"),
            max_loss_kind="fixed",
            max_loss_value=Decimal("20000"),
        )
    )
    plan = plan_create(actor=None, phases=[rulesets["phase1"]], funded_ruleset=big, **plan_fields())
    with pytest.raises(ChallengesError, match="fixed max loss of 20000 is not below"):
        plan_publish(plan=plan, actor=None)


# --- versions ------------------------------------------------------------------------------


def test_a_published_plan_cannot_be_edited_through_the_services(rulesets):
    plan = plan_publish(plan=make_plan(rulesets), actor=None)
    with pytest.raises(ChallengesError, match="is published and cannot be edited"):
        plan_update(plan=plan, actor=None, price=Decimal("1.00"))
    with pytest.raises(ChallengesError, match="is published and cannot be edited"):
        plan_set_phases(plan=plan, phases={1: rulesets["phase1"]}, actor=None)
    with pytest.raises(ChallengesError, match="only a draft can be deleted"):
        plan_delete_draft(plan=plan, actor=None)
    plan.refresh_from_db()
    assert plan.price == Decimal("99.00") and plan.phases.count() == 2


def test_the_database_refuses_edits_and_deletes_of_a_published_plan(rulesets):
    plan = plan_publish(plan=make_plan(rulesets), actor=None)
    plan.price = Decimal("1.00")
    with pytest.raises(DatabaseError, match="two-step-10k v1 is published"), transaction.atomic():
        plan.save()
    with pytest.raises(DatabaseError, match="cannot be edited"), transaction.atomic():
        Plan.objects.filter(pk=plan.pk).update(profit_split_pct=90)
    # The ORM deletes the phases first: the phases' trigger is the first to refuse.
    with pytest.raises(DatabaseError, match="v1 is published"), transaction.atomic():
        Plan.objects.filter(pk=plan.pk).delete()
    with pytest.raises(DatabaseError, match="only a draft can be deleted"), transaction.atomic():
        Plan.objects.filter(pk=plan.pk)._raw_delete(Plan.objects.db)
    assert Plan.objects.get(pk=plan.pk).price == Decimal("99.00")


def test_the_database_refuses_changing_the_phases_of_a_published_plan(rulesets):
    plan = plan_publish(plan=make_plan(rulesets), actor=None)
    phases = PlanPhase.objects.filter(plan=plan)
    with pytest.raises(DatabaseError, match="its phases cannot be changed"), transaction.atomic():
        phases.filter(number=2).update(ruleset=rulesets["phase1"])
    with pytest.raises(DatabaseError, match="its phases cannot be changed"), transaction.atomic():
        phases.filter(number=2).delete()
    with pytest.raises(DatabaseError, match="its phases cannot be changed"), transaction.atomic():
        PlanPhase.objects.create(plan=plan, number=3, ruleset=rulesets["phase1"])
    assert list(phases.values_list("number", "ruleset__code")) == [(1, "p1"), (2, "p2")]


def test_a_draft_plan_is_deleted_with_its_phases(rulesets):
    plan = make_plan(rulesets)
    plan_delete_draft(plan=plan, actor=None)
    assert not Plan.objects.exists() and not PlanPhase.objects.exists()


def test_a_new_draft_copies_the_plan_and_its_phases(rulesets):
    v1 = plan_publish(plan=make_plan(rulesets), actor=None)
    v2 = plan_new_draft(source=v1, actor=None)
    assert (v2.code, v2.version, v2.status) == ("two-step-10k", 2, Status.DRAFT)
    assert v2.funded_ruleset == v1.funded_ruleset and v2.scaling_plan == v1.scaling_plan
    assert [p.ruleset_id for p in v2.phases.order_by("number")] == [
        p.ruleset_id for p in v1.phases.order_by("number")
    ]
    plan_update(plan=v2, actor=None, price=Decimal("89.00"))
    plan_set_phases(plan=v2, phases={1: rulesets["phase1"]}, actor=None)
    v1.refresh_from_db()
    assert v1.price == Decimal("99.00") and v1.phases.count() == 2


def test_publishing_a_new_version_takes_the_old_one_off_sale(rulesets):
    v1 = plan_publish(plan=make_plan(rulesets), actor=None)
    v2 = plan_new_draft(source=v1, actor=None)
    plan_update(plan=v2, actor=None, price=Decimal("89.00"))
    plan_publish(plan=v2, actor=None)
    v1.refresh_from_db()
    assert v1.status == Status.RETIRED
    assert plan_on_sale("two-step-10k") == v2
    assert AuditEvent.objects.filter(action="plan.retire").get().after == {
        "status": "retired",
        "replaced_by": "two-step-10k v2",
    }


def test_retiring_a_plan_is_allowed_and_un_retiring_is_refused(rulesets):
    plan = plan_publish(plan=make_plan(rulesets), actor=None)
    plan = plan_retire(plan=plan, actor=None)
    assert plan.status == Status.RETIRED and not plans_on_sale().exists()
    with pytest.raises(ChallengesError, match="retired versions stay retired"):
        plan_publish(plan=plan, actor=None)
    with pytest.raises(DatabaseError, match="is retired"), transaction.atomic():
        Plan.objects.filter(pk=plan.pk).update(status="published")


def test_retiring_a_rule_set_takes_its_plans_off_sale_and_changes_nothing_else(rulesets):
    plan = plan_publish(plan=make_plan(rulesets), actor=None)
    ruleset_retire(ruleset=rulesets["phase2"], actor=None)
    assert not plans_on_sale().exists()
    plan.refresh_from_db()
    assert plan.status == Status.PUBLISHED
    assert plan.phases.get(number=2).ruleset.status == Status.RETIRED


def test_plans_on_sale_fetch_phases_and_rule_sets_in_a_fixed_number_of_queries(
    rulesets, django_assert_num_queries
):
    for size in (10, 50, 100):
        plan_publish(
            plan=make_plan(
                rulesets,
                code=f"two-step-{size}k",
                starting_balance=Decimal(size * 1000),
                scaling_max_balance=Decimal(size * 4000),
            ),
            actor=None,
        )
    with django_assert_num_queries(2):
        plans = list(plans_on_sale())
        described = [plan_describe(p) for p in plans]
        funded = [p.funded_ruleset.code for p in plans]
    assert [p.starting_balance for p in plans] == [10000, 50000, 100000]
    assert funded == ["funded"] * 3
    assert "Phase 2: Profit target: 5% of the starting balance" in described[0][4]


def test_a_plan_is_described_in_plain_words(rulesets):
    plan = plan_publish(plan=make_plan(rulesets), actor=None)
    lines = plan_describe(plan)
    assert lines[:3] == ["Price: 99.00 USD", "Account: 10,000.00 USD", "Evaluation: 2 phases"]
    assert "Profit split: 80% to you" in lines
    assert "The challenge fee is refunded with your first payout" in lines
    assert "Scaling up to 40,000.00 USD" in lines


# --- the admin ---------------------------------------------------------------------------

ADMIN = "/admin/challenges/plan/"


def admin_data(rulesets: dict[str, RuleSet], phases: list[tuple[int, RuleSet]], **overrides):
    fields = plan_fields(**overrides)
    data = {
        key: ("" if value is None else str(value))
        for key, value in fields.items()
        if key != "scaling_plan"
    }
    import json

    data["scaling_plan"] = json.dumps(fields["scaling_plan"])
    data["description"] = ""
    data["funded_ruleset"] = str(rulesets["funded"].pk)
    data["payout_requires_flat"] = "on"
    data["refund_fee_with_first_payout"] = "on"
    data.update(
        {
            "phases-TOTAL_FORMS": str(len(phases)),
            "phases-INITIAL_FORMS": "0",
            "phases-MIN_NUM_FORMS": "0",
            "phases-MAX_NUM_FORMS": "3",
        }
    )
    for i, (number, ruleset) in enumerate(phases):
        data[f"phases-{i}-number"] = str(number)
        data[f"phases-{i}-ruleset"] = str(ruleset.pk)
    return data


def test_the_plan_admin_pages_load_for_a_firm_admin(admin_client_mfa, rulesets):
    client, _ = admin_client_mfa
    plan = plan_publish(plan=make_plan(rulesets), actor=None)
    assert client.get(ADMIN).status_code == 200
    assert client.get(f"{ADMIN}?status__exact=published").status_code == 200
    assert client.get(f"{ADMIN}add/").status_code == 200
    html = client.get(f"{ADMIN}{plan.pk}/change/").content.decode()
    assert "View plan" in html and 'name="price"' not in html
    assert 'name="phases-0-ruleset"' not in html  # the phases are read-only too
    assert "Profit split: 80% to you" in html


def test_the_admin_adds_a_plan_with_its_phases(admin_client_mfa, rulesets):
    client, admin_user = admin_client_mfa
    data = admin_data(rulesets, [(1, rulesets["phase1"]), (2, rulesets["phase2"])])
    response = client.post(f"{ADMIN}add/", data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    plan = Plan.objects.get()
    assert [p.ruleset.code for p in plan.phases.order_by("number")] == ["p1", "p2"]
    assert AuditEvent.objects.get(action="plan.phases").actor_id == admin_user.pk


def test_the_admin_shows_a_phase_gap_and_saves_nothing(admin_client_mfa, rulesets):
    client, _ = admin_client_mfa
    data = admin_data(rulesets, [(1, rulesets["phase1"]), (3, rulesets["phase2"])])
    response = client.post(f"{ADMIN}add/", data)
    assert response.status_code == 200
    assert "phase 2 is missing" in response.content.decode()
    assert not Plan.objects.exists()


def test_the_admin_shows_a_bad_scaling_plan_on_the_form(admin_client_mfa, rulesets):
    client, _ = admin_client_mfa
    data = admin_data(rulesets, [(1, rulesets["phase1"])], scaling_plan=[{"every_months": "four"}])
    response = client.post(f"{ADMIN}add/", data)
    assert response.status_code == 200
    assert "Step 1: “every_months” must be a whole number" in response.content.decode()
    assert not Plan.objects.exists()


def test_the_admin_refuses_changes_to_a_published_plan(admin_client_mfa, rulesets):
    client, _ = admin_client_mfa
    plan = plan_publish(plan=make_plan(rulesets), actor=None)
    data = admin_data(rulesets, [(1, rulesets["phase1"])], price="1.00")
    assert client.post(f"{ADMIN}{plan.pk}/change/", data).status_code == 403
    assert client.post(f"{ADMIN}{plan.pk}/delete/", {"post": "yes"}).status_code == 403
    plan.refresh_from_db()
    assert plan.price == Decimal("99.00") and plan.phases.count() == 2


def _action(client, action: str, *plans: Plan):
    return client.post(
        ADMIN, {"action": action, "_selected_action": [str(p.pk) for p in plans]}, follow=True
    )


def test_the_plan_admin_actions_publish_copy_and_retire(admin_client_mfa, rulesets):
    client, _ = admin_client_mfa
    plan = make_plan(rulesets)
    assert "Published two-step-10k v1." in _action(client, "publish", plan).content.decode()
    html = _action(client, "new_draft", plan).content.decode()
    assert "New draft: two-step-10k v2." in html
    assert "Retired two-step-10k v1." in _action(client, "retire", plan).content.decode()
    assert list(Plan.objects.order_by("version").values_list("status", flat=True)) == [
        "retired",
        "draft",
    ]


def test_the_plan_admin_says_why_a_plan_cannot_be_published(admin_client_mfa, rulesets):
    client, _ = admin_client_mfa
    plan = plan_create(actor=None, phases=[rulesets["phase1"]], **plan_fields())
    html = _action(client, "publish", plan).content.decode()
    assert "Choose the funded rule set." in html
    assert Plan.objects.get(pk=plan.pk).status == Status.DRAFT


def test_retiring_a_rule_set_in_the_admin_warns_which_plans_go_off_sale(admin_client_mfa, rulesets):
    client, _ = admin_client_mfa
    plan_publish(plan=make_plan(rulesets), actor=None)
    html = client.post(
        "/admin/challenges/ruleset/",
        {"action": "retire", "_selected_action": [str(rulesets["phase1"].pk)]},
        follow=True,
    ).content.decode()
    assert "plan(s) two-step-10k v1 are no longer on sale" in html


def test_a_rule_set_used_by_a_plan_cannot_be_deleted_while_a_draft(rulesets):
    from apps.challenges.services import ruleset_delete_draft

    draft = ruleset_new_draft(source=rulesets["phase1"], actor=None)
    ruleset_publish(ruleset=draft, actor=None)
    v3 = ruleset_new_draft(source=draft, actor=None)
    plan = make_plan(rulesets)
    PlanPhase.objects.filter(plan=plan, number=1).update(ruleset=v3)
    with pytest.raises(ChallengesError, match="is used by plan\\(s\\) two-step-10k v1"):
        ruleset_delete_draft(ruleset=v3, actor=None)


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_new_drafts_of_a_plan_make_one():
    from tests.challenges.test_rulesets import race

    rulesets = {
        "phase1": published(**ruleset_fields(code="p1")),
        "phase2": published(**ruleset_fields(code="p2")),
        "funded": published(**funded_fields(code="funded")),
    }
    source = plan_publish(plan=make_plan(rulesets), actor=None)
    outcomes = race(lambda: plan_new_draft(source=source, actor=None), n=4)
    assert sum(isinstance(o, Plan) for o in outcomes) == 1, outcomes
    assert sum("already has a draft (v2)" in str(o) for o in outcomes) == 3
    assert Plan.objects.get(version=2).phases.count() == 2


def test_a_plan_may_scale_on_a_return_and_cut_after_a_drawdown():
    from apps.challenges.models import scaling_problems

    steps = [
        {
            "every_months": 4,
            "min_net_profit_pct": "10",
            "min_payouts": 2,
            "increase_pct_of_initial": "25",
        },
        {"after_return_pct": "10", "multiply": "2"},
        {"after_drawdown_pct": "5", "cut_pct_of_initial": "25"},
    ]
    assert scaling_problems(steps, Decimal("80")) == []
    bad = [{"after_return_pct": "10", "multiply": "1"}, {"after_drawdown_pct": 5}]
    problems = scaling_problems(bad, Decimal("80"))
    assert "Step 1: “multiply” must be above 1 and at most 10." in problems
    assert 'Step 2: “after_drawdown_pct” must be a decimal in quotes, like "10".' in problems
    assert "Step 2: “cut_pct_of_initial” is missing." in problems
