"""Admin for challenges and evaluated accounts: rule headroom, breach reports with the
scenario to download, termination and direct funding (each with a reason, audited)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.accounts.models import User
from apps.challenges.lifecycle import LifecycleError, account_terminate, funded_account_open
from apps.challenges.models import RuleSet
from apps.challenges.models_lifecycle import Challenge, EvaluatedAccount
from apps.challenges.selectors import account_rule_view, scenario_export


class EvaluatedInline(admin.TabularInline):
    model = EvaluatedAccount
    extra = 0
    can_delete = False
    fields = ["trading_account", "stage", "phase", "status", "reason", "decided_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    list_display = ["id", "trader", "plan", "status", "current_phase", "created_at", "ended_at"]
    list_filter = ["status"]
    search_fields = ["trader__email", "purchase_ref"]
    list_select_related = ["trader", "plan"]
    readonly_fields = [f.name for f in Challenge._meta.fields]
    inlines = [EvaluatedInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TerminateForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Told to the trader and kept in the audit log.",
    )


class FundDirectForm(forms.Form):
    trader = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True))
    ruleset = forms.ModelChoiceField(
        queryset=RuleSet.objects.filter(status="published", stage="funded"), label="Rule set"
    )
    allocation = forms.DecimalField(max_digits=20, decimal_places=2, min_value=1)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


@admin.register(EvaluatedAccount)
class EvaluatedAccountAdmin(admin.ModelAdmin):
    list_display = [
        "trading_account",
        "trader",
        "stage",
        "phase",
        "status",
        "reason",
        "decided_at",
        "evaluated_at",
    ]
    list_filter = ["status", "stage"]
    search_fields = ["trader__email"]
    list_select_related = ["trader", "trading_account"]
    readonly_fields = [
        "trader",
        "challenge",
        "trading_account",
        "ruleset",
        "stage",
        "phase",
        "starting_balance",
        "start",
        "status",
        "reason",
        "decided_at",
        "evaluated_at",
        "rule_view",
        "breach_report",
    ]
    exclude = ["rules", "checkpoint", "fed_fills", "fed_ledger", "journal_seq", "sweep_lease_until"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Rules now")
    def rule_view(self, obj):
        view = account_rule_view(obj)
        rows = [
            (
                name,
                *(str(v.get(k, "")) for k in ("value", "threshold")),
                str(v.get("headroom", v.get("remaining", ""))),
            )
            for name, v in view["headroom"].items()
        ]
        table = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            "<table><tr><th>rule</th><th>value</th><th>threshold</th><th>headroom / left</th>"
            "</tr>{}</table><p>Next reset: {}</p>",
            table,
            view["next_reset"] or "—",
        )

    @admin.display(description="Breach report")
    def breach_report(self, obj):
        view = account_rule_view(obj)
        breach = view.get("breach")
        if not breach:
            return "—"
        url = reverse("admin:challenges_evaluatedaccount_scenario", args=[obj.pk])
        return format_html(
            "<p>Rule <b>{}</b> at {}; figures {}.</p><p>Replay hash <code>{}</code> · "
            "<a href='{}'>download the scenario</a> (replay it with "
            "<code>manage.py replay_scenario FILE</code>)</p>",
            breach["rule"],
            breach["moment"],
            json.dumps(breach["figures"]),
            breach["hash"],
            url,
        )

    def get_urls(self):
        own = [
            path(
                "<int:pk>/scenario.json",
                self.admin_site.admin_view(self.scenario_view),
                name="challenges_evaluatedaccount_scenario",
            ),
            path(
                "<int:pk>/terminate/",
                self.admin_site.admin_view(self.terminate_view),
                name="challenges_evaluatedaccount_terminate",
            ),
            path(
                "fund-direct/",
                self.admin_site.admin_view(self.fund_view),
                name="challenges_evaluatedaccount_fund",
            ),
        ]
        return own + super().get_urls()

    def scenario_view(self, request, pk):
        account = get_object_or_404(EvaluatedAccount, pk=pk)
        response = HttpResponse(
            json.dumps(scenario_export(account), indent=2), content_type="application/json"
        )
        name = f"account-{account.trading_account_id}-scenario.json"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def terminate_view(self, request, pk):
        account = get_object_or_404(EvaluatedAccount, pk=pk)
        if not request.user.has_perm("challenges.change_challenge"):
            messages.error(request, "Only a firm admin can terminate an account.")
            return redirect("admin:challenges_evaluatedaccount_change", pk)
        form = TerminateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                account_terminate(
                    account=account, actor=request.user, reason=form.cleaned_data["reason"]
                )
            except LifecycleError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, "Terminated: orders cancelled, positions closing.")
            return redirect("admin:challenges_evaluatedaccount_change", pk)
        return render(
            request,
            "admin/challenges/form_page.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Terminate {account}",
                "form": form,
                "opts": self.model._meta,
            },
        )

    def fund_view(self, request):
        if not request.user.has_perm("challenges.add_challenge"):
            messages.error(request, "Only a firm admin can fund a trader directly.")
            return redirect("admin:challenges_evaluatedaccount_changelist")
        form = FundDirectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                account = funded_account_open(
                    trader=data["trader"],
                    ruleset=data["ruleset"],
                    allocation=data["allocation"],
                    actor=request.user,
                    reason=data["reason"],
                )
            except LifecycleError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Opened {account}.")
                return redirect("admin:challenges_evaluatedaccount_change", account.pk)
        return render(
            request,
            "admin/challenges/form_page.html",
            {
                **self.admin_site.each_context(request),
                "title": "Fund a trader directly",
                "form": form,
                "opts": self.model._meta,
            },
        )
