"""Instruments (Hyperliquid perpetuals), the fee schedule, and candles for charts."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

# Generous: prices run from kPEPE's 0.000001 to BTC's 100k+, rates to 1e-10.
PRICE = {"max_digits": 30, "decimal_places": 12}

# Hyperliquid's base tier (under $5M 14-day volume) for perpetuals.
BASE_TAKER_RATE = Decimal("0.00045")
BASE_MAKER_RATE = Decimal("0.00015")
# A rate above 1 % is almost surely a percentage typed where a fraction belongs
# ("0.045" meaning 0.045 %), which would charge traders 100 times too much.
MAX_FEE_RATE = Decimal("0.01")


class Instrument(models.Model):
    """A perpetual future with the venue's parameters, as Hyperliquid's `meta` reports them."""

    coin = models.CharField(max_length=32, unique=True, help_text="Hyperliquid's name, e.g. BTC")
    asset_index = models.PositiveIntegerField(
        null=True, blank=True, help_text="Position in Hyperliquid's universe (its asset id)"
    )
    sz_decimals = models.PositiveSmallIntegerField(
        help_text="Sizes are multiples of 10^-szDecimals; prices keep 6 - szDecimals decimals"
    )
    max_leverage = models.PositiveSmallIntegerField()
    only_isolated = models.BooleanField(default=False)
    is_delisted = models.BooleanField(default=False)
    margin_table_id = models.PositiveIntegerField(null=True, blank=True)
    margin_tiers = models.JSONField(
        default=list,
        blank=True,
        help_text='Where known: [{"lower_bound": "0", "max_leverage": 40}, ...] (notional, USD)',
    )
    active = models.BooleanField(
        default=True, help_text="Offered to traders (the firm's choice; delisting clears it)"
    )
    # The last asset context the loader saw (metaAndAssetCtxs) or recorded mids: the starting
    # point of the synthetic feed, not live prices (those are in the frames).
    mark_px = models.DecimalField(**PRICE, null=True, blank=True)
    oracle_px = models.DecimalField(**PRICE, null=True, blank=True)
    mid_px = models.DecimalField(**PRICE, null=True, blank=True)
    funding_rate = models.DecimalField(
        **PRICE, null=True, blank=True, help_text="Hourly rate, e.g. 0.0000125"
    )
    open_interest = models.DecimalField(**PRICE, null=True, blank=True)
    prices_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["asset_index", "coin"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_leverage__gte=1), name="market_instrument_leverage_positive"
            ),
            models.CheckConstraint(
                condition=Q(sz_decimals__lte=6), name="market_instrument_sz_decimals_max_6"
            ),
            # Trading a delisted coin must be impossible whatever the admin ticks.
            models.CheckConstraint(
                condition=Q(is_delisted=False) | Q(active=False),
                name="market_instrument_delisted_not_active",
            ),
        ]

    def __str__(self) -> str:
        return self.coin

    @property
    def reference_price(self) -> Decimal | None:
        """Where a simulated market for this coin starts: the last mark, else mid, else oracle."""
        return self.mark_px or self.mid_px or self.oracle_px


class FeeSchedule(models.Model):
    """Maker and taker rates charged on fills; exactly one schedule is the default."""

    name = models.CharField(max_length=100, unique=True)
    taker_rate = models.DecimalField(
        **PRICE, default=BASE_TAKER_RATE, help_text="A fraction: 0.00045 is 0.045 %"
    )
    maker_rate = models.DecimalField(
        **PRICE,
        default=BASE_MAKER_RATE,
        help_text="A fraction: 0.00015 is 0.015 %; negative is a rebate",
    )
    is_default = models.BooleanField(default=False)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="market_feeschedule_one_default",
            ),
            models.CheckConstraint(
                condition=Q(taker_rate__gte=0) & Q(taker_rate__lte=MAX_FEE_RATE),
                name="market_feeschedule_taker_range",
            ),
            # A maker never pays more than a taker, and a rebate never exceeds the taker fee
            # (else a wash trade between two accounts would earn money).
            models.CheckConstraint(
                condition=Q(maker_rate__lte=F("taker_rate")) & Q(maker_rate__gte=-F("taker_rate")),
                name="market_feeschedule_maker_within_taker",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (taker {_percent(self.taker_rate)}, maker {_percent(self.maker_rate)})"

    def validate_constraints(self, exclude=None):
        # Making a schedule the default unsets the previous one in the same transaction
        # (services.fee_schedule_save), so a form must not refuse a second default up front;
        # the database constraint still guarantees at most one.
        super().validate_constraints(exclude={*(exclude or ()), "is_default"})


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f} %"


class CandleInterval(models.TextChoices):
    M1 = "1m", "1 minute"
    M5 = "5m", "5 minutes"
    M15 = "15m", "15 minutes"
    H1 = "1h", "1 hour"
    H4 = "4h", "4 hours"
    D1 = "1d", "1 day"


class Candle(models.Model):
    """Open, high, low, close of the mark price over one interval, aggregated from frames."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="candles")
    interval = models.CharField(max_length=3, choices=CandleInterval.choices)
    start = models.DateTimeField()
    open = models.DecimalField(**PRICE)
    high = models.DecimalField(**PRICE)
    low = models.DecimalField(**PRICE)
    close = models.DecimalField(**PRICE)

    class Meta:
        ordering = ["instrument", "interval", "start"]
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "interval", "start"], name="market_candle_one_per_start"
            ),
            models.CheckConstraint(
                condition=Q(low__lte=F("open"))
                & Q(low__lte=F("close"))
                & Q(high__gte=F("open"))
                & Q(high__gte=F("close")),
                name="market_candle_low_high_bound",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.interval} {self.start:%Y-%m-%d %H:%M}"
