"""Rule sets: validation a person can act on, the contract's rules object, versions that
cannot be edited once published (services, admin and the database), and the admin."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.utils import DatabaseError

from apps.challenges.models import RuleSet, Status
from apps.challenges.rules import rules_from_json
from apps.challenges.services import (
    ChallengesError,
    ruleset_create,
    ruleset_delete_draft,
    ruleset_new_draft,
    ruleset_publish,
    ruleset_retire,
    ruleset_update,
)
from apps.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def ruleset_fields(**overrides: Any) -> dict[str, Any]:
    """A valid evaluation rule set (a two-step phase 1 at $10k)."""
    fields: dict[str, Any] = {
        "code": "eval-10k",
        "name": "Evaluation $10k",
        "stage": "evaluation",
        "day_reset_timezone": "UTC",
        "day_reset_time": "00:00",
        "breach_when": "below",
        "profit_target_kind": "pct_of_initial",
        "profit_target_value": Decimal("8"),
        "daily_loss_anchor": "day_start_balance",
        "daily_loss_kind": "pct_of_initial",
        "daily_loss_value": Decimal("5"),
        "max_loss_anchor": "initial",
        "max_loss_kind": "pct_of_initial",
        "max_loss_value": Decimal("10"),
        "min_trading_days": 4,
        "max_duration_days": 30,
        "max_leverage": Decimal("10"),
        "max_order_notional": Decimal("25000.00"),
        "max_position_notional": Decimal("50000.00"),
    }
    fields.update(overrides)
    return fields


def funded_fields(**overrides: Any) -> dict[str, Any]:
    fields = ruleset_fields(
        code="funded-10k",
        name="Funded $10k",
        stage="funded",
        profit_target_kind="",
        profit_target_value=None,
        min_trading_days=None,
        max_duration_days=None,
    )
    fields.update(overrides)
    return fields


def published(**overrides: Any) -> RuleSet:
    return ruleset_publish(ruleset=ruleset_create(actor=None, **overrides), actor=None)


def actions_of(obj: Any) -> list[str]:
    return list(
        AuditEvent.objects.filter(
            subject_type=obj._meta.label_lower, subject_id=str(obj.pk)
        ).values_list("action", flat=True)
    )


# --- validation --------------------------------------------------------------------------

INVALID = [
    pytest.param(
        {"daily_loss_value": Decimal("12")},
        "daily_loss_value",
        "larger than the max loss",
        id="daily-loss-above-max-loss-in-percent",
    ),
    pytest.param(
        {
            "daily_loss_kind": "fixed",
            "daily_loss_value": Decimal("1500"),
            "max_loss_kind": "fixed",
            "max_loss_value": Decimal("1000"),
        },
        "daily_loss_value",
        "Make the daily loss at most 1000",
        id="daily-loss-above-max-loss-fixed",
    ),
    pytest.param({"day_reset_time": "25:00"}, "day_reset_time", "“25:00” is not a time of day"),
    pytest.param({"day_reset_time": "7pm"}, "day_reset_time", "HH:MM on the 24-hour clock"),
    pytest.param(
        {"day_reset_timezone": "Mars/Olympus"}, "day_reset_timezone", "not a known time zone"
    ),
    pytest.param(
        {"daily_loss_value": Decimal("150"), "max_loss_value": Decimal("150")},
        "daily_loss_value",
        "at most 100%",
        id="daily-loss-percent-above-100",
    ),
    pytest.param({"profit_target_value": Decimal("120")}, "profit_target_value", "at most 100%"),
    pytest.param({"max_margin_use_pct": Decimal("120")}, "max_margin_use_pct", "at most 100%"),
    pytest.param({"price_band_pct": Decimal("0")}, "price_band_pct", "more than 0%"),
    pytest.param(
        {"consistency_max_best_day_share_pct": Decimal("0")},
        "consistency_max_best_day_share_pct",
        "more than 0%",
    ),
    pytest.param(
        {"max_loss_kind": "pct_of_anchor"},
        "max_loss_kind",
        "percent of its anchor is not offered",
    ),
    pytest.param(
        {"max_loss_lock_kind": "pct_of_initial", "max_loss_lock_value": Decimal("100")},
        "max_loss_lock_kind",
        "only applies to a trailing max loss",
        id="lock-on-a-static-max-loss",
    ),
    pytest.param(
        {
            "max_loss_anchor": "peak_eod_balance",
            "max_loss_lock_kind": "pct_of_initial",
            "max_loss_lock_value": Decimal("80"),
        },
        "max_loss_lock_value",
        "lock at 90% or more",
        id="lock-below-the-starting-floor",
    ),
    pytest.param(
        {"max_loss_anchor": "day_start_balance"},
        "max_loss_anchor",
        "day-start anchors are for the daily loss",
    ),
    pytest.param({"profit_target_value": Decimal("0")}, "profit_target_value", "zero is met"),
    pytest.param({"profit_target_value": None}, "profit_target_value", "Enter the profit target"),
    pytest.param({"daily_loss_value": Decimal("0")}, "daily_loss_value", "breaches at once"),
    pytest.param(
        {"min_trading_days": 10, "max_duration_days": 7},
        "min_trading_days",
        "cannot fit in a time limit of 7 days",
    ),
    pytest.param({"min_trading_days": 0}, "min_trading_days", "enter 1 or more"),
    pytest.param(
        {"min_trading_days_qualifying": "profitable_day"},
        "min_trading_days_min_pct",
        "Enter the profit a day needs",
    ),
    pytest.param(
        {"min_trading_days_min_pct": Decimal("0.5")},
        "min_trading_days_min_pct",
        "only applies when a trading day must be profitable",
    ),
    pytest.param(
        {"profit_target_kind": "", "profit_target_value": None, "min_trading_days": None},
        "profit_target_kind",
        "nobody can pass it",
        id="evaluation-without-objectives",
    ),
    pytest.param({"stage": "funded"}, "stage", "A funded account has no objectives"),
    pytest.param(
        {"daily_loss_anchor": "", "daily_loss_value": Decimal("5")},
        "daily_loss_anchor",
        "Choose what the daily loss is measured from",
    ),
    pytest.param(
        {"daily_loss_kind": "pct_of_anchor", "daily_loss_anchor": "initial"},
        "daily_loss_kind",
        "choose “% of the starting balance”",
    ),
    pytest.param({"allowed_instruments": ["BTC", "BTC-PERP"]}, "allowed_instruments", "“BTC-PERP”"),
    pytest.param({"allowed_instruments": ["ETH", "eth"]}, "allowed_instruments", "twice"),
    pytest.param(
        {"max_order_notional": Decimal("60000")},
        "max_order_notional",
        "larger than the largest position",
    ),
    pytest.param({"max_leverage": Decimal("0")}, "max_leverage", "above 0 and at most 100x"),
    pytest.param({"max_open_orders": 0}, "max_open_orders", "at least 1"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), INVALID)
def test_an_invalid_rule_set_is_refused_naming_the_field_and_nothing_is_saved(
    overrides, field, message
):
    with pytest.raises(ChallengesError) as caught:
        ruleset_create(actor=None, **ruleset_fields(**overrides))
    assert field in caught.value.errors, caught.value.errors
    assert any(message in m for m in caught.value.errors[field]), caught.value.errors[field]
    label = str(RuleSet._meta.get_field(field).verbose_name)
    assert label.lower() in str(caught.value).lower()
    assert not RuleSet.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(("overrides", "field", "message"), INVALID)
def test_the_model_clean_used_by_forms_gives_the_same_message_on_the_field(
    overrides, field, message
):
    ruleset = RuleSet(**ruleset_fields(**overrides))
    with pytest.raises(ValidationError) as caught:
        ruleset.full_clean()
    assert any(message in m for m in caught.value.message_dict[field])


def test_amounts_of_different_kinds_are_not_compared():
    ruleset = ruleset_create(
        actor=None,
        **ruleset_fields(
            daily_loss_value=Decimal("5"), max_loss_kind="fixed", max_loss_value=Decimal("400")
        ),
    )
    assert ruleset.status == Status.DRAFT


def test_a_daily_loss_equal_to_the_max_loss_is_accepted():
    ruleset_create(actor=None, **ruleset_fields(daily_loss_value=Decimal("10")))


def test_a_second_family_with_the_same_code_is_refused():
    ruleset_create(actor=None, **ruleset_fields())
    with pytest.raises(ChallengesError, match="already exists: make a new draft"):
        ruleset_create(actor=None, **ruleset_fields(name="Again"))
    assert RuleSet.objects.count() == 1


def test_unknown_fields_are_refused():
    with pytest.raises(ChallengesError, match="Unknown rule set field"):
        ruleset_create(actor=None, **ruleset_fields(status="published"))


def test_publishing_validates_everything_again():
    ruleset = ruleset_create(actor=None, **ruleset_fields())
    # A draft is plain data: something outside the services may have broken it.
    RuleSet.objects.filter(pk=ruleset.pk).update(day_reset_time="24:30")
    with pytest.raises(ChallengesError, match="not a time of day"):
        ruleset_publish(ruleset=ruleset, actor=None)
    ruleset.refresh_from_db()
    assert ruleset.status == Status.DRAFT and ruleset.published_at is None


# --- the contract's rules object ---------------------------------------------------------


def test_to_rules_json_is_exactly_the_contracts_rules_object():
    ruleset = ruleset_create(
        actor=None,
        **ruleset_fields(
            day_reset_timezone="Europe/Prague",
            day_reset_time="17:00",
            breach_when="at_or_below",
            profit_target_basis="equity",
            daily_loss_anchor="day_start_max",
            daily_loss_kind="pct_of_anchor",
            daily_loss_value=Decimal("4.5"),
            max_loss_anchor="peak_eod_balance",
            max_loss_kind="fixed",
            max_loss_value=Decimal("600"),
            max_loss_lock_kind="fixed",
            max_loss_lock_value=Decimal("10000"),
            min_trading_days=3,
            min_trading_days_qualifying="profitable_day",
            min_trading_days_min_pct=Decimal("0.5"),
            max_duration_days=60,
            consistency_max_best_day_share_pct=Decimal("40"),
            consistency_of="positive_days",
        ),
    )
    ruleset.refresh_from_db()  # decimals as the database returns them (4.5000)
    assert ruleset.to_rules_json() == {
        "day_reset": {"timezone": "Europe/Prague", "time": "17:00"},
        "breach_when": "at_or_below",
        "profit_target": {"amount": {"pct_of_initial": "8"}, "basis": "equity"},
        "daily_loss": {"anchor": "day_start_max", "amount": {"pct_of_anchor": "4.5"}},
        "max_loss": {
            "anchor": "peak_eod_balance",
            "amount": {"fixed": "600"},
            "lock_at": {"fixed": "10000"},
        },
        "min_trading_days": {
            "count": 3,
            "qualifying": {"kind": "profitable_day", "min_pct_of_initial": "0.5"},
        },
        "max_duration_days": 60,
        "consistency": {"max_best_day_share_pct": "40", "of": "positive_days"},
    }
    rules = rules_from_json(ruleset.to_rules_json())
    assert rules.daily_loss.amount.value == Decimal("4.5")
    assert rules.max_loss.lock_at.value == Decimal("10000")


def test_absent_rules_are_null_and_the_engine_accepts_them():
    ruleset = ruleset_create(actor=None, **funded_fields(daily_loss_anchor="", **_no_daily()))
    ruleset.refresh_from_db()
    rules = ruleset.to_rules_json()
    assert rules["profit_target"] is None and rules["daily_loss"] is None
    assert rules["min_trading_days"] is None and rules["consistency"] is None
    assert rules["max_duration_days"] is None and rules["max_loss"]["lock_at"] is None
    assert rules_from_json(rules).has_objectives is False


def _no_daily() -> dict[str, Any]:
    return {"daily_loss_kind": "", "daily_loss_value": None}


def test_limits_for_the_gate_are_plain_strings():
    ruleset = ruleset_create(
        actor=None, **ruleset_fields(allowed_instruments=["BTC", "ETH"], max_order_qty="2.5")
    )
    ruleset.refresh_from_db()
    assert ruleset.to_limits_json() == {
        "max_leverage": "10",
        "allowed_instruments": ["BTC", "ETH"],
        "allowed_directions": "both",
        "max_order_qty": "2.5",
        "max_order_notional": "25000",
        "max_position_notional": "50000",
        "max_margin_use_pct": "80",
        "price_band_pct": "5",
        "max_open_orders": 20,
        "max_orders_per_minute": 60,
    }


# --- versions: draft -> published -> retired ---------------------------------------------


def test_a_draft_can_be_edited_and_every_step_is_audited():
    ruleset = ruleset_create(actor=None, **ruleset_fields())
    ruleset = ruleset_update(ruleset=ruleset, actor=None, daily_loss_value=Decimal("4"))
    assert ruleset.daily_loss_value == Decimal("4")
    ruleset_publish(ruleset=ruleset, actor=None)
    ruleset_retire(ruleset=ruleset, actor=None)
    assert actions_of(ruleset) == [
        "ruleset.create",
        "ruleset.update",
        "ruleset.publish",
        "ruleset.retire",
    ]
    update = AuditEvent.objects.get(action="ruleset.update")
    assert update.before == {"daily_loss_value": "5"} and update.after == {"daily_loss_value": "4"}


def test_the_publish_event_records_the_rules_that_were_published():
    ruleset = published(**ruleset_fields())
    event = AuditEvent.objects.get(action="ruleset.publish")
    assert event.after["rules"] == ruleset.to_rules_json()
    assert event.after["status"] == "published"


def test_a_published_rule_set_cannot_be_edited_through_the_services():
    ruleset = published(**ruleset_fields())
    with pytest.raises(ChallengesError, match="is published and cannot be edited"):
        ruleset_update(ruleset=ruleset, actor=None, daily_loss_value=Decimal("4"))
    with pytest.raises(ChallengesError, match="only a draft can be deleted"):
        ruleset_delete_draft(ruleset=ruleset, actor=None)
    with pytest.raises(ChallengesError, match="already published"):
        ruleset_publish(ruleset=ruleset, actor=None)
    ruleset.refresh_from_db()
    assert ruleset.daily_loss_value == Decimal("5")


def test_the_database_refuses_saving_a_changed_published_rule_set():
    ruleset = published(**ruleset_fields())
    ruleset.daily_loss_value = Decimal("9")
    with pytest.raises(DatabaseError, match="cannot be edited"), transaction.atomic():
        ruleset.save()
    assert RuleSet.objects.get(pk=ruleset.pk).daily_loss_value == Decimal("5")


def test_the_database_refuses_a_queryset_update_of_a_published_rule_set():
    ruleset = published(**ruleset_fields())
    with pytest.raises(DatabaseError, match="cannot be edited"), transaction.atomic():
        RuleSet.objects.filter(pk=ruleset.pk).update(name="Sneaky")
    # Retiring while changing anything else is an edit too.
    with pytest.raises(DatabaseError, match="cannot be edited"), transaction.atomic():
        RuleSet.objects.filter(pk=ruleset.pk).update(status="retired", max_leverage=50)
    assert RuleSet.objects.get(pk=ruleset.pk).name == "Evaluation $10k"


def test_the_database_refuses_deleting_a_published_or_retired_rule_set():
    ruleset = published(**ruleset_fields())
    with pytest.raises(DatabaseError, match="only a draft can be deleted"), transaction.atomic():
        RuleSet.objects.filter(pk=ruleset.pk).delete()
    ruleset_retire(ruleset=ruleset, actor=None)
    with pytest.raises(DatabaseError, match="only a draft can be deleted"), transaction.atomic():
        ruleset.delete()
    assert RuleSet.objects.filter(pk=ruleset.pk).exists()


def test_the_database_lets_a_published_rule_set_be_retired_and_nothing_else():
    ruleset = published(**ruleset_fields())
    assert RuleSet.objects.filter(pk=ruleset.pk).update(status="retired") == 1
    with (
        pytest.raises(DatabaseError, match="is retired: it cannot be edited"),
        transaction.atomic(),
    ):
        RuleSet.objects.filter(pk=ruleset.pk).update(status="published")


def test_the_database_lets_a_draft_change_but_not_be_retired_directly():
    ruleset = ruleset_create(actor=None, **ruleset_fields())
    assert RuleSet.objects.filter(pk=ruleset.pk).update(name="Renamed") == 1
    with pytest.raises(DatabaseError, match="cannot be retired"), transaction.atomic():
        RuleSet.objects.filter(pk=ruleset.pk).update(status="retired")
    ruleset_delete_draft(ruleset=ruleset, actor=None)
    assert not RuleSet.objects.exists()


def test_retiring_is_allowed_and_un_retiring_is_refused():
    ruleset = published(**ruleset_fields())
    ruleset = ruleset_retire(ruleset=ruleset, actor=None)
    assert ruleset.status == Status.RETIRED and ruleset.retired_at is not None
    with pytest.raises(ChallengesError, match="retired versions stay retired"):
        ruleset_publish(ruleset=ruleset, actor=None)
    with pytest.raises(ChallengesError, match="Only a published version can be retired"):
        ruleset_retire(ruleset=ruleset, actor=None)
    assert RuleSet.objects.get(pk=ruleset.pk).status == Status.RETIRED


def test_a_draft_cannot_be_retired():
    ruleset = ruleset_create(actor=None, **ruleset_fields())
    with pytest.raises(ChallengesError, match="is draft \\(delete it instead\\)"):
        ruleset_retire(ruleset=ruleset, actor=None)


def test_a_new_draft_copies_the_version_and_increments_it():
    source = published(
        **ruleset_fields(allowed_instruments=["BTC", "ETH"], description="The original")
    )
    draft = ruleset_new_draft(source=source, actor=None)
    assert (draft.code, draft.version, draft.status) == (source.code, 2, Status.DRAFT)
    assert draft.to_rules_json() == source.to_rules_json()
    assert draft.to_limits_json() == source.to_limits_json()
    assert draft.description == "The original" and draft.published_at is None
    edited = ruleset_update(ruleset=draft, actor=None, daily_loss_value=Decimal("3"))
    ruleset_publish(ruleset=edited, actor=None)
    source.refresh_from_db()
    assert source.daily_loss_value == Decimal("5") and source.status == Status.PUBLISHED
    assert actions_of(draft) == ["ruleset.new_draft", "ruleset.update", "ruleset.publish"]


def test_a_family_has_one_draft_at_a_time_and_new_versions_follow_the_latest():
    v1 = published(**ruleset_fields())
    v2 = ruleset_new_draft(source=v1, actor=None)
    with pytest.raises(ChallengesError, match="already has a draft \\(v2\\)"):
        ruleset_new_draft(source=v1, actor=None)
    with pytest.raises(ChallengesError, match="is already a draft"):
        ruleset_new_draft(source=v2, actor=None)
    ruleset_publish(ruleset=v2, actor=None)
    ruleset_retire(ruleset=v1, actor=None)
    v3 = ruleset_new_draft(source=v1, actor=None)  # from a retired version: fine
    assert v3.version == 3


def test_only_version_one_may_change_its_code():
    v1 = ruleset_create(actor=None, **ruleset_fields())
    v1 = ruleset_update(ruleset=v1, actor=None, code="eval-10k-b")
    ruleset_publish(ruleset=v1, actor=None)
    v2 = ruleset_new_draft(source=v1, actor=None)
    with pytest.raises(ChallengesError, match="only version 1 may be renamed"):
        ruleset_update(ruleset=v2, actor=None, code="other")


def test_a_person_without_the_permission_cannot_publish():
    from tests.factories import UserFactory

    ruleset = ruleset_create(actor=None, **ruleset_fields())
    with pytest.raises(ChallengesError, match="permission"):
        ruleset_publish(ruleset=ruleset, actor=UserFactory())
    assert RuleSet.objects.get(pk=ruleset.pk).status == Status.DRAFT


# --- the admin ---------------------------------------------------------------------------


def form_data(fields: dict[str, Any]) -> dict[str, str]:
    data = {}
    for name, value in fields.items():
        if value is None:
            data[name] = ""
        elif isinstance(value, list):
            data[name] = ",".join(value)
        else:
            data[name] = str(value)
    defaults = {
        "description": "",
        "profit_target_basis": "balance",
        "max_loss_lock_kind": "",
        "max_loss_lock_value": "",
        "min_trading_days_qualifying": "any_trade",
        "min_trading_days_min_pct": "",
        "consistency_max_best_day_share_pct": "",
        "consistency_of": "net_profit",
        "allowed_instruments": "",
        "allowed_directions": "both",
        "max_order_qty": "",
        "max_margin_use_pct": "80",
        "price_band_pct": "5",
        "max_open_orders": "20",
        "max_orders_per_minute": "60",
    }
    return {**defaults, **data}


ADMIN = "/admin/challenges/ruleset/"


def test_the_rule_set_admin_pages_load_for_a_firm_admin(admin_client_mfa):
    client, _ = admin_client_mfa
    ruleset = published(**ruleset_fields())
    assert client.get(ADMIN).status_code == 200
    assert client.get(f"{ADMIN}?status__exact=published").status_code == 200
    assert client.get(f"{ADMIN}add/").status_code == 200
    page = client.get(f"{ADMIN}{ruleset.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Daily loss: 5% of the starting balance, measured from the balance" in html


def test_the_admin_adds_a_draft_through_the_service(admin_client_mfa):
    client, admin_user = admin_client_mfa
    response = client.post(f"{ADMIN}add/", form_data(ruleset_fields()))
    assert response.status_code == 302, response.content.decode()[:2000]
    ruleset = RuleSet.objects.get()
    assert (ruleset.version, ruleset.status) == (1, Status.DRAFT)
    event = AuditEvent.objects.get(action="ruleset.create")
    assert event.actor_id == admin_user.pk


def test_the_admin_shows_a_bad_reset_time_on_the_form_and_saves_nothing(admin_client_mfa):
    client, _ = admin_client_mfa
    response = client.post(f"{ADMIN}add/", form_data(ruleset_fields(day_reset_time="25:00")))
    assert response.status_code == 200
    assert "is not a time of day" in response.content.decode()
    assert not RuleSet.objects.exists()


def test_the_admin_refuses_an_existing_code_on_the_form(admin_client_mfa):
    client, _ = admin_client_mfa
    published(**ruleset_fields())
    response = client.post(f"{ADMIN}add/", form_data(ruleset_fields()))
    assert response.status_code == 200
    assert "is an existing family" in response.content.decode()
    assert RuleSet.objects.count() == 1


def test_the_admin_edits_a_draft(admin_client_mfa):
    client, _ = admin_client_mfa
    ruleset = ruleset_create(actor=None, **ruleset_fields())
    data = form_data(ruleset_fields(daily_loss_value="4"))
    response = client.post(f"{ADMIN}{ruleset.pk}/change/", data)
    assert response.status_code == 302
    ruleset.refresh_from_db()
    assert ruleset.daily_loss_value == Decimal("4")


def test_the_admin_shows_a_published_rule_set_read_only_and_refuses_changes(admin_client_mfa):
    client, _ = admin_client_mfa
    ruleset = published(**ruleset_fields())
    html = client.get(f"{ADMIN}{ruleset.pk}/change/").content.decode()
    assert "View rule set" in html
    assert 'name="daily_loss_value"' not in html and 'name="_save"' not in html
    response = client.post(
        f"{ADMIN}{ruleset.pk}/change/", form_data(ruleset_fields(daily_loss_value="1"))
    )
    assert response.status_code == 403
    assert client.post(f"{ADMIN}{ruleset.pk}/delete/", {"post": "yes"}).status_code == 403
    ruleset.refresh_from_db()
    assert ruleset.daily_loss_value == Decimal("5") and ruleset.status == Status.PUBLISHED


def test_a_draft_is_shown_with_editable_fields(admin_client_mfa):
    client, _ = admin_client_mfa
    ruleset = ruleset_create(actor=None, **ruleset_fields())
    html = client.get(f"{ADMIN}{ruleset.pk}/change/").content.decode()
    assert 'name="daily_loss_value"' in html and "Change rule set" in html


def _action(client, action: str, *objs: RuleSet):
    return client.post(
        ADMIN,
        {"action": action, "_selected_action": [str(o.pk) for o in objs]},
        follow=True,
    )


def test_the_admin_actions_publish_copy_and_retire(admin_client_mfa):
    client, _ = admin_client_mfa
    ruleset = ruleset_create(actor=None, **ruleset_fields())
    response = _action(client, "publish", ruleset)
    assert "Published eval-10k v1." in response.content.decode()
    ruleset.refresh_from_db()
    assert ruleset.status == Status.PUBLISHED

    response = _action(client, "new_draft", ruleset)
    assert "New draft: eval-10k v2." in response.content.decode()
    assert RuleSet.objects.get(version=2).status == Status.DRAFT

    response = _action(client, "retire", ruleset)
    assert "Retired eval-10k v1." in response.content.decode()
    ruleset.refresh_from_db()
    assert ruleset.status == Status.RETIRED


def test_the_admin_action_shows_why_a_service_refused(admin_client_mfa):
    client, _ = admin_client_mfa
    ruleset = published(**ruleset_fields())
    ruleset_retire(ruleset=ruleset, actor=None)
    html = _action(client, "publish", ruleset).content.decode()
    assert "Rule set eval-10k v1 is retired, and retired versions stay retired" in html
    assert RuleSet.objects.get(pk=ruleset.pk).status == Status.RETIRED


def test_the_admin_deletes_a_draft_with_an_audit_event(admin_client_mfa):
    client, _ = admin_client_mfa
    ruleset = ruleset_create(actor=None, **ruleset_fields())
    response = client.post(f"{ADMIN}{ruleset.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not RuleSet.objects.exists()
    assert AuditEvent.objects.filter(action="ruleset.delete").count() == 1


def test_staff_with_view_rights_only_cannot_run_the_actions(client):
    import time

    from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value

    from apps.accounts import roles
    from tests.factories import PASSWORD, UserFactory

    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    risk = UserFactory(is_staff=True, role=roles.RISK_MANAGER)
    TOTP.activate(risk, secret)
    client.post("/accounts/login/", {"login": risk.email, "password": PASSWORD})
    client.post(
        "/accounts/2fa/authenticate/",
        {"code": format_hotp_value(hotp_value(secret, int(time.time()) // 30))},
    )
    ruleset = ruleset_create(actor=None, **ruleset_fields())
    assert client.get(ADMIN).status_code == 200
    _action(client, "publish", ruleset)
    assert RuleSet.objects.get(pk=ruleset.pk).status == Status.DRAFT


# --- races -------------------------------------------------------------------------------


def race(target, *args: Any, n: int = 2) -> list[Any]:
    """Run target(*args) in n threads at once; return what each returned or raised."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(n)
    outcomes: list[Any] = []

    def run() -> None:
        try:
            barrier.wait()
            outcomes.append(target(*args))
        except Exception as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_new_drafts_make_one_and_tell_the_other_why():
    """Without the family lock both read the same latest version and the second fails on
    the (code, version) unique constraint instead of being told a draft exists."""
    source = published(**ruleset_fields())
    outcomes = race(lambda: ruleset_new_draft(source=source, actor=None), n=4)
    drafts = [o for o in outcomes if isinstance(o, RuleSet)]
    refusals = [o for o in outcomes if isinstance(o, ChallengesError)]
    assert len(drafts) == 1 and len(refusals) == 3, outcomes
    assert all("already has a draft (v2)" in str(r) for r in refusals)
    assert list(RuleSet.objects.values_list("version", flat=True).order_by("version")) == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_creates_of_one_family_make_one():
    outcomes = race(lambda: ruleset_create(actor=None, **ruleset_fields()), n=4)
    assert sum(isinstance(o, RuleSet) for o in outcomes) == 1, outcomes
    assert sum("already exists" in str(o) for o in outcomes) == 3
