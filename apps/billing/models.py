"""What candidates buy and how they pay: discount codes, purchases, and the payment
providers' webhook deliveries (each recorded once, so a repeat has no effect)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

from apps.core import clock

MONEY = {"max_digits": 12, "decimal_places": 2}


class DiscountCode(models.Model):
    """A code a candidate types at checkout: percent or fixed off, within dates, up to a cap.

    A use is taken when a checkout starts (under this row's lock) and counts while its
    purchase is paid or still awaiting payment; a failed or abandoned checkout gives it back.
    """

    class Kind(models.TextChoices):
        PERCENT = "percent", "Percent off"
        FIXED = "fixed", "Fixed amount off"

    code = models.CharField(
        max_length=40, unique=True, help_text="What candidates type, e.g. WELCOME10 (upper case)."
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PERCENT)
    value = models.DecimalField(
        **MONEY, help_text="Percent (10 = 10 %) or an amount in the currency below."
    )
    currency = models.CharField(max_length=4, default="USD", help_text="For a fixed amount.")
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many purchases may use it; blank: no cap."
    )
    plan_codes = ArrayField(
        models.CharField(max_length=50),
        default=list,
        blank=True,
        help_text="Plan families it applies to (e.g. two-step-10k); empty: every plan.",
    )
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="discount_value_positive"),
            models.CheckConstraint(
                condition=~Q(kind="percent") | Q(value__lte=100), name="discount_percent_max_100"
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_until__isnull=True)
                | Q(valid_until__gt=F("valid_from")),
                name="discount_valid_until_after_from",
            ),
            models.CheckConstraint(
                condition=Q(code=models.functions.Upper("code")), name="discount_code_upper"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Purchase(models.Model):
    """One checkout of one plan by one candidate, from the price quoted to the challenge it
    started. `amount` is always the list price less the discounts (a database check)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting payment"
        PAID = "paid", "Paid"
        FAILED = "failed", "Payment failed"
        ABANDONED = "abandoned", "Abandoned (not paid)"
        REFUNDED = "refunded", "Refunded"
        DISPUTED = "disputed", "Charged back"

    ref = models.CharField(max_length=40, unique=True, editable=False)
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchases"
    )
    plan = models.ForeignKey("challenges.Plan", on_delete=models.PROTECT, related_name="+")
    country = models.CharField(max_length=2)
    currency = models.CharField(max_length=4, default="USD")
    list_price = models.DecimalField(**MONEY)
    retry_of = models.ForeignKey(
        "challenges.Challenge",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The failed challenge whose retry discount this purchase uses.",
    )
    retry_discount_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    retry_discount = models.DecimalField(**MONEY, default=0)
    discount_code = models.ForeignKey(
        DiscountCode, null=True, blank=True, on_delete=models.PROTECT, related_name="purchases"
    )
    code_discount = models.DecimalField(**MONEY, default=0)
    amount = models.DecimalField(**MONEY, help_text="What the candidate pays.")
    provider = models.CharField(max_length=16)
    provider_ref = models.CharField(
        max_length=255, blank=True, help_text="The provider's checkout, e.g. a Stripe session."
    )
    payment_ref = models.CharField(
        max_length=255, blank=True, help_text="The payment's id; the challenge's purchase_ref."
    )
    idempotency_key = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField(help_text="An unpaid checkout stops holding its code then.")
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=300, blank=True)
    challenge = models.OneToOneField(
        "challenges.Challenge",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchase",
    )
    receipt_number = models.CharField(max_length=32, null=True, blank=True, unique=True)
    receipt_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["discount_code", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["buyer", "idempotency_key"], name="purchase_idempotency_key_once"
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_ref"],
                condition=~Q(provider_ref=""),
                name="purchase_provider_ref_once",
            ),
            models.UniqueConstraint(
                fields=["payment_ref"], condition=~Q(payment_ref=""), name="purchase_payment_once"
            ),
            # A failed challenge's retry discount buys one retry.
            models.UniqueConstraint(
                fields=["retry_of"], condition=Q(status="paid"), name="purchase_one_paid_retry"
            ),
            models.CheckConstraint(
                condition=Q(amount=F("list_price") - F("retry_discount") - F("code_discount")),
                name="purchase_amount_is_price_less_discounts",
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(retry_discount__gte=0) & Q(code_discount__gte=0),
                name="purchase_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(status="pending")
                | Q(status="failed")
                | Q(status="abandoned")
                | ~Q(payment_ref=""),
                name="purchase_paid_has_payment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ref} ({self.get_status_display().lower()})"

    @property
    def is_void(self) -> bool:
        return self.status in (self.Status.REFUNDED, self.Status.DISPUTED)


class WebhookEvent(models.Model):
    """A provider's webhook delivery, recorded once by its event id with what it caused."""

    provider = models.CharField(max_length=16)
    event_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=100)
    purchase = models.ForeignKey(
        Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="webhooks"
    )
    outcome = models.CharField(max_length=300, blank=True)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.kind} {self.event_id}"
