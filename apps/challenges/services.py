"""Every write to rule sets and plans: one transaction each, audited, checked first.

Only a draft changes. Publishing validates everything and freezes the version (the database
refuses any later edit); a new draft copies a version under the next version number;
retiring stops new sales and never touches an account that holds the version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection, models, transaction
from django.db.models import Max

from apps.challenges.models import (
    PLAN_FIELDS,
    RULESET_FIELDS,
    AmountKind,
    Plan,
    PlanPhase,
    RuleSet,
    Stage,
    Status,
    pct,
)
from apps.core import clock
from apps.core.services import audit_record

MAX_PHASES = 3


class ChallengesError(Exception):
    """A request a person can correct; the message says how. `errors` maps field -> messages."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors: dict[str, list[str]] = errors or {}


def _invalid(model: type[models.Model], exc: ValidationError) -> ChallengesError:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    parts = []
    for field, messages in errors.items():
        try:
            label = str(model._meta.get_field(field).verbose_name)
            prefix = f"{label[:1].upper()}{label[1:]}: "
        except Exception:
            prefix = ""
        parts += [f"{prefix}{message}" for message in messages]
    return ChallengesError(" ".join(parts), errors)


def _validate(instance: models.Model) -> None:
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise _invalid(type(instance), exc) from None


def _require(actor: Any, permission: str) -> None:
    # A None actor is the system itself (the demo seeder, a migration of data).
    if actor is not None and not actor.has_perm(permission):
        raise ChallengesError("You do not have permission to change rule sets and plans.")


def _check_fields(fields: Mapping[str, Any], allowed: Sequence[str], what: str) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ChallengesError(f"Unknown {what} field(s): {', '.join(sorted(unknown))}.")


def _snapshot(obj: models.Model, names: Sequence[str]) -> dict[str, Any]:
    values = {}
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, RuleSet):
            value = value.label
        elif isinstance(value, Decimal):
            value = value.normalize()  # 5.0000 from the database and 5 typed are one value
        values[name] = value
    return values


def _changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    changed = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in changed}, {k: after[k] for k in changed}


def _status_word(obj: RuleSet | Plan) -> str:
    return obj.get_status_display().lower()


def _locked(obj: RuleSet | Plan) -> Any:
    return type(obj).objects.select_for_update().get(pk=obj.pk)


def _must_be_draft(obj: RuleSet | Plan, what: str) -> None:
    if obj.status != Status.DRAFT:
        raise ChallengesError(
            f"{what} {obj.label} is {_status_word(obj)} and cannot be edited: "
            "make a new draft from it."
        )


