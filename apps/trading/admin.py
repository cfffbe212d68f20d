from __future__ import annotations

from django.contrib import admin

from apps.trading.models import Fill, LedgerEntry, Order, OutboxMessage, Position, TradingAccount


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records are written by services only; the admin shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PositionInline(admin.TabularInline):
    model = Position
    extra = 0
    can_delete = False
    readonly_fields = ["coin", "size", "entry_price", "realized_pnl", "updated_at"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TradingAccount)
class TradingAccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "owner", "label", "venue", "state", "status", "balance", "created_at"]
    list_filter = ["venue", "state", "status"]
    search_fields = ["owner__email", "label", "venue_ref"]
    list_select_related = ["owner"]
    inlines = [PositionInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "at", "kind", "amount", "balance_after", "memo"]
    list_filter = ["kind"]
    search_fields = ["key", "account__owner__email"]
    date_hierarchy = "at"


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "account",
        "origin",
        "coin",
        "side",
        "kind",
        "size",
        "limit_price",
        "status",
        "filled_size",
        "created_at",
    ]
    list_filter = ["status", "origin", "kind", "coin"]
    search_fields = ["id", "client_order_id", "account__owner__email"]


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "coin", "side", "size", "price", "fee", "realized_pnl", "at"]
    list_filter = ["coin", "liquidity"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "order", "action", "status", "attempts", "last_error", "sent_at"]
    list_filter = ["status", "action"]


from apps.trading import admin_hyperliquid  # noqa: E402,F401
