from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core import clock

# Money and quantities: NUMERIC, never float. The ledger books to 6 decimals (USDC's
# precision), so venue fees and funding enter exactly; figures shown to people are rounded
# by apps.core.money.
MONEY = {"max_digits": 24, "decimal_places": 6}
QTY = {"max_digits": 30, "decimal_places": 10}
PRICE = {"max_digits": 30, "decimal_places": 10}


class Venue(models.TextChoices):
    PAPER = "paper", "Paper (simulated)"
    HYPERLIQUID = "hyperliquid", "Hyperliquid"


class TradingState(models.TextChoices):
    ACTIVE = "active", "Active"
    REDUCING = "reducing", "Reducing only"
    SUSPENDED = "suspended", "Suspended"
    HALTED = "halted", "Halted"


class TradingAccount(models.Model):
    """A trader's account at a venue. Its balance is the sum of its ledger entries: a database
    trigger adds each entry as it is written and refuses any other change to it."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trading_accounts"
    )
    label = models.CharField(max_length=120, blank=True)
    venue = models.CharField(max_length=16, choices=Venue.choices, default=Venue.PAPER)
    venue_ref = models.CharField(
        max_length=100, blank=True, help_text="The venue's name for it, e.g. a sub-account."
    )
    currency = models.CharField(max_length=8, default="USD")
    state = models.CharField(max_length=12, choices=TradingState.choices, default="active")
    state_reason = models.TextField(blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    balance = models.DecimalField(default=0, editable=False, **MONEY)
    venue_cursor = models.JSONField(
        default=dict, blank=True, help_text="How far we have read the venue's fills and funding."
    )
    created_at = models.DateTimeField(default=clock.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "venue"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.label or self.venue} ({self.owner_id})"


class LedgerEntry(models.Model):
    """One immutable balance change. `key` makes a repeat a no-op (a retried fill, a payout
    approved twice); `balance_after` is set by the database as the entry is added."""

    class Kind(models.TextChoices):
        STARTING_CAPITAL = "starting_capital", "Starting capital"
        REALIZED_PNL = "realized_pnl", "Realised P&L"
        FEE = "fee", "Fee"
        FUNDING = "funding", "Funding"
        ADJUSTMENT = "adjustment", "Adjustment"
        PAYOUT = "payout", "Payout"
        RESIZE = "resize", "Resize"

    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="ledger")
    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount = models.DecimalField(**MONEY)
    balance_after = models.DecimalField(null=True, editable=False, **MONEY)
    at = models.DateTimeField(default=clock.now)
    memo = models.CharField(max_length=200, blank=True)
    coin = models.CharField(max_length=32, blank=True, help_text="For funding: the instrument.")
    order = models.ForeignKey("Order", null=True, blank=True, on_delete=models.PROTECT)
    fill = models.ForeignKey("Fill", null=True, blank=True, on_delete=models.PROTECT)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["account", "id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "at"])]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero"),
            models.CheckConstraint(
                condition=~Q(kind="fee") | Q(amount__lt=0), name="ledger_fee_is_a_debit"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} on #{self.account_id}"


class Origin(models.TextChoices):
    TRADER_WEB = "trader_web", "Trader (web)"
    TRADER_API = "trader_api", "Trader (API)"
    RISK_MANAGER = "risk_manager", "Risk manager"
    SYSTEM_FLATTEN = "system_flatten", "System flatten"
    LIQUIDATION = "liquidation", "Liquidation"


class Order(models.Model):
    """An order as we know it. Its id (a UUID) gives the venue's client order id, so a resend
    of the same order can never open a second one."""

    class Kind(models.TextChoices):
        MARKET = "market", "Market"
        LIMIT = "limit", "Limit"
        STOP_MARKET = "stop_market", "Stop market"
        STOP_LIMIT = "stop_limit", "Stop limit"
        TAKE_PROFIT = "take_profit", "Take profit"
        STOP_LOSS = "stop_loss", "Stop loss"

    class Side(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"

    class Tif(models.TextChoices):
        GTC = "gtc", "Good till cancelled"
        IOC = "ioc", "Immediate or cancel"
        ALO = "alo", "Post only"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        OPEN = "open", "Open"
        FILLED = "filled", "Filled"
        CANCELLED = "cancelled", "Cancelled"
        REJECTED = "rejected", "Rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="orders")
    origin = models.CharField(max_length=16, choices=Origin.choices)
    idempotency_key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    client_order_id = models.CharField(
        max_length=64, blank=True, help_text="The trader's own reference, unique per account."
    )
    coin = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=Side.choices)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    tif = models.CharField(max_length=3, choices=Tif.choices, default=Tif.GTC)
    size = models.DecimalField(**QTY)
    limit_price = models.DecimalField(null=True, blank=True, **PRICE)
    trigger_price = models.DecimalField(null=True, blank=True, **PRICE)
    reduce_only = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    filled_size = models.DecimalField(default=0, **QTY)
    average_price = models.DecimalField(null=True, blank=True, **PRICE)
    reject_reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["account", "status"]),
            models.Index(fields=["account", "created_at"]),  # the gate's order-rate count
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "idempotency_key"], name="order_idempotency_key_once"
            ),
            models.UniqueConstraint(
                fields=["account", "client_order_id"],
                condition=~Q(client_order_id=""),
                name="order_client_id_once",
            ),
            models.CheckConstraint(condition=Q(size__gt=0), name="order_size_positive"),
            models.CheckConstraint(
                condition=Q(filled_size__gte=0) & Q(filled_size__lte=models.F("size")),
                name="order_fill_within_size",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.size} {self.coin} {self.kind} ({self.status})"

    @property
    def venue_client_id(self) -> str:
        """Hyperliquid's cloid format: 0x and 32 hex digits."""
        return "0x" + self.id.hex

    @property
    def is_live(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.OPEN)