def _lock_family(model: type[RuleSet] | type[Plan], code: str) -> None:
    """Serialise writes that number a family's versions (create, new draft).

    Queries made after the lock see whatever a transaction that held it committed, so two
    requests never take the same version number (the second is told a draft exists).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"{model._meta.label_lower}:{code}"],
        )


def _check_rename(model: type[RuleSet] | type[Plan], obj: RuleSet | Plan, code: str) -> None:
    if obj.version > 1:
        raise ChallengesError(
            f"The code names the family of {obj.label}; only version 1 may be renamed."
        )
    _lock_family(model, code)
    if model.objects.filter(code=code).exists():
        raise ChallengesError(f"The code “{code}” belongs to another family: choose another.")


def _next_version(model: type[RuleSet] | type[Plan], code: str, what: str) -> int:
    _lock_family(model, code)
    rows = model.objects.filter(code=code)
    draft = rows.filter(status=Status.DRAFT).values_list("version", flat=True).first()
    if draft is not None:
        raise ChallengesError(f"{what} {code} already has a draft (v{draft}): edit that one.")
    return (rows.aggregate(top=Max("version"))["top"] or 0) + 1


# --- rule sets ---------------------------------------------------------------------------


@transaction.atomic
def ruleset_create(*, actor: Any, **fields: Any) -> RuleSet:
    """Version 1 (a draft) of a new rule set family."""
    _require(actor, "challenges.add_ruleset")
    _check_fields(fields, RULESET_FIELDS, "rule set")
    code = fields.get("code", "")
    _lock_family(RuleSet, code)
    if RuleSet.objects.filter(code=code).exists():
        raise ChallengesError(
            f"The rule set family “{code}” already exists: make a new draft from one of its "
            "versions, or choose another code."
        )
    ruleset = RuleSet(**fields, version=1, status=Status.DRAFT, created_at=clock.now())
    _validate(ruleset)
    ruleset.save()
    audit_record(
        action="ruleset.create",
        subject=ruleset,
        actor=actor,
        after=_snapshot(ruleset, RULESET_FIELDS),
    )
    return ruleset


@transaction.atomic
def ruleset_update(*, ruleset: RuleSet, actor: Any, **fields: Any) -> RuleSet:
    """Change a draft; a published or retired version is refused (make a new draft)."""
    _require(actor, "challenges.change_ruleset")
    _check_fields(fields, RULESET_FIELDS, "rule set")
    ruleset = _locked(ruleset)
    _must_be_draft(ruleset, "Rule set")
    if "code" in fields and fields["code"] != ruleset.code:
        _check_rename(RuleSet, ruleset, fields["code"])
    before = _snapshot(ruleset, RULESET_FIELDS)
    for name, value in fields.items():
        setattr(ruleset, name, value)
    _validate(ruleset)
    ruleset.save()
    old, new = _changes(before, _snapshot(ruleset, RULESET_FIELDS))
    if new:
        audit_record(action="ruleset.update", subject=ruleset, actor=actor, before=old, after=new)
    return ruleset


@transaction.atomic
def ruleset_publish(*, ruleset: RuleSet, actor: Any) -> RuleSet:
    """Validate everything and freeze the version: from now on it is for sale, unchanged."""
    _require(actor, "challenges.change_ruleset")
    ruleset = _locked(ruleset)
    if ruleset.status == Status.PUBLISHED:
        raise ChallengesError(f"Rule set {ruleset.label} is already published.")
    if ruleset.status == Status.RETIRED:
        raise ChallengesError(
            f"Rule set {ruleset.label} is retired, and retired versions stay retired: "
            "make a new draft from it to offer these rules again."
        )
    _validate(ruleset)
    ruleset.status, ruleset.published_at = Status.PUBLISHED, clock.now()
    ruleset.save(update_fields=["status", "published_at"])
    audit_record(
        action="ruleset.publish",
        subject=ruleset,
        actor=actor,
        before={"status": Status.DRAFT},
        after={
            "status": Status.PUBLISHED,
            "rules": ruleset.to_rules_json(),
            "limits": ruleset.to_limits_json(),
            "stage": ruleset.stage,
        },
    )
    return ruleset


@transaction.atomic
def ruleset_retire(*, ruleset: RuleSet, actor: Any) -> RuleSet:
    """Stop new sales of this version; accounts that hold it keep it."""
    _require(actor, "challenges.change_ruleset")
    ruleset = _locked(ruleset)
    if ruleset.status != Status.PUBLISHED:
        hint = " (delete it instead)" if ruleset.status == Status.DRAFT else ""
        raise ChallengesError(
            f"Only a published version can be retired; {ruleset.label} is "
            f"{_status_word(ruleset)}{hint}."
        )
    ruleset.status, ruleset.retired_at = Status.RETIRED, clock.now()
    ruleset.save(update_fields=["status", "retired_at"])
    audit_record(
        action="ruleset.retire",
        subject=ruleset,
        actor=actor,
        before={"status": Status.PUBLISHED},
        after={"status": Status.RETIRED},
    )
    return ruleset


@transaction.atomic
def ruleset_new_draft(*, source: RuleSet, actor: Any) -> RuleSet:
    """A draft copy of a published or retired version, numbered after the family's latest."""
    _require(actor, "challenges.add_ruleset")
    source = RuleSet.objects.get(pk=source.pk)
    if source.status == Status.DRAFT:
        raise ChallengesError(f"Rule set {source.label} is already a draft: edit it.")
    version = _next_version(RuleSet, source.code, "Rule set")
    fields = _snapshot(source, RULESET_FIELDS)
    fields["allowed_instruments"] = list(source.allowed_instruments)
    draft = RuleSet(
        **fields,
        version=version,
        status=Status.DRAFT,
        created_at=clock.now(),
    )
    draft.save()
    audit_record(
        action="ruleset.new_draft",
        subject=draft,
        actor=actor,
        after={"from": source.label, "version": version},
    )
    return draft


