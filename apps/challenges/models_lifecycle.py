"""The evaluation lifecycle's records: challenges, their accounts, and each account's rule state.

A challenge is what a candidate bought (a pinned plan version). Each of its phases, and the
funded stage after them, is an `EvaluatedAccount`: one trading account under one pinned rule
set version, whose rule state (the engine's checkpoint) and journal (the events that changed
it) are written by the rules engine and nothing else.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core import clock

MONEY = {"max_digits": 24, "decimal_places": 6}


class Challenge(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "In evaluation"
        FUNDED = "funded", "Funded"
        FAILED = "failed", "Failed"
        VOID = "void", "Void (refunded)"
        TERMINATED = "terminated", "Terminated"

    trader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="challenges"
    )
    plan = models.ForeignKey("challenges.Plan", on_delete=models.PROTECT, related_name="+")
    purchase_ref = models.CharField(
        max_length=100, unique=True, help_text="The payment that bought it: one challenge each."
    )
    price_paid = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=8, default="USD")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    current_phase = models.PositiveSmallIntegerField(default=1)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="retries"
    )
    retry_discount_pct = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Offered when it failed: the discount on buying the plan again.",
    )
    created_at = models.DateTimeField(default=clock.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"challenge #{self.pk} ({self.plan_id}, {self.status})"


class EvaluatedAccount(models.Model):
    """A trading account judged by the rules engine under a pinned rule set."""

    class Stage(models.TextChoices):
        EVALUATION = "evaluation", "Evaluation"
        FUNDED = "funded", "Funded"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"
        CLOSED = "closed", "Closed"

    trader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="evaluated_accounts"
    )
    challenge = models.ForeignKey(
        Challenge, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts"
    )
    trading_account = models.OneToOneField(
        "trading.TradingAccount", on_delete=models.PROTECT, related_name="evaluation"
    )
    ruleset = models.ForeignKey("challenges.RuleSet", on_delete=models.PROTECT, related_name="+")
    stage = models.CharField(max_length=12, choices=Stage.choices)
    phase = models.PositiveSmallIntegerField(null=True, blank=True)
    rules = models.JSONField(help_text="The rule set's rules as the engine reads them (pinned).")
    starting_balance = models.DecimalField(**MONEY)
    start = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    reason = models.CharField(max_length=20, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    checkpoint = models.JSONField(null=True, blank=True)
    fed_fills = models.BigIntegerField(default=0, help_text="Last fill id fed to the engine.")
    fed_ledger = models.BigIntegerField(default=0, help_text="Last ledger id fed to the engine.")
    journal_seq = models.PositiveIntegerField(default=0)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    sweep_lease_until = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-start"]
        indexes = [models.Index(fields=["status", "id"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(stage="funded") | Q(phase__isnull=False),
                name="evaluation_has_a_phase",
            ),
            models.UniqueConstraint(
                fields=["challenge", "stage", "phase"], name="one_account_per_phase"
            ),
        ]

    def __str__(self) -> str:
        where = f"phase {self.phase}" if self.stage == self.Stage.EVALUATION else "funded"
        return f"{where} account #{self.trading_account_id} ({self.status})"


class JournalEntry(models.Model):
    """An event that changed an account's rule state, in the scenario format's shape."""

    account = models.ForeignKey(EvaluatedAccount, on_delete=models.CASCADE, related_name="journal")
    seq = models.PositiveIntegerField()
    t = models.DateTimeField()
    event = models.JSONField()
    voided = models.BooleanField(default=False)

    class Meta:
        ordering = ["account", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["account", "seq"], name="journal_seq_once"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}#{self.seq} {self.event.get('type')}"
