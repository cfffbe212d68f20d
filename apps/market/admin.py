from __future__ import annotations

from django import forms
from django.contrib import admin

from apps.market.models import Candle, FeeSchedule, Instrument
from apps.market.services import (
    MarketError,
    fee_schedule_check,
    fee_schedule_save,
    instrument_set_active,
)


class InstrumentForm(forms.ModelForm):
    class Meta:
        model = Instrument
        fields = ["active"]

    def clean_active(self):
        active = self.cleaned_data["active"]
        if active and self.instance.is_delisted:
            raise forms.ValidationError(
                f"{self.instance.coin} is delisted on Hyperliquid and cannot be offered."
            )
        return active


class FeeScheduleForm(forms.ModelForm):
    class Meta:
        model = FeeSchedule
        fields = ["name", "taker_rate", "maker_rate", "is_default"]

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                fee_schedule_check(
                    schedule_id=self.instance.pk,
                    name=data["name"],
                    taker_rate=data["taker_rate"],
                    maker_rate=data["maker_rate"],
                    is_default=data["is_default"],
                )
            except MarketError as exc:
                raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    form = InstrumentForm
    list_display = [
        "coin",
        "active",
        "max_leverage",
        "sz_decimals",
        "only_isolated",
        "is_delisted",
        "mark_px",
        "funding_rate",
        "prices_at",
    ]
    list_editable = ["active"]
    list_filter = ["active", "is_delisted", "only_isolated"]
    search_fields = ["coin"]
    ordering = ["asset_index", "coin"]
    # The venue's parameters come from Hyperliquid's meta (instruments_load), never by hand:
    # a wrong szDecimals or leverage cap would let the paper venue accept what the venue refuses.
    readonly_fields = [
        "coin",
        "asset_index",
        "sz_decimals",
        "max_leverage",
        "only_isolated",
        "is_delisted",
        "margin_table_id",
        "margin_tiers",
        "mark_px",
        "oracle_px",
        "mid_px",
        "funding_rate",
        "open_interest",
        "prices_at",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # Orders, positions and candles point at instruments; delisting is the way out.
        return False

    def get_changelist_form(self, request, **kwargs):
        return InstrumentForm

    def save_model(self, request, obj, form, change):
        instrument_set_active(
            instrument_id=obj.pk, active=form.cleaned_data["active"], actor=request.user
        )


@admin.register(FeeSchedule)
class FeeScheduleAdmin(admin.ModelAdmin):
    form = FeeScheduleForm
    list_display = ["name", "taker_rate", "maker_rate", "is_default", "updated_at"]
    fields = ["name", "taker_rate", "maker_rate", "is_default"]

    def has_delete_permission(self, request, obj=None):
        # Schedules are kept for the record of what fills were charged; a schedule leaves
        # service by another becoming the default.
        return False

    def save_model(self, request, obj, form, change):
        saved = fee_schedule_save(
            schedule_id=obj.pk if change else None,
            name=form.cleaned_data["name"],
            taker_rate=form.cleaned_data["taker_rate"],
            maker_rate=form.cleaned_data["maker_rate"],
            is_default=form.cleaned_data["is_default"],
            actor=request.user,
        )
        # The admin's messages and redirect read the object it passed in.
        obj.pk = saved.pk
        obj.refresh_from_db()


@admin.register(Candle)
class CandleAdmin(admin.ModelAdmin):
    list_display = ["instrument", "interval", "start", "open", "high", "low", "close"]
    list_filter = ["interval", "instrument"]
    list_select_related = ["instrument"]
    search_fields = ["instrument__coin"]
    date_hierarchy = "start"
    ordering = ["-start"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