@transaction.atomic
def ruleset_delete_draft(*, ruleset: RuleSet, actor: Any) -> None:
    _require(actor, "challenges.delete_ruleset")
    ruleset = _locked(ruleset)
    if ruleset.status != Status.DRAFT:
        raise ChallengesError(
            f"Rule set {ruleset.label} is {_status_word(ruleset)}: only a draft can be deleted."
        )
    plans = sorted(
        {p.label for p in Plan.objects.filter(phases__ruleset=ruleset)}
        | {p.label for p in ruleset.funded_plans.all()}
    )
    if plans:
        raise ChallengesError(
            f"Rule set {ruleset.label} is used by plan(s) {', '.join(plans)}: "
            "take it out of them first."
        )
    audit_record(
        action="ruleset.delete",
        subject=ruleset,
        actor=actor,
        before=_snapshot(ruleset, ("code", "name")) | {"version": ruleset.version},
    )
    ruleset.delete()


# --- plans -------------------------------------------------------------------------------


def _phase_rows(plan: Plan, phases: Mapping[int, RuleSet]) -> list[PlanPhase]:
    numbers = sorted(phases)
    if len(numbers) > MAX_PHASES or any(not 1 <= n <= MAX_PHASES for n in numbers):
        raise ChallengesError(
            "A plan has one to three evaluation phases, numbered 1, 2 and 3.",
            {"phases": ["A plan has one to three evaluation phases, numbered 1, 2 and 3."]},
        )
    missing = [n for n in range(1, len(numbers) + 1) if n not in phases]
    if missing:
        message = f"Phases are numbered 1 to {len(numbers)} without gaps: phase {missing[0]} " + (
            "is missing."
        )
        raise ChallengesError(message, {"phases": [message]})
    rows = []
    for number in numbers:
        row = PlanPhase(plan=plan, number=number, ruleset=phases[number])
        try:
            row.full_clean(exclude=["plan"], validate_constraints=False)
        except ValidationError as exc:
            messages = [m for ms in exc.message_dict.values() for m in ms]
            message = f"Phase {number}: {' '.join(messages)}"
            raise ChallengesError(message, {"phases": [message]}) from None
        rows.append(row)
    return rows


def _phases_snapshot(plan: Plan) -> list[str]:
    return [
        f"{p.number}: {p.ruleset.label}"
        for p in plan.phases.select_related("ruleset").order_by("number")
    ]


@transaction.atomic
def plan_create(*, actor: Any, phases: Sequence[RuleSet] = (), **fields: Any) -> Plan:
    """Version 1 (a draft) of a new plan; `phases` are the evaluation rule sets in order."""
    _require(actor, "challenges.add_plan")
    _check_fields(fields, PLAN_FIELDS, "plan")
    code = fields.get("code", "")
    _lock_family(Plan, code)
    if Plan.objects.filter(code=code).exists():
        raise ChallengesError(
            f"The plan family “{code}” already exists: make a new draft from one of its "
            "versions, or choose another code."
        )
    plan = Plan(**fields, version=1, status=Status.DRAFT, created_at=clock.now())
    _validate(plan)
    rows = _phase_rows(plan, {n: rs for n, rs in enumerate(phases, start=1)})
    plan.save()
    for row in rows:
        row.plan = plan
    PlanPhase.objects.bulk_create(rows)
    audit_record(
        action="plan.create",
        subject=plan,
        actor=actor,
        after=_snapshot(plan, PLAN_FIELDS) | {"phases": _phases_snapshot(plan)},
    )
    return plan


