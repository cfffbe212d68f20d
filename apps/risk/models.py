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


# --- risk managers' tools: four eyes, alerts, reconciliation ----------------------------------


class OverrideRequest(models.Model):
    """A request to lift a breach's HALT: one risk manager asks, naming the journal events it
    voids (a bad price, a venue error); a second approves. Approval replays the account without
    those events and reinstates it only if the replay no longer breaches."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a second risk manager"
        APPROVED = "approved", "Approved: account reinstated"
        REFUSED = "refused", "Refused: the replay still breaches"

    account = models.ForeignKey(
        TradingAccount, on_delete=models.PROTECT, related_name="override_requests"
    )
    voided_seqs = models.JSONField(
        default=list, help_text="The journal entries (by seq) this override voids."
    )
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=clock.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    verdict_before = models.JSONField(null=True, blank=True)
    verdict_after = models.JSONField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]
        permissions = [
            ("intervene_account", "Can intervene on a trading account (limits, close, states)"),
            ("approve_override", "Can approve another risk manager's override request"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status="pending"),
                name="risk_one_pending_override_per_account",
            )
        ]

    def __str__(self) -> str:
        return f"override #{self.pk} of account #{self.account_id} ({self.status})"


class ConcentrationRule(models.Model):
    """When the firm is concentrated enough to tell the risk team: net real notional in one
    coin and direction above `max_net_notional`, or `min_traders` or more traders (paper ones
    included, labelled simulated) on the same side of one coin."""

    coin = models.CharField(max_length=32, blank=True, help_text="Empty: any coin.")
    max_net_notional = models.DecimalField(
        max_digits=24, decimal_places=2, null=True, blank=True, help_text="Empty: no such alert."
    )
    min_traders = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: no trader-count alert."
    )
    active = models.BooleanField(default=True)
    reason = models.TextField(blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    set_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["coin"]

    def __str__(self) -> str:
        return f"{self.coin or 'any coin'}: net > {self.max_net_notional}, {self.min_traders}+"


class Alert(models.Model):
    """Something the risk team must look at, open until a risk manager acknowledges it. One
    open alert per key (kind, coin, direction or account)."""

    class Kind(models.TextChoices):
        NET_EXPOSURE = "net_exposure", "Net exposure"
        CROWDING = "crowding", "Traders on one side"
        RECONCILIATION = "reconciliation", "Reconciliation difference"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=200)
    coin = models.CharField(max_length=32, blank=True)
    direction = models.CharField(max_length=5, choices=Direction.choices, blank=True)
    simulated = models.BooleanField(default=False)
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    raised_at = models.DateTimeField(default=clock.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledge_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(acknowledged_at__isnull=True),
                name="risk_one_open_alert_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message[:60]}"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None


class ReconciliationRun(models.Model):
    started_at = models.DateTimeField(default=clock.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    accounts_checked = models.PositiveIntegerField(default=0)
    differences_found = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"reconciliation {self.started_at:%Y-%m-%d %H:%M} ({self.differences_found})"


class ReconciliationDifference(models.Model):
    """One way our books and a venue's disagree: a balance, a position, or an account one side
    does not know."""

    class Kind(models.TextChoices):
        BALANCE = "balance", "Balance"
        POSITION = "position", "Position"
        MISSING = "missing", "Account missing on one side"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="differences")
    account = models.ForeignKey(
        TradingAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    venue = models.CharField(max_length=16)
    venue_account = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    coin = models.CharField(max_length=32, blank=True)
    ours = models.CharField(max_length=64, blank=True)
    theirs = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "id"]

    def __str__(self) -> str:
        return f"{self.venue_account} {self.kind} {self.coin}: ours {self.ours}, {self.theirs}"
