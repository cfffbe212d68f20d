"""Admin of the Hyperliquid venue: networks, master accounts (their agent key named, never
shown: only the agent address derived from it), the sub-account pool, provisioning (with a
retry action), transfers and orders (read-only records)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from apps.trading.models_hyperliquid import (
    HyperliquidMaster,
    HyperliquidNetwork,
    HyperliquidOrder,
    HyperliquidTransfer,
    Provisioning,
    SubAccount,
)
from apps.trading.venues.base import VenueError
from apps.trading.venues.hyperliquid import config


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(HyperliquidNetwork)
class HyperliquidNetworkAdmin(admin.ModelAdmin):
    list_display = ["name", "base_url"]


class MasterForm(forms.ModelForm):
    class Meta:
        model = HyperliquidMaster
        fields = [
            "label",
            "address",
            "network",
            "agent_key_env",
            "agent_key_file",
            "max_sub_accounts",
            "active",
        ]

    def clean_address(self) -> str:
        return self.cleaned_data["address"].strip().lower()

    def clean(self):
        data = super().clean()
        env, path = data.get("agent_key_env", ""), data.get("agent_key_file", "")
        if bool(env) == bool(path):
            raise forms.ValidationError(
                "Name exactly one place for the agent key: an environment variable or a file."
            )
        return data


@admin.register(HyperliquidMaster)
class HyperliquidMasterAdmin(admin.ModelAdmin):
    form = MasterForm
    list_display = ["label", "address", "network", "agent", "sub_account_count", "max_sub_accounts"]
    list_filter = ["active", "network"]
    search_fields = ["label", "address"]
    readonly_fields = ["agent"]

    @admin.display(description="Agent (API wallet) address")
    def agent(self, obj: HyperliquidMaster) -> str:
        if obj.pk is None:
            return "-"
        try:
            return config.agent_address(obj)
        except VenueError as exc:
            return exc.reason

    @admin.display(description="Sub-accounts")
    def sub_account_count(self, obj: HyperliquidMaster) -> int:
        return obj.sub_accounts.exclude(status=SubAccount.Status.RETIRED).count()


@admin.register(SubAccount)
class SubAccountAdmin(_ReadOnly):
    list_display = ["address", "name", "master", "status", "trading_account", "assigned_at"]
    list_filter = ["status", "master"]
    search_fields = ["address", "name"]
    list_select_related = ["master", "trading_account"]


@admin.register(Provisioning)
class ProvisioningAdmin(_ReadOnly):
    list_display = [
        "trading_account",
        "status",
        "failed_step",
        "sub_account",
        "allocation",
        "reason",
        "attempts",
        "updated_at",
    ]
    list_filter = ["status"]
    list_select_related = ["trading_account", "sub_account"]
    actions = ["retry"]

    @admin.action(description="Retry the selected failed provisionings")
    def retry(self, request, queryset):
        from apps.trading.venues.hyperliquid.provisioning import provisioning_retry

        retried = 0
        for provisioning in queryset.filter(status=Provisioning.Status.FAILED):
            provisioning_retry(provisioning=provisioning, actor=request.user)
            retried += 1
        self.message_user(request, f"{retried} provisioning(s) put back to retry.", messages.INFO)


@admin.register(HyperliquidTransfer)
class HyperliquidTransferAdmin(_ReadOnly):
    list_display = ["key", "sub_account", "amount", "book_as", "status", "reason", "updated_at"]
    list_filter = ["status", "book_as"]
    search_fields = ["key", "sub_account__address"]


@admin.register(HyperliquidOrder)
class HyperliquidOrderAdmin(_ReadOnly):
    list_display = ["cloid", "sub_account", "coin", "side", "kind", "size", "status", "reason"]
    list_filter = ["status", "coin"]
    search_fields = ["cloid"]