@transaction.atomic
def plan_update(*, plan: Plan, actor: Any, **fields: Any) -> Plan:
    _require(actor, "challenges.change_plan")
    _check_fields(fields, PLAN_FIELDS, "plan")
    plan = _locked(plan)
    _must_be_draft(plan, "Plan")
    if "code" in fields and fields["code"] != plan.code:
        _check_rename(Plan, plan, fields["code"])
    before = _snapshot(plan, PLAN_FIELDS)
    for name, value in fields.items():
        setattr(plan, name, value)
    _validate(plan)
    plan.save()
    old, new = _changes(before, _snapshot(plan, PLAN_FIELDS))
    if new:
        audit_record(action="plan.update", subject=plan, actor=actor, before=old, after=new)
    return plan


@transaction.atomic
def plan_set_phases(*, plan: Plan, phases: Mapping[int, RuleSet], actor: Any) -> Plan:
    """Replace a draft plan's phases: {number: published evaluation rule set}."""
    _require(actor, "challenges.change_plan")
    plan = _locked(plan)
    _must_be_draft(plan, "Plan")
    rows = _phase_rows(plan, phases)
    before = _phases_snapshot(plan)
    plan.phases.all().delete()
    PlanPhase.objects.bulk_create(rows)
    after = _phases_snapshot(plan)
    if before != after:
        audit_record(
            action="plan.phases",
            subject=plan,
            actor=actor,
            before={"phases": before},
            after={"phases": after},
        )
    return plan


def _fixed_loss_problems(ruleset: RuleSet, where: str, balance: Decimal) -> list[str]:
    problems = []
    for rule, label in (("daily_loss", "daily loss"), ("max_loss", "max loss")):
        if getattr(ruleset, f"{rule}_anchor") and getattr(ruleset, f"{rule}_kind") == (
            AmountKind.FIXED
        ):
            amount = getattr(ruleset, f"{rule}_value")
            if amount >= balance:
                problems.append(
                    f"{where} ({ruleset.label}): the fixed {label} of {pct(amount)} is not "
                    f"below the plan's starting balance of {pct(balance)}."
                )
    return problems


def plan_problems(plan: Plan) -> list[str]:
    """Why a plan cannot be published (empty: it can): its phases and funded rule set."""
    problems = []
    phases = list(plan.phases.select_related("ruleset").order_by("number"))
    numbers = [p.number for p in phases]
    if not phases:
        problems.append("The plan has no evaluation phase: add phase 1.")
    elif numbers != list(range(1, len(phases) + 1)) or len(phases) > MAX_PHASES:
        problems.append(
            f"Phases are numbered 1 to {len(phases)} without gaps (found "
            f"{', '.join(map(str, numbers))})."
        )
    for phase in phases:
        ruleset = phase.ruleset
        where = f"Phase {phase.number}"
        if ruleset.status != Status.PUBLISHED:
            problems.append(
                f"{where} uses rule set {ruleset.label}, which is {_status_word(ruleset)}: "
                "publish it (or choose a published version) first."
            )
        if ruleset.stage != Stage.EVALUATION:
            problems.append(f"{where} uses {ruleset.label}, a funded rule set.")
        problems += _fixed_loss_problems(ruleset, where, plan.starting_balance)
    funded = plan.funded_ruleset
    if funded is None:
        problems.append("Choose the funded rule set.")
    else:
        if funded.status != Status.PUBLISHED:
            problems.append(
                f"The funded rule set {funded.label} is {_status_word(funded)}: "
                "publish it (or choose a published version) first."
            )
        if funded.stage != Stage.FUNDED:
            problems.append(f"The funded rule set {funded.label} is an evaluation rule set.")
        problems += _fixed_loss_problems(funded, "Funded", plan.starting_balance)
    return problems


