from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import path, reverse

from apps.accounts.forms import BrandAdminForm
from apps.accounts.models import ApiKey, Brand, KycStatus, TraderProfile, User
from apps.accounts.services import (
    BRAND_FIELDS,
    AccountsError,
    api_key_revoke,
    brand_update,
    kyc_approve,
    kyc_reject,
)


class TraderProfileInline(admin.StackedInline):
    model = TraderProfile
    fk_name = "user"
    can_delete = False
    readonly_fields = ["kyc_status", "kyc_reason", "kyc_reviewed_by", "kyc_reviewed_at"]
    extra = 0


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_active", "groups"]
    search_fields = ["email", "name"]
    readonly_fields = ["date_joined", "last_login", "erased_at"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name"]}),
        ("Roles", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["date_joined", "last_login", "erased_at"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    inlines = [TraderProfileInline]


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown to the trader: say what they must correct.",
    )


@admin.register(TraderProfile)
class TraderProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "legal_name", "country", "kyc_status", "kyc_reviewed_at"]
    list_filter = ["kyc_status", "country"]
    search_fields = ["user__email", "legal_name", "tax_id"]
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "kyc_status",
        "kyc_reason",
        "kyc_reviewed_by",
        "kyc_reviewed_at",
        "updated_at",
    ]
    actions = ["approve_kyc", "reject_kyc"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Approve KYC of the selected profiles", permissions=["review_kyc"])
    def approve_kyc(self, request, queryset):
        done = 0
        for profile in queryset:
            try:
                kyc_approve(profile=profile, actor=request.user)
                done += 1
            except AccountsError as exc:
                self.message_user(request, f"{profile.user}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, f"Approved {done} profile(s).", messages.SUCCESS)

    @admin.action(description="Reject KYC of the selected profiles…", permissions=["review_kyc"])
    def reject_kyc(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return redirect(f"{reverse('admin:accounts_traderprofile_reject')}?ids={ids}")

    def has_review_kyc_permission(self, request):
        return request.user.has_perm("accounts.review_kyc")

    def get_urls(self):
        extra = [
            path(
                "reject/",
                self.admin_site.admin_view(self.reject_view),
                name="accounts_traderprofile_reject",
            )
        ]
        return extra + super().get_urls()

    def reject_view(self, request):
        if not self.has_review_kyc_permission(request):
            messages.error(request, "You do not have permission to review KYC.")
            return redirect("admin:accounts_traderprofile_changelist")
        ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.isdigit()]
        profiles = list(TraderProfile.objects.filter(pk__in=ids).select_related("user"))
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            for profile in profiles:
                try:
                    kyc_reject(
                        profile=profile, actor=request.user, reason=form.cleaned_data["reason"]
                    )
                    self.message_user(request, f"Rejected {profile.user}.", messages.SUCCESS)
                except AccountsError as exc:
                    self.message_user(request, f"{profile.user}: {exc}", messages.ERROR)
            return redirect("admin:accounts_traderprofile_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject KYC",
            "profiles": profiles,
            "form": form,
            "opts": self.model._meta,
            "pending": KycStatus.PENDING,
        }
        return render(request, "admin/accounts/kyc_reject.html", context)


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    form = BrandAdminForm
    fields = [*BRAND_FIELDS, "logo_upload", "clear_logo"]
    list_display = ["name", "support_email", "updated_at"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not Brand.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        upload = form.cleaned_data.get("logo_upload")
        try:
            brand_update(
                actor=request.user,
                logo=upload.read() if upload else None,
                clear_logo=form.cleaned_data.get("clear_logo", False),
                **{f: form.cleaned_data[f] for f in BRAND_FIELDS},
            )
        except (AccountsError, ValidationError) as exc:
            # The form was valid, the logo was not: say why and keep what is stored.
            self.message_user(request, f"Not saved: {exc}", messages.ERROR)

    def response_change(self, request, obj):
        return redirect("admin:accounts_brand_changelist")

    def response_add(self, request, obj, post_url_continue=None):
        return redirect("admin:accounts_brand_changelist")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "scope", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope"]
    search_fields = ["user__email", "prefix", "name"]
    readonly_fields = [
        "user",
        "name",
        "prefix",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    exclude = ["digest"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(key=key, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
