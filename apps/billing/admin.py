from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q

from apps.billing.models import DiscountCode, Purchase, WebhookEvent
from apps.billing.selectors import USED_STATUSES
from apps.billing.services import purchase_void


class DiscountCodeForm(forms.ModelForm):
    class Meta:
        model = DiscountCode
        fields = [
            "code",
            "kind",
            "value",
            "currency",
            "valid_from",
            "valid_until",
            "max_uses",
            "plan_codes",
            "active",
            "description",
        ]

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip().upper()


@admin.register(DiscountCode)
class DiscountCodeAdmin(admin.ModelAdmin):
    form = DiscountCodeForm
    list_display = [
        "code",
        "kind",
        "value",
        "valid_from",
        "valid_until",
        "max_uses",
        "uses",
        "active",
    ]
    list_filter = ["kind", "active"]
    search_fields = ["code", "description"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(used=Count("purchases", filter=Q(purchases__status__in=USED_STATUSES)))
        )

    @admin.display(description="paid uses", ordering="used")
    def uses(self, obj) -> int:
        return obj.used

    def save_model(self, request, obj, form, change):
        from apps.billing.services import discount_code_save

        discount_code_save(code=obj, actor=request.user)

    def has_delete_permission(self, request, obj=None):
        return False  # purchases keep pointing at the code they used; deactivate it instead


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    list_display = [
        "ref",
        "buyer",
        "plan",
        "amount",
        "currency",
        "status",
        "provider",
        "created_at",
        "paid_at",
        "challenge",
    ]
    list_filter = ["status", "provider"]
    search_fields = ["ref", "buyer__email", "payment_ref", "provider_ref", "receipt_number"]
    list_select_related = ["buyer", "plan", "challenge"]
    date_hierarchy = "created_at"
    actions = ["void_refunded"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description="Void: refunded outside the provider's webhook", permissions=["change"]
    )
    def void_refunded(self, request, queryset):
        done = 0
        for purchase in queryset.filter(status=Purchase.Status.PAID):
            purchase_void(
                purchase=purchase,
                effect=Purchase.Status.REFUNDED,
                reason=f"refunded (recorded by {request.user.email})",
                actor=request.user,
            )
            done += 1
        self.message_user(
            request, f"{done} purchase(s) voided with their challenges.", messages.SUCCESS
        )


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "provider", "kind", "event_id", "purchase", "outcome"]
    list_filter = ["provider", "kind"]
    search_fields = ["event_id", "purchase__ref"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
