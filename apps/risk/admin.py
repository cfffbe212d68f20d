"""Risk limits in the admin. Every change goes through the services (permission, reason and
audit); nothing is deleted here: a limit is cleared with the "clear" box and a reason."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.risk.alerts import alert_acknowledge
from apps.risk.models import (
    LIMIT_CHOICES,
    Alert,
    ConcentrationRule,
    FirmExposureLimit,
    LimitOverride,
    OverrideRequest,
    ReconciliationDifference,
    ReconciliationRun,
)
from apps.risk.selectors import firm_exposure
from apps.risk.services import (
    RiskError,
    firm_exposure_limit_clear,
    firm_exposure_limit_set,
    limit_override_clear,
    limit_override_set,
    limit_value_clean,
)


class LimitOverrideForm(forms.ModelForm):
    field = forms.ChoiceField(choices=LIMIT_CHOICES)
    value = forms.CharField(
        required=False,
        help_text="A number; a whole number for counts; coins separated by commas for the "
        "instruments (empty: all); both, long_only or short_only for the directions.",
    )
    clear = forms.BooleanField(
        required=False, help_text="Remove this override: the rule set's value applies again."
    )

    class Meta:
        model = LimitOverride
        fields = ["account", "field", "value", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        value = self.initial.get("value")
        if isinstance(value, list):
            self.initial["value"] = ",".join(value)
        if self.instance.pk is not None:
            self.initial["reason"] = ""  # each change gives its own reason

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors or data.get("clear"):
            return data
        try:
            field = data.get("field") or self.instance.field
            data["value"] = limit_value_clean(field, data.get("value"))
        except RiskError as exc:
            self.add_error("value", exc.message)
        return data


@admin.register(LimitOverride)
class LimitOverrideAdmin(admin.ModelAdmin):
    form = LimitOverrideForm
    list_display = ["account", "field", "value", "reason", "set_by", "set_at"]
    list_filter = ["field"]
    search_fields = ["account__owner__email", "account__label", "reason"]
    list_select_related = ["account", "set_by"]
    raw_id_fields = ["account"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["account", "field", "set_by", "set_at"] if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["account", "field", "value", "reason"]
        return ["account", "field", "value", "reason", "clear", "set_by", "set_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: LimitOverride, form: Any, change: bool):
        data = form.cleaned_data
        account = obj.account
        field = obj.field
        if data.get("clear"):
            limit_override_clear(
                account=account, field=field, reason=data["reason"], actor=request.user
            )
            return
        saved = limit_override_set(
            account=account,
            field=field,
            value=data["value"],
            reason=data["reason"],
            actor=request.user,
        )
        obj.pk = saved.pk

    def response_change(self, request: HttpRequest, obj: LimitOverride):
        if not LimitOverride.objects.filter(pk=obj.pk).exists():
            return self.response_post_save_change(request, obj)
        return super().response_change(request, obj)


class FirmExposureLimitForm(forms.ModelForm):
    clear = forms.BooleanField(
        required=False, help_text="Remove this limit: the firm carries any exposure in it."
    )

    class Meta:
        model = FirmExposureLimit
        fields = ["coin", "direction", "max_notional", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["reason"] = ""  # each change gives its own reason


@admin.register(FirmExposureLimit)
class FirmExposureLimitAdmin(admin.ModelAdmin):
    form = FirmExposureLimitForm
    list_display = ["coin", "direction", "max_notional", "reason", "set_by", "set_at"]
    list_select_related = ["set_by"]
    readonly_fields = ["exposure_now", "set_by", "set_at"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = ["coin", "direction", "max_notional", "reason"]
        if obj is not None:
            fields += ["clear", "exposure_now", "set_by", "set_at"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["coin", "direction", *self.readonly_fields]

    @admin.display(description="exposure now (net, at the mark)")
    def exposure_now(self, obj: FirmExposureLimit) -> str:
        found = firm_exposure().get(obj.coin)
        if found is None:
            return "none"
        return (
            f"real (live venues): {found.real_net:,.2f}; "
            f"simulated (paper, not counted): {found.simulated_net:,.2f}"
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: FirmExposureLimit, form: Any, change: bool):
        data = form.cleaned_data
        if data.get("clear"):
            firm_exposure_limit_clear(
                coin=obj.coin, direction=obj.direction, reason=data["reason"], actor=request.user
            )
            return
        saved = firm_exposure_limit_set(
            coin=obj.coin,
            direction=obj.direction,
            max_notional=data["max_notional"],
            reason=data["reason"],
            actor=request.user,
        )
        obj.pk = saved.pk

    def response_change(self, request: HttpRequest, obj: FirmExposureLimit):
        if not FirmExposureLimit.objects.filter(pk=obj.pk).exists():
            return self.response_post_save_change(request, obj)
        return super().response_change(request, obj)


# --- the risk managers' tools --------------------------------------------------------------


def _account_link(account_id: int) -> str:
    url = reverse("admin:risk_account", args=[account_id])
    return format_html('<a href="{}">account #{} (interventions)</a>', url, account_id)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["raised_at", "kind", "coin", "direction", "simulated", "message", "open"]
    list_filter = ["kind", "simulated", ("acknowledged_at", admin.EmptyFieldListFilter)]
    readonly_fields = [f.name for f in Alert._meta.fields]
    actions = ["acknowledge"]

    @admin.display(boolean=True)
    def open(self, obj: Alert) -> bool:
        return obj.is_open

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Acknowledge the selected alerts (audited)")
    def acknowledge(self, request: HttpRequest, queryset) -> None:
        done = 0
        for alert in queryset.filter(acknowledged_at__isnull=True):
            try:
                alert_acknowledge(alert=alert, actor=request.user, note="acknowledged in the admin")
                done += 1
            except RiskError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        self.message_user(request, f"{done} alert(s) acknowledged.")


@admin.register(ConcentrationRule)
class ConcentrationRuleAdmin(admin.ModelAdmin):
    list_display = ["coin", "max_net_notional", "min_traders", "active", "set_by", "set_at"]
    readonly_fields = ["set_by", "set_at"]

    def save_model(self, request: HttpRequest, obj: ConcentrationRule, form: Any, change: bool):
        from apps.core.services import audit_record

        obj.set_by = request.user
        super().save_model(request, obj, form, change)
        audit_record(
            action="risk.concentration_rule.set",
            subject=("risk.concentrationrule", str(obj.pk)),
            actor=request.user,
            after={
                "coin": obj.coin,
                "max_net_notional": obj.max_net_notional,
                "min_traders": obj.min_traders,
                "active": obj.active,
                "reason": obj.reason,
            },
        )


@admin.register(OverrideRequest)
class OverrideRequestAdmin(admin.ModelAdmin):
    list_display = ["pk", "account", "status", "requested_by", "decided_by", "requested_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in OverrideRequest._meta.fields] + ["interventions"]

    @admin.display(description="approve or refuse")
    def interventions(self, obj: OverrideRequest) -> str:
        return _account_link(obj.account_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DifferenceInline(admin.TabularInline):
    model = ReconciliationDifference
    extra = 0
    can_delete = False
    readonly_fields = ["account", "venue", "venue_account", "kind", "coin", "ours", "theirs"]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "finished_at", "accounts_checked", "differences_found"]
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields]
    inlines = [DifferenceInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