class Fill(models.Model):
    """A fill the venue confirmed, booked once however often it is seen."""

    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="fills")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT)
    venue_fill_id = models.CharField(max_length=100)
    coin = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=Order.Side.choices)
    size = models.DecimalField(**QTY)
    price = models.DecimalField(**PRICE)
    fee = models.DecimalField(**MONEY)
    liquidity = models.CharField(max_length=5)
    realized_pnl = models.DecimalField(**MONEY)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "venue_fill_id"], name="fill_once"),
            models.CheckConstraint(condition=Q(size__gt=0), name="fill_size_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.size} {self.coin} @ {self.price}"


class Position(models.Model):
    """One-way (netted) position per coin: signed size, size-weighted entry price."""

    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="positions")
    coin = models.CharField(max_length=32)
    size = models.DecimalField(default=0, **QTY)
    entry_price = models.DecimalField(default=0, **PRICE)
    realized_pnl = models.DecimalField(default=0, **MONEY)
    leverage = models.PositiveSmallIntegerField(default=1)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "coin"], name="one_position_per_coin")
        ]

    def __str__(self) -> str:
        return f"{self.size} {self.coin} @ {self.entry_price}"


class OutboxMessage(models.Model):
    """A request to the venue, committed with the order it is for and sent by a worker."""

    class Action(models.TextChoices):
        PLACE = "place", "Place"
        CANCEL = "cancel", "Cancel"
        MODIFY = "modify", "Modify"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        UNKNOWN = "unknown", "Sent, outcome unknown"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="outbox")
    action = models.CharField(max_length=8, choices=Action.choices)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=clock.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["id"], condition=Q(status__in=["pending", "unknown"]), name="outbox_waiting"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.order_id} ({self.status})"


# --- The paper venue's own books -------------------------------------------------------------
# Kept apart from ours and touched only by apps/trading/venues/paper, so that reconciliation
# compares two independent records, as it will with a real venue.


class PaperBook(models.Model):
    venue_account = models.CharField(max_length=64, unique=True)
    state = models.JSONField()
    live = models.BooleanField(default=False, help_text="Has resting orders or positions.")
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return self.venue_account


class PaperEvent(models.Model):
    """What the paper venue did, in order: the source of `fills_since` and `funding_since`."""

    book = models.ForeignKey(PaperBook, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=16)
    data = models.JSONField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["book", "seq"]
        constraints = [models.UniqueConstraint(fields=["book", "seq"], name="paper_event_seq_once")]

    def __str__(self) -> str:
        return f"{self.book_id}#{self.seq} {self.kind}"


from apps.trading.models_hyperliquid import *  # noqa: E402, F403
