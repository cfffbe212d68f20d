"""The Hyperliquid venue's own records: networks, the firm's master accounts, the pool of
sub-accounts, provisioning, transfers and the orders we sent.

Touched only by apps/trading/venues/hyperliquid (and its admin and tasks): the rest of the
platform talks to the venue through the venue protocol and never learns which venue an
account uses. Agent (API wallet) private keys are never stored here: a master names the
environment variable or the file that holds its key.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from apps.core import clock

__all__ = [
    "HyperliquidMaster",
    "HyperliquidNetwork",
    "HyperliquidOrder",
    "HyperliquidTransfer",
    "Provisioning",
    "SubAccount",
]

_HL_MONEY = {"max_digits": 24, "decimal_places": 6}
_HL_QTY = {"max_digits": 30, "decimal_places": 10}
ADDRESS = RegexValidator(r"^0x[0-9a-f]{40}$", "An address is 0x and 40 lower-case hex digits.")
# Hyperliquid lets a master hold up to 50 sub-accounts as its volume grows.
MAX_SUB_ACCOUNTS_CAP = 50


class HyperliquidNetwork(models.Model):
    """Where a master's requests go: mainnet, testnet or a custom base URL."""

    name = models.CharField(max_length=40, unique=True)
    base_url = models.URLField(
        help_text="https://api.hyperliquid.xyz (mainnet), https://api.hyperliquid-testnet.xyz "
        "(testnet) or your own. Only the mainnet URL signs for mainnet."
    )

    class Meta:
        verbose_name = "Hyperliquid network"

    def __str__(self) -> str:
        return f"{self.name} ({self.base_url})"


class HyperliquidMaster(models.Model):
    """One of the firm's master accounts; its agent wallet signs for its sub-accounts."""

    label = models.CharField(max_length=80)
    address = models.CharField(max_length=42, unique=True, validators=[ADDRESS])
    network = models.ForeignKey(
        HyperliquidNetwork,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text="Empty: the HYPERLIQUID_BASE_URL setting (mainnet by default).",
    )
    agent_key_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the environment variable holding the agent wallet's private key.",
    )
    agent_key_file = models.CharField(
        max_length=300,
        blank=True,
        help_text="Or: path of a secret file holding the agent wallet's private key.",
    )
    max_sub_accounts = models.PositiveSmallIntegerField(
        default=10,
        validators=[MaxValueValidator(MAX_SUB_ACCOUNTS_CAP)],
        help_text="Hyperliquid allows 10 once the master has traded $100k, up to 50 as its "
        "volume grows.",
    )
    active = models.BooleanField(default=True, help_text="New sub-accounts only on active masters.")
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = "Hyperliquid master account"
        constraints = [
            models.CheckConstraint(
                condition=~Q(agent_key_env="") | ~Q(agent_key_file=""),
                name="hl_master_names_its_agent_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} {self.address}"


class SubAccount(models.Model):
    """A sub-account of a master, in the pool: free, assigned to one trading account, or
    retired. Reused after the account it served closes."""

    class Status(models.TextChoices):
        FREE = "free", "Free"
        ASSIGNED = "assigned", "Assigned"
        RETIRED = "retired", "Retired"

    master = models.ForeignKey(
        HyperliquidMaster, on_delete=models.PROTECT, related_name="sub_accounts"
    )
    address = models.CharField(max_length=42, unique=True, validators=[ADDRESS])
    name = models.CharField(max_length=40)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.FREE)
    trading_account = models.ForeignKey(
        "trading.TradingAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="hyperliquid_sub_accounts",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    history_from_ms = models.BigIntegerField(
        default=0,
        help_text="Venue time from which fills and funding belong to the current account "
        "(set when a previous account released it).",
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["trading_account"],
                condition=Q(status="assigned"),
                name="hl_one_sub_account_per_trading_account",
            ),
            models.CheckConstraint(
                condition=Q(status="assigned", trading_account__isnull=False)
                | (~Q(status="assigned") & Q(trading_account__isnull=True)),
                name="hl_sub_account_assigned_iff_account",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.address} ({self.status})"


class Provisioning(models.Model):
    """Giving one trading account its funded sub-account: requested -> created -> funded ->
    ready, or failed with the venue's reason (retry resumes at the step that failed)."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        CREATED = "created", "Sub-account created"
        FUNDED = "funded", "Funded"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    trading_account = models.OneToOneField(
        "trading.TradingAccount", on_delete=models.PROTECT, related_name="hyperliquid_provisioning"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    failed_step = models.CharField(max_length=10, choices=Status.choices, blank=True)
    master = models.ForeignKey(HyperliquidMaster, null=True, blank=True, on_delete=models.PROTECT)
    sub_account = models.ForeignKey(SubAccount, null=True, blank=True, on_delete=models.PROTECT)
    allocation = models.DecimalField(**_HL_MONEY)
    reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"#{self.trading_account_id} {self.status}"


class HyperliquidTransfer(models.Model):
    """One USDC move between a master and a sub-account under our idempotency key.

    Recorded before it is sent and after it is answered, so a retry after a crash first looks
    for it in the sub-account's ledger at the venue instead of sending it again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent, outcome unknown"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    key = models.CharField(max_length=200, unique=True)
    sub_account = models.ForeignKey(SubAccount, on_delete=models.PROTECT, related_name="transfers")
    trading_account = models.ForeignKey(
        "trading.TradingAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount = models.DecimalField(help_text="Positive: to the sub-account.", **_HL_MONEY)
    book_as = models.CharField(
        max_length=20, blank=True, help_text="Ledger kind booked when done; empty: not booked."
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    sent_ms = models.BigIntegerField(null=True, blank=True)
    venue_hash = models.CharField(max_length=80, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="hl_transfer_not_zero"),
            models.UniqueConstraint(
                fields=["venue_hash"], condition=~Q(venue_hash=""), name="hl_transfer_hash_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.amount} ({self.status})"


class HyperliquidOrder(models.Model):
    """An order as we sent it (rounded to the venue's grid), under our cloid: recorded before
    sending, so after a crash we know to ask the venue before sending it again, and a cancel
    or modify knows the coin and the order it changes."""

    class Status(models.TextChoices):
        SENT = "sent", "Sent, outcome unknown"
        OPEN = "open", "Open"
        FILLED = "filled", "Filled"
        CANCELLED = "cancelled", "Cancelled"
        REJECTED = "rejected", "Rejected"

    cloid = models.CharField(max_length=34, unique=True)
    sub_account = models.ForeignKey(SubAccount, on_delete=models.PROTECT, related_name="orders")
    coin = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    kind = models.CharField(max_length=12)
    tif = models.CharField(max_length=3, blank=True)
    reduce_only = models.BooleanField(default=False)
    size = models.DecimalField(**_HL_QTY)
    limit_price = models.DecimalField(**_HL_QTY)
    trigger_price = models.DecimalField(null=True, blank=True, **_HL_QTY)
    oid = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENT)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [models.Index(fields=["sub_account", "oid"])]

    def __str__(self) -> str:
        return f"{self.cloid} {self.side} {self.size} {self.coin} ({self.status})"
