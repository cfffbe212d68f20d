"""Limits risk managers set: per-account overrides of the rule set's gate limits, and the firm's
exposure limits per instrument and direction. Written only by apps/risk/services.py, audited."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core import clock
from apps.risk.gate import LIMIT_FIELDS
from apps.trading.models import TradingAccount

LIMIT_LABELS = {
    "max_leverage": "maximum leverage",
    "allowed_instruments": "allowed instruments",
    "allowed_directions": "allowed directions",
    "max_order_qty": "maximum order size (coin units)",
    "max_order_notional": "maximum order notional",
    "max_position_notional": "maximum position notional per instrument",
    "max_margin_use_pct": "maximum margin use (%)",
    "price_band_pct": "price band around the mark (%)",
    "max_open_orders": "maximum open orders",
    "max_orders_per_minute": "order-rate limit (per minute)",
}
LIMIT_CHOICES = [(name, LIMIT_LABELS[name]) for name in LIMIT_FIELDS]


class LimitOverride(models.Model):
    """One limit of one account set by a risk manager, tighter or looser than its rule set's.

    The gate reads it on every order (never cached), so a change holds from the next order on.
    `value` is in the rule set's limits form (RuleSet.to_limits_json): decimals as strings,
    counts as integers, instruments as a list, directions as a word; null means no limit.
    """

    account = models.ForeignKey(
        TradingAccount, on_delete=models.PROTECT, related_name="limit_overrides"
    )
    field = models.CharField(max_length=32, choices=LIMIT_CHOICES)
    value = models.JSONField(null=True, blank=True)
    reason = models.TextField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    set_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["account", "field"]
        constraints = [
            models.UniqueConstraint(fields=["account", "field"], name="risk_one_override_per_limit")
        ]
        permissions = [("override_limits", "Can override an account's pre-trade limits")]

    def __str__(self) -> str:
        return f"#{self.account_id} {self.field} = {self.value}"


class Direction(models.TextChoices):
    LONG = "long", "Long"
    SHORT = "short", "Short"


class FirmExposureLimit(models.Model):
    """The most real (live-venue) net notional the firm carries in one coin and direction."""

    coin = models.CharField(max_length=32)
    direction = models.CharField(max_length=5, choices=Direction.choices)
    max_notional = models.DecimalField(max_digits=24, decimal_places=2)
    reason = models.TextField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    set_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["coin", "direction"]
        constraints = [
            models.UniqueConstraint(fields=["coin", "direction"], name="risk_one_firm_limit"),
            models.CheckConstraint(
                condition=Q(max_notional__gte=0), name="risk_firm_limit_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.coin} {self.direction} ≤ {self.max_notional:,.2f}"
