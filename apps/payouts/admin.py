"""Finance's side in the admin: payouts to approve, reject and mark paid; payout runs; funded
terms (a firm admin sets them for directly funded accounts); scaling steps; exports."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from apps.accounts.models import User
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.core import clock
from apps.payouts.exports import export_request
from apps.payouts.models import Export, FundedTerms, Payout, PayoutRun, ScalingEvent
from apps.payouts.services import (
    TERMS_FIELDS,
    PayoutError,
    funded_terms_pin,
    funded_terms_set,
    is_firm_admin,
    payout_approve,
    payout_mark_paid,
    payout_reject,
)

FORM_PAGE = "payouts/admin/form_page.html"


def _form_page(model_admin, request, title: str, form, intro: str = ""):
    return render(
        request,
        FORM_PAGE,
        {
            **model_admin.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "form": form,
            "opts": model_admin.model._meta,
        },
    )


# --- payouts ---------------------------------------------------------------------------------


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Shown to the trader."
    )


class PaidForm(forms.Form):
    reference = forms.CharField(
        max_length=200, help_text="The transaction hash or bank transfer reference."
    )


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "trader",
        "account",
        "period",
        "status",
        "gross_profit",
        "split_pct",
        "amount",
        "requested_at",
        "approved_by",
        "payment_reference",
        "decide",
    ]
    list_filter = ["status", "origin", "period"]
    search_fields = ["trader__email", "payment_reference", "period"]
    list_select_related = ["trader", "account", "approved_by"]
    readonly_fields = [f.name for f in Payout._meta.fields] + ["ledger_key"]
    actions = ["approve_selected"]
    date_hierarchy = "requested_at"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Decide")
    def decide(self, obj: Payout):
        if obj.status == Payout.Status.REQUESTED:
            return format_html(
                '<a href="{}">approve</a> · <a href="{}">reject</a>',
                reverse("admin:payouts_payout_approve", args=[obj.pk]),
                reverse("admin:payouts_payout_reject", args=[obj.pk]),
            )
        if obj.status == Payout.Status.APPROVED:
            return format_html(
                '<a href="{}">mark paid</a>', reverse("admin:payouts_payout_paid", args=[obj.pk])
            )
        return "—"

    @admin.action(description="Approve the selected payouts")
    def approve_selected(self, request, queryset):
        done = 0
        for payout in queryset.order_by("pk"):
            try:
                payout_approve(payout=payout, actor=request.user)
                done += 1
            except PayoutError as exc:
                self.message_user(request, f"Payout #{payout.pk}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"Approved {done} payout(s).", messages.SUCCESS)

    def get_urls(self):
        own = [
            path(
                "<int:pk>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="payouts_payout_approve",
            ),
            path(
                "<int:pk>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="payouts_payout_reject",
            ),
            path(
                "<int:pk>/paid/",
                self.admin_site.admin_view(self.paid_view),
                name="payouts_payout_paid",
            ),
        ]
        return own + super().get_urls()

    def _summary(self, payout: Payout) -> str:
        return (
            f"Payout #{payout.pk} of {payout.trader} for {payout.period}: gross profit "
            f"{payout.gross_profit:,}, split {payout.split_pct.normalize():f}%, trader share "
            f"{payout.trader_share:,}, fee refund {payout.fee_refund:,}, to the trader "
            f"{payout.amount:,} {payout.currency}; destination {payout.destination or '—'}."
        )

    def approve_view(self, request, pk):
        payout = get_object_or_404(Payout, pk=pk)
        form = forms.Form(request.POST or None)
        if request.method == "POST":
            try:
                payout_approve(payout=payout, actor=request.user)
            except PayoutError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Approved payout #{pk}; the ledger entry is booked.")
            return redirect("admin:payouts_payout_changelist")
        return _form_page(self, request, f"Approve payout #{pk}", form, self._summary(payout))

    def reject_view(self, request, pk):
        payout = get_object_or_404(Payout, pk=pk)
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                payout_reject(payout=payout, actor=request.user, reason=form.cleaned_data["reason"])
            except PayoutError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Rejected payout #{pk}.")
            return redirect("admin:payouts_payout_changelist")
        return _form_page(self, request, f"Reject payout #{pk}", form, self._summary(payout))

    def paid_view(self, request, pk):
        payout = get_object_or_404(Payout, pk=pk)
        form = PaidForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                payout_mark_paid(
                    payout=payout, actor=request.user, reference=form.cleaned_data["reference"]
                )
            except PayoutError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Payout #{pk} marked paid.")
            return redirect("admin:payouts_payout_changelist")
        return _form_page(self, request, f"Mark payout #{pk} paid", form, self._summary(payout))


@admin.register(PayoutRun)
class PayoutRunAdmin(admin.ModelAdmin):
    list_display = [
        "frequency",
        "period",
        "status",
        "progress",
        "processed",
        "total",
        "requested",
        "held",
        "passes",
        "started_at",
        "finished_at",
    ]
    list_filter = ["frequency", "status"]
    readonly_fields = [f.name for f in PayoutRun._meta.fields]

    @admin.display(description="Progress")
    def progress(self, obj: PayoutRun) -> str:
        return f"{obj.progress_pct}%"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- funded terms ------------------------------------------------------------------------------


class TermsForm(forms.ModelForm):
    class Meta:
        model = FundedTerms
        fields = ["account", *TERMS_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "account" in self.fields:
            self.fields["account"].queryset = EvaluatedAccount.objects.filter(
                stage=EvaluatedAccount.Stage.FUNDED, challenge__isnull=True, funded_terms=None
            )
            self.fields["account"].help_text = "A directly funded account without terms yet."


@admin.register(FundedTerms)
class FundedTermsAdmin(admin.ModelAdmin):
    form = TermsForm
    list_display = [
        "account",
        "source",
        "profit_split_pct",
        "payout_frequency",
        "min_payout",
        "account_size",
        "high_water_mark",
        "paid_out_total",
    ]
    list_filter = ["source", "payout_frequency"]
    search_fields = ["account__trader__email"]
    list_select_related = ["account__trader"]
    readonly_fields = [
        "source",
        "plan",
        "currency",
        "fee_paid",
        "fee_refunded",
        "initial_balance",
        "account_size",
        "high_water_mark",
        "paid_out_total",
        "growth_steps_applied",
        "window_started_at",
        "created_at",
        "updated_at",
    ]

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return is_firm_admin(request.user)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.source != FundedTerms.Source.DIRECT:
            return False  # what the trader bought never changes
        return is_firm_admin(request.user)

    def get_fields(self, request, obj=None):
        fields = list(TERMS_FIELDS)
        return (["account"] if obj is None else []) + fields + self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        readonly = list(self.readonly_fields)
        return readonly + (["account"] if obj is not None else [])

    def save_model(self, request, obj, form, change):
        values = {
            name: form.cleaned_data[name] for name in TERMS_FIELDS if name in form.cleaned_data
        }
        try:
            if not change:
                funded_terms_pin(account=form.cleaned_data["account"], actor=request.user)
            saved = funded_terms_set(
                account=form.cleaned_data.get("account") or obj.account,
                actor=request.user,
                values=values,
            )
        except PayoutError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        pass


@admin.register(ScalingEvent)
class ScalingEventAdmin(admin.ModelAdmin):
    list_display = ["account", "seq", "shape", "size_before", "size_after", "split_after", "at"]
    list_filter = ["shape"]
    readonly_fields = [f.name for f in ScalingEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- exports ---------------------------------------------------------------------------------


class ExportForm(forms.Form):
    kind = forms.ChoiceField(choices=Export.Kind.choices)
    date_from = forms.DateField(
        required=False, help_text="Register and statement: first day (YYYY-MM-DD)."
    )
    date_to = forms.DateField(required=False, help_text="Register and statement: last day.")
    year = forms.IntegerField(required=False, help_text="Tax summary: the year.")
    trader = forms.ModelChoiceField(
        queryset=User.objects.filter(payouts__isnull=False).distinct().order_by("email"),
        required=False,
        help_text="Statement and tax summary: whose.",
    )


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "described",
        "status",
        "progress_shown",
        "rows",
        "requested_by",
        "created_at",
        "download",
    ]
    list_filter = ["kind", "status"]
    readonly_fields = [
        "kind",
        "params",
        "status",
        "progress",
        "rows",
        "error",
        "filename",
        "requested_by",
        "created_at",
        "finished_at",
        "download",
    ]
    exclude = ["content", "content_type"]
    change_list_template = "payouts/admin/export_change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content").select_related("requested_by")

    @admin.display(description="For")
    def described(self, obj: Export) -> str:
        return ", ".join(f"{k} {v}" for k, v in obj.params.items())

    @admin.display(description="Progress")
    def progress_shown(self, obj: Export):
        return format_html(
            '<progress max="100" value="{}"></progress> {}%', obj.progress, obj.progress
        )

    @admin.display(description="File")
    def download(self, obj: Export):
        if obj.status != Export.Status.DONE:
            return obj.error or "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("payout_export_download", args=[obj.pk]), obj.filename
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        own = [
            path("new/", self.admin_site.admin_view(self.new_view), name="payouts_export_new"),
        ]
        return own + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        running = Export.objects.filter(status__in=["pending", "running"]).exists()
        extra_context = {**(extra_context or {}), "refresh": running, "now": clock.now()}
        return super().changelist_view(request, extra_context)

    def new_view(self, request):
        form = ExportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            params = {
                "date_from": data["date_from"].isoformat() if data["date_from"] else "",
                "date_to": data["date_to"].isoformat() if data["date_to"] else "",
                "year": data["year"],
                "trader": data["trader"].pk if data["trader"] else None,
            }
            try:
                export = export_request(kind=data["kind"], params=params, actor=request.user)
            except PayoutError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Export #{export.pk} queued: its progress shows below.")
                return redirect("admin:payouts_export_changelist")
        return _form_page(self, request, "New payout report", form)