@transaction.atomic
def plan_publish(*, plan: Plan, actor: Any) -> Plan:
    """Validate and freeze the plan; it replaces the family's published version on sale."""
    _require(actor, "challenges.change_plan")
    plan = _locked(plan)
    if plan.status == Status.PUBLISHED:
        raise ChallengesError(f"Plan {plan.label} is already published.")
    if plan.status == Status.RETIRED:
        raise ChallengesError(
            f"Plan {plan.label} is retired, and retired versions stay retired: "
            "make a new draft from it to sell it again."
        )
    _validate(plan)
    # The rule sets are locked too, so none is retired while this plan goes on sale.
    ids = [plan.funded_ruleset_id, *plan.phases.values_list("ruleset_id", flat=True)]
    list(RuleSet.objects.select_for_update().filter(pk__in=[i for i in ids if i]).order_by("pk"))
    problems = plan_problems(plan)
    if problems:
        raise ChallengesError(" ".join(problems), {"phases": problems})
    now = clock.now()
    for previous in Plan.objects.select_for_update().filter(
        code=plan.code, status=Status.PUBLISHED
    ):
        previous.status, previous.retired_at = Status.RETIRED, now
        previous.save(update_fields=["status", "retired_at"])
        audit_record(
            action="plan.retire",
            subject=previous,
            actor=actor,
            before={"status": Status.PUBLISHED},
            after={"status": Status.RETIRED, "replaced_by": plan.label},
        )
    plan.status, plan.published_at = Status.PUBLISHED, now
    plan.save(update_fields=["status", "published_at"])
    audit_record(
        action="plan.publish",
        subject=plan,
        actor=actor,
        before={"status": Status.DRAFT},
        after={"status": Status.PUBLISHED, **_snapshot(plan, PLAN_FIELDS)}
        | {"phases": _phases_snapshot(plan)},
    )
    return plan


@transaction.atomic
def plan_retire(*, plan: Plan, actor: Any) -> Plan:
    """Take the plan off sale; accounts bought under it keep their terms."""
    _require(actor, "challenges.change_plan")
    plan = _locked(plan)
    if plan.status != Status.PUBLISHED:
        hint = " (delete it instead)" if plan.status == Status.DRAFT else ""
        raise ChallengesError(
            f"Only a published plan can be retired; {plan.label} is {_status_word(plan)}{hint}."
        )
    plan.status, plan.retired_at = Status.RETIRED, clock.now()
    plan.save(update_fields=["status", "retired_at"])
    audit_record(
        action="plan.retire",
        subject=plan,
        actor=actor,
        before={"status": Status.PUBLISHED},
        after={"status": Status.RETIRED},
    )
    return plan


@transaction.atomic
def plan_new_draft(*, source: Plan, actor: Any) -> Plan:
    """A draft copy (phases included) of a published or retired plan version."""
    _require(actor, "challenges.add_plan")
    source = Plan.objects.get(pk=source.pk)
    if source.status == Status.DRAFT:
        raise ChallengesError(f"Plan {source.label} is already a draft: edit it.")
    version = _next_version(Plan, source.code, "Plan")
    fields = _snapshot(source, PLAN_FIELDS)
    fields["funded_ruleset"] = source.funded_ruleset
    draft = Plan(**fields, version=version, status=Status.DRAFT, created_at=clock.now())
    draft.save()
    PlanPhase.objects.bulk_create(
        PlanPhase(plan=draft, number=p.number, ruleset_id=p.ruleset_id) for p in source.phases.all()
    )
    audit_record(
        action="plan.new_draft",
        subject=draft,
        actor=actor,
        after={"from": source.label, "version": version, "phases": _phases_snapshot(draft)},
    )
    return draft


@transaction.atomic
def plan_delete_draft(*, plan: Plan, actor: Any) -> None:
    _require(actor, "challenges.delete_plan")
    plan = _locked(plan)
    if plan.status != Status.DRAFT:
        raise ChallengesError(
            f"Plan {plan.label} is {_status_word(plan)}: only a draft can be deleted."
        )
    audit_record(
        action="plan.delete",
        subject=plan,
        actor=actor,
        before=_snapshot(plan, ("code", "name")) | {"version": plan.version},
    )
    plan.delete()
