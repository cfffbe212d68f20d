"""Payouts: each funded account's pinned terms and high-water mark, its payouts, the runs
that make them, the scaling steps applied to it, and finance's exports."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.challenges.models import PayoutFrequency
from apps.core import clock

MONEY = {"max_digits": 24, "decimal_places": 6}
CENTS = {"max_digits": 20, "decimal_places": 2}
PCT = {"max_digits": 9, "decimal_places": 4}


class FundedTerms(models.Model):
    """The funded terms one account trades under, pinned from its plan the first time they
    are needed (a directly funded account gets them from a firm admin), and the account's
    high-water mark. Written only by the payout and scaling services, under its row lock."""

    class Source(models.TextChoices):
        PLAN = "plan", "Pinned from the plan"
        DIRECT = "direct", "Set by a firm admin (directly funded)"

    account = models.OneToOneField(
        "challenges.EvaluatedAccount",
        primary_key=True,
        on_delete=models.PROTECT,
        related_name="funded_terms",
    )
    source = models.CharField(max_length=8, choices=Source.choices, editable=False)
    plan = models.ForeignKey(
        "challenges.Plan", null=True, blank=True, on_delete=models.PROTECT, editable=False
    )
    currency = models.CharField(max_length=8, default="USD", editable=False)
    profit_split_pct = models.DecimalField(
        "trader's profit split (%)", default=Decimal("80"), help_text="50 to 90.", **PCT
    )
    payout_frequency = models.CharField(
        max_length=10, choices=PayoutFrequency.choices, default=PayoutFrequency.MONTHLY
    )
    first_payout_days = models.PositiveSmallIntegerField(
        "first payout after (days)", default=14, help_text="Days after funding."
    )
    min_payout = models.DecimalField("minimum payout", default=Decimal("50"), **CENTS)
    payout_requires_flat = models.BooleanField(
        "positions must be closed for a payout", default=True
    )
    refund_fee_with_first_payout = models.BooleanField(
        "challenge fee refunded with the first payout", default=False
    )
    fee_paid = models.DecimalField(
        "challenge fee paid", default=Decimal("0"), editable=False, **CENTS
    )
    fee_refunded = models.BooleanField(default=False, editable=False)
    consistency_max_best_day_share_pct = models.DecimalField(
        "payout consistency: best day at most (%)",
        null=True,
        blank=True,
        help_text="From the funded rule set's consistency rule; empty: no rule at payouts.",
        **PCT,
    )
    consistency_of = models.CharField(max_length=16, default="net_profit", blank=True)
    scaling_plan = models.JSONField(default=list, blank=True)
    scaling_max_balance = models.DecimalField(
        "scaling: maximum balance", null=True, blank=True, **CENTS
    )
    initial_balance = models.DecimalField(editable=False, **MONEY)
    account_size = models.DecimalField(
        editable=False, help_text="The initial balance moved by every scaling step.", **MONEY
    )
    high_water_mark = models.DecimalField(
        editable=False,
        help_text="The highest level of balance + everything paid out that has been paid "
        "out up to: only profit above it is distributable.",
        **MONEY,
    )
    paid_out_total = models.DecimalField(default=Decimal("0"), editable=False, **MONEY)
    growth_steps_applied = models.PositiveIntegerField(default=0, editable=False)
    window_started_at = models.DateTimeField(editable=False)
    window_size = models.DecimalField(editable=False, **MONEY)
    window_gross = models.DecimalField(editable=False, **MONEY)
    created_at = models.DateTimeField(default=clock.now, editable=False)
    updated_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        verbose_name = "funded terms"
        verbose_name_plural = "funded terms"
        constraints = [
            models.CheckConstraint(
                condition=Q(profit_split_pct__gte=50, profit_split_pct__lte=90),
                name="terms_split_50_to_90",
            ),
            models.CheckConstraint(condition=Q(min_payout__gte=0), name="terms_min_payout_gte_0"),
            models.CheckConstraint(condition=Q(account_size__gt=0), name="terms_size_positive"),
            models.CheckConstraint(
                condition=Q(paid_out_total__gte=0), name="terms_paid_out_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"terms of {self.account_id}"

    @property
    def net_high_water_mark(self) -> Decimal:
        """The balance above which profit is distributable (the mark less what was paid)."""
        return self.high_water_mark - self.paid_out_total

    def clean(self) -> None:
        from apps.payouts.scaling_rules import scaling_problems

        errors: dict[str, list[str]] = {}
        split = self.profit_split_pct
        if split is not None and not Decimal("50") <= split <= Decimal("90"):
            errors.setdefault("profit_split_pct", []).append(
                "The trader's profit split must be between 50% and 90%."
            )
        if self.scaling_plan is None:
            self.scaling_plan = []
        for problem in scaling_problems(self.scaling_plan, split):
            errors.setdefault("scaling_plan", []).append(problem)
        grows = any("every_months" in s or "after_return_pct" in s for s in self.scaling_plan)
        if grows and self.scaling_max_balance is None:
            errors.setdefault("scaling_max_balance", []).append(
                "A scaling plan that grows the account needs a maximum balance (its cap)."
            )
        if self.consistency_max_best_day_share_pct is not None and not (
            0 < self.consistency_max_best_day_share_pct <= 100
        ):
            errors.setdefault("consistency_max_best_day_share_pct", []).append(
                "The best day's share must be above 0% and at most 100%."
            )
        if errors:
            raise ValidationError(errors)


class PayoutRun(models.Model):
    """One pass of the payout run over every account of a frequency for one period. Chunks
    commit with the run's progress, so a run resumes where a crash left it; a second worker
    waits for the lease to run out."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    frequency = models.CharField(max_length=10, choices=PayoutFrequency.choices)
    period = models.CharField(max_length=32)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    cursor = models.BigIntegerField(default=0, help_text="The last account id processed.")
    total = models.PositiveIntegerField(default=0, help_text="Funded accounts to look at.")
    processed = models.PositiveIntegerField(default=0)
    requested = models.PositiveIntegerField(default=0, help_text="Payouts made by this run.")
    held = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    passes = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=clock.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["frequency", "period"], name="payout_run_once"),
        ]

    def __str__(self) -> str:
        return f"{self.get_frequency_display()} run for {self.period} ({self.status})"

    @property
    def progress_pct(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(99, self.processed * 100 // self.total) if self.total else 0


class Payout(models.Model):
    """One payout of one account for one period: requested (by the trader or a run) ->
    approved by finance (the ledger entry and the high-water mark move together) -> paid
    (with the payment's reference); or rejected with a reason, or held by a run with one."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        HELD = "held", "Held"
        APPROVED = "approved", "Approved"
        PAID = "paid", "Paid"
        REJECTED = "rejected", "Rejected"

    class Origin(models.TextChoices):
        REQUEST = "request", "Trader's request"
        RUN = "run", "Payout run"

    ACTIVE = (Status.REQUESTED, Status.APPROVED, Status.PAID)

    account = models.ForeignKey(
        "challenges.EvaluatedAccount", on_delete=models.PROTECT, related_name="payouts"
    )
    trader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts"
    )
    origin = models.CharField(max_length=8, choices=Origin.choices)
    run = models.ForeignKey(
        PayoutRun, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts"
    )
    period = models.CharField(max_length=32)
    period_start = models.DateField()
    period_end = models.DateField(help_text="The day after the period's last.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    currency = models.CharField(max_length=8, default="USD")
    gross_profit = models.DecimalField(
        help_text="The profit above the high-water mark that leaves the account.", **CENTS
    )
    split_pct = models.DecimalField(**PCT)
    trader_share = models.DecimalField(**CENTS)
    firm_share = models.DecimalField(**CENTS)
    fee_refund = models.DecimalField(default=Decimal("0"), **CENTS)
    amount = models.DecimalField(help_text="To the trader: their share and the refund.", **CENTS)
    reason = models.TextField(blank=True, help_text="Why it was held or rejected (shown).")
    destination = models.CharField(max_length=200, blank=True)
    requested_at = models.DateTimeField(default=clock.now)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ledger_entry = models.OneToOneField(
        "trading.LedgerEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payment_reference = models.CharField(max_length=200, blank=True)
    venue_transferred_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("approve_payout", "Can approve, reject and mark payouts paid")]
        indexes = [
            models.Index(fields=["status", "requested_at"]),
            models.Index(fields=["trader", "paid_at"]),
        ]
        constraints = [
            # One payout in flight or done per account and period: a run repeated, a request
            # sent twice or racing a run, all meet this index.
            models.UniqueConstraint(
                fields=["account", "period"],
                condition=Q(status__in=["requested", "approved", "paid"]),
                name="payout_once_per_period",
            ),
            models.CheckConstraint(condition=Q(gross_profit__gte=0), name="payout_gross_gte_0"),
            models.CheckConstraint(
                condition=Q(trader_share__gte=0, firm_share__gte=0, fee_refund__gte=0),
                name="payout_shares_gte_0",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["rejected", "held"]) | ~Q(reason=""),
                name="payout_refusal_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="paid") | ~Q(payment_reference=""),
                name="payout_paid_has_reference",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "paid"]) | Q(ledger_entry__isnull=False),
                name="payout_approved_has_ledger_entry",
            ),
        ]

    def __str__(self) -> str:
        return f"payout #{self.pk} of {self.account_id} for {self.period} ({self.status})"

    @property
    def ledger_key(self) -> str:
        return f"payout:{self.account_id}:{self.period}"


class ScalingEvent(models.Model):
    """One scaling step applied to one account: recorded once, never applied twice."""

    account = models.ForeignKey(
        "challenges.EvaluatedAccount", on_delete=models.PROTECT, related_name="scaling_events"
    )
    seq = models.PositiveIntegerField()
    step_index = models.PositiveIntegerField(help_text="The step's place in the plan (from 0).")
    step = models.JSONField()
    shape = models.CharField(max_length=8)
    reason = models.TextField()
    size_before = models.DecimalField(**MONEY)
    size_after = models.DecimalField(**MONEY)
    amount = models.DecimalField(**MONEY)
    split_before = models.DecimalField(**PCT)
    split_after = models.DecimalField(**PCT)
    ledger_entry = models.OneToOneField(
        "trading.LedgerEntry", on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=clock.now)
    venue_transferred_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["account", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["account", "seq"], name="scaling_step_once"),
        ]

    def __str__(self) -> str:
        return f"step {self.seq} of {self.account_id}: {self.size_before} -> {self.size_after}"

    @property
    def ledger_key(self) -> str:
        return f"resize:{self.account_id}:{self.seq}"


class Export(models.Model):
    """A finance report built by a worker; the file is kept in the row (no shared disk)."""

    class Kind(models.TextChoices):
        REGISTER_CSV = "register_csv", "Payout register (CSV)"
        REGISTER_XLSX = "register_xlsx", "Payout register (XLSX)"
        STATEMENT_PDF = "statement_pdf", "Payout statement of a trader (PDF)"
        TAX_CSV = "tax_csv", "Yearly tax summary of a trader (CSV)"
        TAX_PDF = "tax_pdf", "Yearly tax summary of a trader (PDF)"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Building"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent.")
    rows = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    filename = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    content = models.BinaryField(null=True, blank=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"
