"""Rule sets and plans in the admin: drafts are edited, published versions only viewed.

Every write goes through the services (so it is validated and audited); a published or
retired version is shown read-only, cannot be deleted, and a change posted anyway is refused
(and would be refused by the database trigger in any case).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.html import format_html, format_html_join

from apps.challenges.forms import PlanAdminForm, PlanPhaseFormSet, RuleSetAdminForm
from apps.challenges.models import (
    LIMIT_FIELDS,
    PLAN_FIELDS,
    RULE_FIELDS,
    RULESET_FIELDS,
    Plan,
    PlanPhase,
    RuleSet,
    Stage,
    Status,
)
from apps.challenges.selectors import plan_describe, plans_using, ruleset_describe
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
    ruleset_delete_draft,
    ruleset_new_draft,
    ruleset_publish,
    ruleset_retire,
    ruleset_update,
)

HISTORY = ("version", "status", "created_at", "published_at", "retired_at")


def _is_frozen(obj: Any) -> bool:
    return obj is not None and obj.pk is not None and obj.status != Status.DRAFT


def _lines(lines: list[str]) -> str:
    return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((li,) for li in lines)))


class VersionedAdmin(admin.ModelAdmin):
    """Shared by rule sets and plans: read-only once published, writes through services."""

    list_filter = ["status"]
    search_fields = ["code", "name"]
    actions = ["publish", "new_draft", "retire"]
    editable_fields: tuple[str, ...] = ()
    readonly_extra: tuple[str, ...] = ()

    # The services (and their messages) behind the actions, set by each subclass.
    def _publish(self, obj: Any, actor: Any) -> Any:
        raise NotImplementedError

    def _new_draft(self, obj: Any, actor: Any) -> Any:
        raise NotImplementedError

    def _retire(self, obj: Any, actor: Any) -> Any:
        raise NotImplementedError

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # only drafts are deleted, one at a time
        return actions

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        extra = list(self.readonly_extra)
        if _is_frozen(obj):
            return [*self.editable_fields, *HISTORY, *extra]
        if obj is not None and obj.version > 1:
            return ["code", *HISTORY, *extra]
        return [*HISTORY, *extra]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if _is_frozen(obj):
            return False  # shown as "View", every field read-only, a POST is refused
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if _is_frozen(obj):
            return False
        return super().has_delete_permission(request, obj)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        # The forms show the checks a person can fail; a service refusing after them (a
        # race: someone published the draft meanwhile) rolls the save back and says why.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ChallengesError as exc:
            self.message_user(request, f"Not saved: {exc}", messages.ERROR)
            return redirect(request.get_full_path())

    def _run(self, request: HttpRequest, queryset: QuerySet, service: Any, verb: str) -> list[Any]:
        done = []
        for obj in queryset.order_by("code", "version"):
            try:
                done.append(service(obj, request.user))
            except ChallengesError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        if done:
            labels = ", ".join(o.label for o in done)
            self.message_user(request, f"{verb} {labels}.", messages.SUCCESS)
        return done

    @admin.action(description="Publish", permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, self._publish, "Published")

    @admin.action(description="New draft from this version", permissions=["add"])
    def new_draft(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, self._new_draft, "New draft:")

    @admin.action(description="Retire", permissions=["change"])
    def retire(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, self._retire, "Retired")


@admin.register(RuleSet)
class RuleSetAdmin(VersionedAdmin):
    form = RuleSetAdminForm
    list_display = ["code", "version", "name", "stage", "status", "published_at"]
    list_filter = ["status", "stage"]
    editable_fields = RULESET_FIELDS
    readonly_extra = ("in_plain_words", "rules_json")
    fieldsets = [
        (None, {"fields": ["code", "name", "description", "stage", *HISTORY]}),
        ("Day and breach", {"fields": RULE_FIELDS[1:4]}),
        ("Profit target", {"fields": RULE_FIELDS[4:7]}),
        ("Daily loss", {"fields": RULE_FIELDS[7:10]}),
        ("Max loss", {"fields": RULE_FIELDS[10:15]}),
        ("Trading days and time limit", {"fields": RULE_FIELDS[15:19]}),
        ("Consistency", {"fields": RULE_FIELDS[19:21]}),
        ("Trading limits (pre-trade checks)", {"fields": LIMIT_FIELDS}),
        ("As people read it", {"fields": ["in_plain_words", "rules_json"]}),
    ]

    @admin.display(description="in plain words")
    def in_plain_words(self, obj: RuleSet) -> str:
        return _lines(ruleset_describe(obj)) if obj.pk else "-"

    @admin.display(description="rules (scenario format)")
    def rules_json(self, obj: RuleSet) -> str:
        if not obj.pk:
            return "-"
        return format_html("<pre>{}</pre>", json.dumps(obj.to_rules_json(), indent=2))

    def save_model(self, request: HttpRequest, obj: RuleSet, form: Any, change: bool) -> None:
        fields = {k: v for k, v in form.cleaned_data.items() if k in RULESET_FIELDS}
        if change:
            saved = ruleset_update(ruleset=obj, actor=request.user, **fields)
        else:
            saved = ruleset_create(actor=request.user, **fields)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: RuleSet) -> None:
        ruleset_delete_draft(ruleset=obj, actor=request.user)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ChallengesError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return redirect("admin:challenges_ruleset_changelist")

    def _publish(self, obj: RuleSet, actor: Any) -> RuleSet:
        return ruleset_publish(ruleset=obj, actor=actor)

    def _new_draft(self, obj: RuleSet, actor: Any) -> RuleSet:
        return ruleset_new_draft(source=obj, actor=actor)

    def _retire(self, obj: RuleSet, actor: Any) -> RuleSet:
        return ruleset_retire(ruleset=obj, actor=actor)

    @admin.action(description="Retire", permissions=["change"])
    def retire(self, request: HttpRequest, queryset: QuerySet) -> None:
        for ruleset in self._run(request, queryset, self._retire, "Retired"):
            affected = [p.label for p in plans_using(ruleset).filter(status=Status.PUBLISHED)]
            if affected:
                self.message_user(
                    request,
                    f"{ruleset.label} is retired, so plan(s) {', '.join(affected)} are no "
                    "longer on sale; accounts already sold keep their rules.",
                    messages.WARNING,
                )


class PlanPhaseInline(admin.TabularInline):
    model = PlanPhase
    formset = PlanPhaseFormSet
    fields = ["number", "ruleset"]
    extra = 0
    max_num = 3
    ordering = ["number"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "ruleset":
            kwargs["queryset"] = RuleSet.objects.filter(
                status=Status.PUBLISHED, stage=Stage.EVALUATION
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _is_frozen(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _is_frozen(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _is_frozen(obj) and super().has_delete_permission(request, obj)


@admin.register(Plan)
class PlanAdmin(VersionedAdmin):
    form = PlanAdminForm
    inlines = [PlanPhaseInline]
    list_display = [
        "code",
        "version",
        "name",
        "status",
        "price",
        "currency",
        "starting_balance",
        "phase_count",
        "published_at",
    ]
    list_filter = ["status", "currency"]
    list_select_related = ["funded_ruleset"]
    editable_fields = PLAN_FIELDS
    readonly_extra = ("in_plain_words",)
    fieldsets = [
        (None, {"fields": ["code", "name", "description", *HISTORY]}),
        ("What is sold", {"fields": ["price", "currency", "starting_balance", "funded_ruleset"]}),
        ("Funded terms", {"fields": PLAN_FIELDS[7:14]}),
        ("Scaling", {"fields": ["scaling_plan", "scaling_max_balance"]}),
        ("As people read it", {"fields": ["in_plain_words"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Plan]:
        return super().get_queryset(request).annotate(phase_total=Count("phases"))

    @admin.display(description="phases", ordering="phase_total")
    def phase_count(self, obj: Plan) -> int:
        return obj.phase_total

    @admin.display(description="in plain words")
    def in_plain_words(self, obj: Plan) -> str:
        return _lines(plan_describe(obj)) if obj.pk else "-"

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "funded_ruleset":
            kwargs["queryset"] = RuleSet.objects.filter(status=Status.PUBLISHED, stage=Stage.FUNDED)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Plan, form: Any, change: bool) -> None:
        fields = {k: v for k, v in form.cleaned_data.items() if k in PLAN_FIELDS}
        if change:
            saved = plan_update(plan=obj, actor=request.user, **fields)
        else:
            saved = plan_create(actor=request.user, **fields)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not PlanPhase:
            return super().save_formset(request, form, formset, change)
        phases = {
            f.cleaned_data["number"]: f.cleaned_data["ruleset"]
            for f in formset.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        }
        if formset.has_changed():
            plan_set_phases(plan=form.instance, phases=phases, actor=request.user)
        # What the admin's change message reads from a saved formset.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        return None

    def delete_model(self, request: HttpRequest, obj: Plan) -> None:
        plan_delete_draft(plan=obj, actor=request.user)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ChallengesError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return redirect("admin:challenges_plan_changelist")

    def _publish(self, obj: Plan, actor: Any) -> Plan:
        return plan_publish(plan=obj, actor=actor)

    def _new_draft(self, obj: Plan, actor: Any) -> Plan:
        return plan_new_draft(source=obj, actor=actor)

    def _retire(self, obj: Plan, actor: Any) -> Plan:
        return plan_retire(plan=obj, actor=actor)


from apps.challenges import admin_lifecycle  # noqa: E402,F401
