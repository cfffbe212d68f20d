"""Rule sets and plans: versioned data, immutable once published.

A rule set holds the evaluation rules of ../shared/spec/scenario-format.md as typed fields
(`to_rules_json()` gives the contract's `rules` object, checked by the engine's own parser)
and every limit the pre-trade gate reads. A plan is what a candidate buys: a price, a
starting balance, one to three evaluation phases and the funded stage, each pinned to a
published rule set version.

Both are versioned by (code, version) and move draft -> published -> retired. Only a draft
changes; a database trigger (migration 0002) refuses any other change, so a published
version stays exactly what was sold, whoever tries to edit it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import available_timezones

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models

from apps.challenges.rules import ScenarioError, rules_from_json
from apps.core import clock
from apps.core.money import CURRENCY_PLACES

ZERO, HUNDRED = Decimal(0), Decimal(100)
HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
COIN = re.compile(r"[A-Za-z0-9]{1,20}")


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class Stage(models.TextChoices):
    EVALUATION = "evaluation", "Evaluation phase"
    FUNDED = "funded", "Funded account"


class BreachWhen(models.TextChoices):
    BELOW = "below", "Equity below the floor"
    AT_OR_BELOW = "at_or_below", "Equity at or below the floor"


class AmountKind(models.TextChoices):
    FIXED = "fixed", "Fixed amount"
    PCT_OF_INITIAL = "pct_of_initial", "% of the starting balance"
    PCT_OF_ANCHOR = "pct_of_anchor", "% of the anchor"


class LevelKind(models.TextChoices):
    """Amounts measured from zero or on the starting balance: targets and locks."""

    FIXED = "fixed", "Fixed amount"
    PCT_OF_INITIAL = "pct_of_initial", "% of the starting balance"


class Basis(models.TextChoices):
    BALANCE = "balance", "Balance (closed profit)"
    EQUITY = "equity", "Equity (floating profit included)"


class Anchor(models.TextChoices):
    INITIAL = "initial", "Starting balance (static)"
    DAY_START_BALANCE = "day_start_balance", "Balance at the day's start"
    DAY_START_EQUITY = "day_start_equity", "Equity at the day's start"
    DAY_START_MAX = "day_start_max", "Higher of balance and equity at the day's start"
    INTRADAY_PEAK_EQUITY = "intraday_peak_equity", "Highest equity since the day's start"
    PEAK_EOD_BALANCE = "peak_eod_balance", "Highest end-of-day balance (trailing)"
    PEAK_EOD_EQUITY = "peak_eod_equity", "Highest end-of-day equity (trailing)"
    PEAK_BALANCE = "peak_balance", "Highest balance (trailing closed profit)"
    PEAK_EQUITY = "peak_equity", "Highest equity (trailing floating profit)"


MAX_LOSS_ANCHORS = (
    Anchor.INITIAL,
    Anchor.PEAK_EOD_BALANCE,
    Anchor.PEAK_EOD_EQUITY,
    Anchor.PEAK_BALANCE,
    Anchor.PEAK_EQUITY,
)


class Qualifying(models.TextChoices):
    ANY_TRADE = "any_trade", "Any day with a trade"
    PROFITABLE_DAY = "profitable_day", "A day closed in profit (minimum % below)"


class ConsistencyOf(models.TextChoices):
    NET_PROFIT = "net_profit", "Net profit"
    POSITIVE_DAYS = "positive_days", "Sum of the profitable days"


class Directions(models.TextChoices):
    BOTH = "both", "Long and short"
    LONG_ONLY = "long_only", "Long only"
    SHORT_ONLY = "short_only", "Short only"


class PayoutFrequency(models.TextChoices):
    BIWEEKLY = "biweekly", "Every two weeks"
    MONTHLY = "monthly", "Monthly"
    ON_REQUEST = "on_request", "On request"


# --- single-field validators -------------------------------------------------------------


def validate_timezone(value: str) -> None:
    if value not in _zones():
        raise ValidationError(
            f"“{value}” is not a known time zone; use an IANA name such as UTC or Europe/Prague."
        )


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


_ZONES: frozenset[str] | None = None


def validate_hhmm(value: str) -> None:
    if not HHMM.fullmatch(value or ""):
        raise ValidationError(
            f"“{value}” is not a time of day: write HH:MM on the 24-hour clock, "
            "from 00:00 to 23:59 (for example 00:00 or 17:00)."
        )


def validate_coins(value: list[str]) -> None:
    bad = [c for c in value if not COIN.fullmatch(c)]
    if bad:
        raise ValidationError(
            f"“{bad[0]}” is not a coin name: use the venue's name such as BTC, ETH or kPEPE "
            "(letters and digits), separated by commas."
        )
    seen: set[str] = set()
    for coin in value:
        if coin.upper() in seen:
            raise ValidationError(f"{coin} is listed twice.")
        seen.add(coin.upper())


def _decimal(value: Any) -> Decimal | None:
    """A Decimal for comparisons in clean(), or None where the field is empty or invalid."""
    if value is None or value == "" or isinstance(value, bool | float):
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def pct(value: Decimal) -> str:
    """A percentage or amount as people write it: 5, 0.5, 12.25 (no trailing zeros)."""
    return f"{value.normalize():f}"


def _plain(value: Decimal) -> str:
    # The contract's decimal strings: plain notation, no exponent, no trailing zeros.
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "0") else text


class Errors(dict):
    """Validation messages per field, raised together so a person sees all of them."""

    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise ValidationError(dict(self))


def _percent_range(
    errors: Errors, field: str, value: Decimal | None, label: str, *, upper: Decimal = HUNDRED
) -> None:
    if value is not None and not (ZERO < value <= upper):
        errors.add(field, f"{label} must be more than 0% and at most {pct(upper)}%.")


# --- versioned rows ----------------------------------------------------------------------


class Versioned(models.Model):
    """A code (the family), a version number and a status; only drafts change."""

    code = models.SlugField(
        max_length=64,
        help_text="Stable name of the family (lowercase letters, digits, hyphens), "
        "shared by every version.",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    name = models.CharField(max_length=120, help_text="What people see.")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=clock.now, editable=False)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} ({self.code} v{self.version}, {self.get_status_display().lower()})"

    @property
    def label(self) -> str:
        return f"{self.code} v{self.version}"

    @property
    def is_draft(self) -> bool:
        return self.status == Status.DRAFT


def _version_constraints(prefix: str) -> list[models.BaseConstraint]:
    return [
        models.UniqueConstraint(fields=["code", "version"], name=f"{prefix}_code_version_unique"),
        models.UniqueConstraint(
            fields=["code"],
            condition=models.Q(status=Status.DRAFT),
            name=f"{prefix}_one_draft_per_code",
            violation_error_message="This family already has a draft: edit that one.",
        ),
        models.CheckConstraint(
            condition=models.Q(status__in=Status.values), name=f"{prefix}_status_valid"
        ),
        models.CheckConstraint(condition=models.Q(version__gte=1), name=f"{prefix}_version_gte_1"),
    ]


# Rule fields, copied by "new draft" and compared by the admin; in form order.
RULE_FIELDS = (
    "stage",
    "day_reset_timezone",
    "day_reset_time",
    "breach_when",
    "profit_target_kind",
    "profit_target_value",
    "profit_target_basis",
    "daily_loss_anchor",
    "daily_loss_kind",
    "daily_loss_value",
    "max_loss_anchor",
    "max_loss_kind",
    "max_loss_value",
    "max_loss_lock_kind",
    "max_loss_lock_value",
    "min_trading_days",
    "min_trading_days_qualifying",
    "min_trading_days_min_pct",
    "max_duration_days",
    "consistency_max_best_day_share_pct",
    "consistency_of",
)
LIMIT_FIELDS = (
    "max_leverage",
    "allowed_instruments",
    "allowed_directions",
    "max_order_qty",
    "max_order_notional",
    "max_position_notional",
    "max_margin_use_pct",
    "price_band_pct",
    "max_open_orders",
    "max_orders_per_minute",
)
RULESET_FIELDS = ("code", "name", "description", *RULE_FIELDS, *LIMIT_FIELDS)


def _amount_field(verbose_name: str, help_text: str = "") -> models.DecimalField:
    return models.DecimalField(
        verbose_name, max_digits=18, decimal_places=4, null=True, blank=True, help_text=help_text
    )


def _money_field(verbose_name: str, help_text: str = "", **kwargs: Any) -> models.DecimalField:
    return models.DecimalField(
        verbose_name, max_digits=18, decimal_places=2, help_text=help_text, **kwargs
    )


def _pct_field(verbose_name: str, help_text: str = "", **kwargs: Any) -> models.DecimalField:
    return models.DecimalField(
        verbose_name, max_digits=9, decimal_places=4, help_text=help_text, **kwargs
    )


class RuleSet(Versioned):
    """The rules an account is evaluated under, and the limits its orders must respect."""

    stage = models.CharField(
        max_length=10,
        choices=Stage.choices,
        default=Stage.EVALUATION,
        help_text="An evaluation phase needs an objective to pass; a funded account has none.",
    )

    # Day and breach.
    day_reset_timezone = models.CharField(
        "day reset time zone",
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text="IANA name, e.g. UTC or Europe/Prague; daylight saving applies.",
    )
    day_reset_time = models.CharField(
        "day reset time",
        max_length=5,
        default="00:00",
        validators=[validate_hhmm],
        help_text="HH:MM local time, 00:00 to 23:59.",
    )
    breach_when = models.CharField(
        "a loss limit is breached at",
        max_length=12,
        choices=BreachWhen.choices,
        default=BreachWhen.BELOW,
    )

    # Profit target (no kind: no target).
    profit_target_kind = models.CharField(
        "profit target amount kind",
        max_length=16,
        choices=LevelKind.choices,
        blank=True,
        help_text="Leave empty for no profit target.",
    )
    profit_target_value = _amount_field("profit target amount", "Currency units or percent.")
    profit_target_basis = models.CharField(
        "profit target measured on", max_length=8, choices=Basis.choices, default=Basis.BALANCE
    )

    # Daily loss (no anchor: no daily loss rule).
    daily_loss_anchor = models.CharField(
        "daily loss measured from",
        max_length=24,
        choices=Anchor.choices,
        blank=True,
        help_text="Leave empty for no daily loss limit.",
    )
    daily_loss_kind = models.CharField(
        "daily loss amount kind", max_length=16, choices=AmountKind.choices, blank=True
    )
    daily_loss_value = _amount_field("daily loss amount", "Currency units or percent.")

    # Max loss (no anchor: no max loss rule).
    max_loss_anchor = models.CharField(
        "max loss measured from",
        max_length=24,
        choices=Anchor.choices,
        blank=True,
        help_text="The starting balance (static) or a trailing peak. Leave empty for none.",
    )
    max_loss_kind = models.CharField(
        "max loss amount kind", max_length=16, choices=AmountKind.choices, blank=True
    )
    max_loss_value = _amount_field("max loss amount", "Currency units or percent.")
    max_loss_lock_kind = models.CharField(
        "trailing floor locks at (kind)",
        max_length=16,
        choices=LevelKind.choices,
        blank=True,
        help_text="Trailing anchors only: the floor stops rising at this level "
        "(100% of the starting balance = the starting balance). Leave empty for no lock.",
    )
    max_loss_lock_value = _amount_field("trailing floor locks at")

    # Trading days, duration, consistency.
    min_trading_days = models.PositiveSmallIntegerField(
        "minimum trading days", null=True, blank=True, help_text="Leave empty for no minimum."
    )
    min_trading_days_qualifying = models.CharField(
        "a trading day is",
        max_length=16,
        choices=Qualifying.choices,
        default=Qualifying.ANY_TRADE,
    )
    min_trading_days_min_pct = _pct_field(
        "profitable day: minimum profit (% of the starting balance)",
        null=True,
        blank=True,
    )
    max_duration_days = models.PositiveIntegerField(
        "time limit (days)", null=True, blank=True, help_text="Leave empty for no time limit."
    )
    consistency_max_best_day_share_pct = _pct_field(
        "consistency: best day at most (%)",
        "The best day's profit as a share of the total. Leave empty for no consistency rule.",
        null=True,
        blank=True,
    )
    consistency_of = models.CharField(
        "consistency: share of",
        max_length=16,
        choices=ConsistencyOf.choices,
        default=ConsistencyOf.NET_PROFIT,
    )

    # Limits the pre-trade gate reads.
    max_leverage = models.DecimalField(
        "maximum leverage", max_digits=6, decimal_places=2, default=Decimal("10")
    )
    allowed_instruments = ArrayField(
        models.CharField(max_length=20),
        default=list,
        blank=True,
        validators=[validate_coins],
        help_text="Coin names separated by commas (BTC,ETH). Empty: every instrument.",
    )
    allowed_directions = models.CharField(
        max_length=10, choices=Directions.choices, default=Directions.BOTH
    )
    max_order_qty = models.DecimalField(
        "maximum order size (coin units)",
        max_digits=24,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="Leave empty for no limit in coin units.",
    )
    max_order_notional = _money_field(
        "maximum order notional", "In the account's currency, at the mark price."
    )
    max_position_notional = _money_field(
        "maximum position notional per instrument", "In the account's currency."
    )
    max_margin_use_pct = _pct_field(
        "maximum margin use (%)", "Margin in use as a percent of equity.", default=Decimal("80")
    )
    price_band_pct = _pct_field(
        "price band around the mark (%)",
        "Limit orders further than this from the mark are refused.",
        default=Decimal("5"),
    )
    max_open_orders = models.PositiveIntegerField("maximum open orders", default=20)
    max_orders_per_minute = models.PositiveIntegerField("order-rate limit (per minute)", default=60)

    class Meta:
        verbose_name = "rule set"
        ordering = ["code", "-version"]
        constraints = _version_constraints("ruleset")

    # --- the contract's rules object -------------------------------------------------------

    def to_rules_json(self) -> dict[str, Any]:
        """The `rules` object of scenario-format.md (decimals as strings, absent rules null)."""

        def amount(kind: str, value: Decimal | None) -> dict[str, str]:
            return {kind: _plain(Decimal(value if value is not None else 0))}

        profit_target = None
        if self.profit_target_kind:
            profit_target = {
                "amount": amount(self.profit_target_kind, self.profit_target_value),
                "basis": self.profit_target_basis,
            }
        daily_loss = None
        if self.daily_loss_anchor:
            daily_loss = {
                "anchor": self.daily_loss_anchor,
                "amount": amount(self.daily_loss_kind, self.daily_loss_value),
            }
        max_loss = None
        if self.max_loss_anchor:
            max_loss = {
                "anchor": self.max_loss_anchor,
                "amount": amount(self.max_loss_kind, self.max_loss_value),
                "lock_at": amount(self.max_loss_lock_kind, self.max_loss_lock_value)
                if self.max_loss_lock_kind
                else None,
            }
        min_days = None
        if self.min_trading_days is not None:
            qualifying: dict[str, str] = {"kind": self.min_trading_days_qualifying}
            if self.min_trading_days_qualifying == Qualifying.PROFITABLE_DAY:
                qualifying["min_pct_of_initial"] = _plain(
                    Decimal(self.min_trading_days_min_pct or 0)
                )
            min_days = {"count": self.min_trading_days, "qualifying": qualifying}
        consistency = None
        if self.consistency_max_best_day_share_pct is not None:
            consistency = {
                "max_best_day_share_pct": _plain(Decimal(self.consistency_max_best_day_share_pct)),
                "of": self.consistency_of,
            }
        return {
            "day_reset": {"timezone": self.day_reset_timezone, "time": self.day_reset_time},
            "breach_when": self.breach_when,
            "profit_target": profit_target,
            "daily_loss": daily_loss,
            "max_loss": max_loss,
            "min_trading_days": min_days,
            "max_duration_days": self.max_duration_days,
            "consistency": consistency,
        }

    def to_limits_json(self) -> dict[str, Any]:
        """The pre-trade gate's limits, decimals as strings (None: no limit)."""

        def text(value: Decimal | None) -> str | None:
            return None if value is None else _plain(Decimal(value))

        return {
            "max_leverage": text(self.max_leverage),
            "allowed_instruments": list(self.allowed_instruments),
            "allowed_directions": self.allowed_directions,
            "max_order_qty": text(self.max_order_qty),
            "max_order_notional": text(self.max_order_notional),
            "max_position_notional": text(self.max_position_notional),
            "max_margin_use_pct": text(self.max_margin_use_pct),
            "price_band_pct": text(self.price_band_pct),
            "max_open_orders": self.max_open_orders,
            "max_orders_per_minute": self.max_orders_per_minute,
        }

    @property
    def has_objectives(self) -> bool:
        return bool(
            self.profit_target_kind
            or self.min_trading_days is not None
            or self.consistency_max_best_day_share_pct is not None
        )

    # --- validation --------------------------------------------------------------------------

    def clean(self) -> None:
        errors = Errors()
        self._clean_profit_target(errors)
        self._clean_daily_loss(errors)
        self._clean_max_loss(errors)
        self._clean_loss_comparison(errors)
        self._clean_days(errors)
        self._clean_consistency(errors)
        self._clean_stage(errors)
        self._clean_limits(errors)
        errors.raise_if_any()
        try:
            rules_from_json(self.to_rules_json())
        except ScenarioError as exc:  # a safety net: the checks above should say it first
            raise ValidationError(f"The rules engine refuses these rules: {exc}") from None

    def _clean_profit_target(self, errors: Errors) -> None:
        value = _decimal(self.profit_target_value)
        if not self.profit_target_kind:
            if self.profit_target_value is not None:
                errors.add(
                    "profit_target_kind",
                    "Choose how the profit target is measured, or clear its amount "
                    "for no profit target.",
                )
            return
        if value is None:
            errors.add("profit_target_value", "Enter the profit target amount.")
        elif value <= ZERO:
            errors.add(
                "profit_target_value",
                "A profit target of zero is met at once: enter an amount above 0, "
                "or clear the profit target.",
            )
        elif self.profit_target_kind == LevelKind.PCT_OF_INITIAL:
            _percent_range(errors, "profit_target_value", value, "The profit target")

    def _clean_amount(
        self, errors: Errors, rule: str, label: str, kind: str, value: Any, anchor: str
    ) -> None:
        number = _decimal(value)
        if not kind:
            errors.add(f"{rule}_kind", f"Choose how the {label} amount is measured.")
        if number is None:
            errors.add(f"{rule}_value", f"Enter the {label} amount.")
        elif number <= ZERO:
            errors.add(
                f"{rule}_value",
                f"A {label} of zero breaches at once: enter an amount above 0, "
                f"or clear the {label} rule.",
            )
        elif kind in (AmountKind.PCT_OF_INITIAL, AmountKind.PCT_OF_ANCHOR):
            _percent_range(errors, f"{rule}_value", number, f"The {label}")
        if kind == AmountKind.PCT_OF_ANCHOR and anchor == Anchor.INITIAL:
            errors.add(
                f"{rule}_kind",
                f"On the starting balance a percent of the anchor is a percent of the "
                f"starting balance: choose “% of the starting balance” for the {label}.",
            )

    def _clean_daily_loss(self, errors: Errors) -> None:
        if not self.daily_loss_anchor:
            if self.daily_loss_kind or self.daily_loss_value is not None:
                errors.add(
                    "daily_loss_anchor",
                    "Choose what the daily loss is measured from, or clear its amount "
                    "for no daily loss limit.",
                )
            return
        self._clean_amount(
            errors,
            "daily_loss",
            "daily loss",
            self.daily_loss_kind,
            self.daily_loss_value,
            self.daily_loss_anchor,
        )

    def _clean_max_loss(self, errors: Errors) -> None:
        lock_set = bool(self.max_loss_lock_kind) or self.max_loss_lock_value is not None
        if not self.max_loss_anchor:
            if self.max_loss_kind or self.max_loss_value is not None or lock_set:
                errors.add(
                    "max_loss_anchor",
                    "Choose what the max loss is measured from, or clear its amount "
                    "for no max loss limit.",
                )
            return
        if self.max_loss_anchor not in MAX_LOSS_ANCHORS:
            errors.add(
                "max_loss_anchor",
                "The max loss is measured from the starting balance or a trailing peak "
                "(highest balance or equity); day-start anchors are for the daily loss.",
            )
        if self.max_loss_kind == AmountKind.PCT_OF_ANCHOR:
            errors.add(
                "max_loss_kind",
                "A max loss in percent of its anchor is not offered: use a fixed amount or "
                "a percent of the starting balance (a trailing floor then keeps the same "
                "distance from its peak).",
            )
            return
        self._clean_amount(
            errors, "max_loss", "max loss", self.max_loss_kind, self.max_loss_value, ""
        )
        if not lock_set:
            return
        if self.max_loss_anchor == Anchor.INITIAL:
            errors.add(
                "max_loss_lock_kind",
                "A lock only applies to a trailing max loss; the starting-balance floor "
                "never moves. Clear the lock or choose a trailing anchor.",
            )
            return
        lock = _decimal(self.max_loss_lock_value)
        if not self.max_loss_lock_kind:
            errors.add("max_loss_lock_kind", "Choose how the lock level is measured, or clear it.")
        if lock is None:
            errors.add("max_loss_lock_value", "Enter the level the trailing floor locks at.")
        elif lock <= ZERO:
            errors.add("max_loss_lock_value", "The lock level must be above 0.")
        elif self.max_loss_lock_kind == LevelKind.PCT_OF_INITIAL:
            amount = _decimal(self.max_loss_value)
            if self.max_loss_kind == AmountKind.PCT_OF_INITIAL and amount is not None:
                lowest = HUNDRED - amount
                if lock < lowest:
                    errors.add(
                        "max_loss_lock_value",
                        f"A lock at {pct(lock)}% of the starting balance is below the "
                        f"starting floor ({pct(lowest)}%), so the floor could never trail: "
                        f"lock at {pct(lowest)}% or more (100% = the starting balance).",
                    )

    def _clean_loss_comparison(self, errors: Errors) -> None:
        if not (self.daily_loss_anchor and self.max_loss_anchor):
            return
        daily, overall = _decimal(self.daily_loss_value), _decimal(self.max_loss_value)
        if daily is None or overall is None or self.daily_loss_kind != self.max_loss_kind:
            return  # only the same kinds compare (fixed with fixed, percent with percent)
        if self.daily_loss_kind not in (AmountKind.FIXED, AmountKind.PCT_OF_INITIAL):
            return
        if daily > overall:
            unit = "%" if self.daily_loss_kind == AmountKind.PCT_OF_INITIAL else ""
            errors.add(
                "daily_loss_value",
                f"The daily loss ({pct(daily)}{unit}) is larger than the max loss "
                f"({pct(overall)}{unit}): the max loss would always be hit first. "
                f"Make the daily loss at most {pct(overall)}{unit}.",
            )

    def _clean_days(self, errors: Errors) -> None:
        count, limit = self.min_trading_days, self.max_duration_days
        qualifying_pct = _decimal(self.min_trading_days_min_pct)
        if count is not None and count < 1:
            errors.add(
                "min_trading_days",
                "A minimum of 0 trading days is no rule: enter 1 or more, or leave it empty.",
            )
        if limit is not None and limit < 1:
            errors.add("max_duration_days", "A time limit is at least 1 day, or empty for none.")
        if isinstance(count, int) and isinstance(limit, int) and count > limit:
            errors.add(
                "min_trading_days",
                f"{count} minimum trading days cannot fit in a time limit of {limit} days: "
                f"lower the minimum or lengthen the time limit.",
            )
        if self.min_trading_days_qualifying == Qualifying.PROFITABLE_DAY:
            if count is None:
                return
            if qualifying_pct is None:
                errors.add(
                    "min_trading_days_min_pct",
                    "Enter the profit a day needs to count (percent of the starting balance).",
                )
            elif not (ZERO <= qualifying_pct <= HUNDRED):
                errors.add(
                    "min_trading_days_min_pct",
                    "The minimum profit of a day must be between 0% and 100% of the "
                    "starting balance.",
                )
        elif self.min_trading_days_min_pct is not None:
            errors.add(
                "min_trading_days_min_pct",
                "A minimum profit only applies when a trading day must be profitable: "
                "clear it, or choose “a day closed in profit”.",
            )

    def _clean_consistency(self, errors: Errors) -> None:
        share = _decimal(self.consistency_max_best_day_share_pct)
        _percent_range(errors, "consistency_max_best_day_share_pct", share, "The best day's share")

    def _clean_stage(self, errors: Errors) -> None:
        if self.stage == Stage.EVALUATION and not self.has_objectives:
            errors.add(
                "profit_target_kind",
                "An evaluation phase needs an objective (a profit target, minimum trading "
                "days or a consistency rule), otherwise nobody can pass it.",
            )
        if self.stage == Stage.FUNDED and self.has_objectives:
            errors.add(
                "stage",
                "A funded account has no objectives (it never passes): clear the profit "
                "target, minimum trading days and consistency rule.",
            )

    def _clean_limits(self, errors: Errors) -> None:
        leverage = _decimal(self.max_leverage)
        if leverage is not None and not (ZERO < leverage <= HUNDRED):
            errors.add("max_leverage", "The maximum leverage must be above 0 and at most 100x.")
        for field, label in (
            ("max_order_qty", "The maximum order size"),
            ("max_order_notional", "The maximum order notional"),
            ("max_position_notional", "The maximum position notional"),
        ):
            value = _decimal(getattr(self, field))
            if value is not None and value <= ZERO:
                errors.add(field, f"{label} must be above 0 (leave it empty where optional).")
        order, position = _decimal(self.max_order_notional), _decimal(self.max_position_notional)
        if order is not None and position is not None and ZERO < position < order:
            errors.add(
                "max_order_notional",
                f"One order ({pct(order)}) may not be larger than the largest position "
                f"allowed ({pct(position)}): lower the order notional.",
            )
        _percent_range(
            errors, "max_margin_use_pct", _decimal(self.max_margin_use_pct), "The margin use"
        )
        _percent_range(errors, "price_band_pct", _decimal(self.price_band_pct), "The price band")
        for field, label in (
            ("max_open_orders", "The maximum of open orders"),
            ("max_orders_per_minute", "The order-rate limit"),
        ):
            value = getattr(self, field)
            if isinstance(value, int) and value < 1:
                errors.add(field, f"{label} must be at least 1.")


# --- plans -------------------------------------------------------------------------------

SCALING_KEYS = {
    "every_months": "int",
    "min_net_profit_pct": "pct",
    "min_payouts": "int",
    "increase_pct_of_initial": "pct",
}
SCALING_OPTIONAL = {"profit_split_pct": "pct"}
SPLIT_RANGE = (Decimal(50), Decimal(90))


# The other step shapes payouts' scaling job applies: "double after a 10% return without a
# breach" and "cut after a drawdown" (see apps/payouts/scaling_rules.py).
OTHER_SHAPES = (
    {"after_return_pct": "pct", "multiply": "factor"},
    {"after_drawdown_pct": "pct", "cut_pct_of_initial": "pct"},
)


def _other_step_problems(where: str, step: dict, shape: dict[str, str]) -> list[str]:
    problems = []
    allowed = {**shape, **({"profit_split_pct": "pct"} if "multiply" in shape else {})}
    for key in step:
        if key not in allowed:
            problems.append(f"{where}: unknown key “{key}” (expected {', '.join(allowed)}).")
    for key, kind in shape.items():
        if key not in step:
            problems.append(f"{where}: “{key}” is missing.")
            continue
        value = step[key]
        number = _decimal(value) if isinstance(value, str) else None
        if number is None:
            problems.append(f'{where}: “{key}” must be a decimal in quotes, like "10".')
        elif kind == "factor" and not Decimal(1) < number <= Decimal(10):
            problems.append(f"{where}: “{key}” must be above 1 and at most 10.")
        elif kind == "pct" and not ZERO < number <= HUNDRED:
            problems.append(f"{where}: “{key}” must be above 0% and at most 100%.")
    return problems


def scaling_problems(steps: Any, profit_split_pct: Any) -> list[str]:
    """What is wrong with a scaling plan, in words a person can act on (empty: fine).

    A step: after `every_months` months since the previous step (or funding), with at least
    `min_net_profit_pct` % net profit on the starting balance and `min_payouts` payouts,
    the account grows by `increase_pct_of_initial` % of its starting balance and, when
    given, the profit split becomes `profit_split_pct`. The last step repeats up to the
    plan's maximum balance.
    """
    example = (
        '[{"every_months": 4, "min_net_profit_pct": "10", "min_payouts": 2, '
        '"increase_pct_of_initial": "25"}]'
    )
    if not isinstance(steps, list):
        return [f"The scaling plan is a list of steps, like {example}."]
    problems: list[str] = []
    split = _decimal(profit_split_pct)
    for n, step in enumerate(steps, start=1):
        where = f"Step {n}"
        if not isinstance(step, dict):
            problems.append(f"{where} is not an object like {example[1:-1]}.")
            continue
        other = next((shape for shape in OTHER_SHAPES if next(iter(shape)) in step), None)
        if other is not None:
            problems += _other_step_problems(where, step, other)
            continue
        allowed = {**SCALING_KEYS, **SCALING_OPTIONAL}
        for key in step:
            if key not in allowed:
                problems.append(f"{where}: unknown key “{key}” (expected {', '.join(allowed)}).")
        for key, kind in allowed.items():
            if key not in step:
                if key in SCALING_KEYS:
                    problems.append(f"{where}: “{key}” is missing.")
                continue
            value = step[key]
            if kind == "int":
                low = 1 if key == "every_months" else 0
                if type(value) is not int or value < low:
                    problems.append(f"{where}: “{key}” must be a whole number, at least {low}.")
                continue
            number = _decimal(value) if isinstance(value, str) else None
            if number is None:
                problems.append(f'{where}: “{key}” must be a decimal in quotes, like "10".')
            elif key == "profit_split_pct":
                if not SPLIT_RANGE[0] <= number <= SPLIT_RANGE[1]:
                    problems.append(f"{where}: the profit split must be between 50% and 90%.")
                elif split is not None and number < split:
                    problems.append(
                        f"{where}: the profit split ({pct(number)}%) may not fall below the "
                        f"split before it ({pct(split)}%)."
                    )
                else:
                    split = number
            elif key == "increase_pct_of_initial" and not ZERO < number <= HUNDRED:
                problems.append(f"{where}: the increase must be above 0% and at most 100%.")
            elif key == "min_net_profit_pct" and not ZERO <= number <= HUNDRED:
                problems.append(f"{where}: the net profit must be between 0% and 100%.")
    return problems


PLAN_FIELDS = (
    "code",
    "name",
    "description",
    "price",
    "currency",
    "starting_balance",
    "funded_ruleset",
    "profit_split_pct",
    "payout_frequency",
    "first_payout_days",
    "min_payout",
    "payout_requires_flat",
    "refund_fee_with_first_payout",
    "retry_discount_pct",
    "scaling_plan",
    "scaling_max_balance",
)


class Plan(Versioned):
    """What a candidate buys: the evaluation phases, the funded stage and its terms."""

    price = _money_field("price", "What the candidate pays for the challenge.")
    currency = models.CharField(
        max_length=4,
        choices=[(c, c) for c in CURRENCY_PLACES],
        default="USD",
        help_text="Of the price and the account.",
    )
    starting_balance = _money_field("starting balance")
    funded_ruleset = models.ForeignKey(
        RuleSet,
        verbose_name="funded rule set",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="funded_plans",
        help_text="A published funded rule set (required to publish).",
    )
    profit_split_pct = _pct_field(
        "trader's profit split (%)", "50 to 90; the firm keeps the rest.", default=Decimal("80")
    )
    payout_frequency = models.CharField(
        max_length=10, choices=PayoutFrequency.choices, default=PayoutFrequency.BIWEEKLY
    )
    first_payout_days = models.PositiveSmallIntegerField(
        "first payout after (days)", default=14, help_text="Days after funding."
    )
    min_payout = _money_field("minimum payout", default=Decimal("50"))
    payout_requires_flat = models.BooleanField(
        "positions must be closed for a payout", default=True
    )
    refund_fee_with_first_payout = models.BooleanField(
        "challenge fee refunded with the first payout", default=True
    )
    retry_discount_pct = _pct_field(
        "retry discount (%)", "Off the price of another try after a failed one.", default=ZERO
    )
    scaling_plan = models.JSONField(
        default=list,
        blank=True,
        help_text='Steps, e.g. [{"every_months": 4, "min_net_profit_pct": "10", '
        '"min_payouts": 2, "increase_pct_of_initial": "25", "profit_split_pct": "90"}]. '
        "The last step repeats up to the maximum balance.",
    )
    scaling_max_balance = _money_field(
        "scaling: maximum balance", "The cap scaling never passes.", null=True, blank=True
    )

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            *_version_constraints("plan"),
            models.UniqueConstraint(
                fields=["code"],
                condition=models.Q(status=Status.PUBLISHED),
                name="plan_one_published_version",
            ),
            models.CheckConstraint(
                condition=models.Q(status=Status.DRAFT) | models.Q(funded_ruleset__isnull=False),
                name="plan_published_has_funded_ruleset",
            ),
        ]

    def clean(self) -> None:
        errors = Errors()
        price, balance = _decimal(self.price), _decimal(self.starting_balance)
        if price is not None and price <= ZERO:
            errors.add("price", "The price must be above 0.")
        if balance is not None and balance <= ZERO:
            errors.add("starting_balance", "The starting balance must be above 0.")
        split = _decimal(self.profit_split_pct)
        if split is not None and not SPLIT_RANGE[0] <= split <= SPLIT_RANGE[1]:
            errors.add("profit_split_pct", "The trader's profit split must be between 50% and 90%.")
        if isinstance(self.first_payout_days, int) and self.first_payout_days > 365:
            errors.add("first_payout_days", "The first payout waits at most 365 days.")
        minimum = _decimal(self.min_payout)
        if minimum is not None and minimum < ZERO:
            errors.add("min_payout", "The minimum payout cannot be negative.")
        discount = _decimal(self.retry_discount_pct)
        if discount is not None and not ZERO <= discount <= HUNDRED:
            errors.add("retry_discount_pct", "The retry discount must be between 0% and 100%.")
        if self.scaling_plan is None:  # an emptied field in a form: no scaling
            self.scaling_plan = []
        for problem in scaling_problems(self.scaling_plan, split):
            errors.add("scaling_plan", problem)
        cap = _decimal(self.scaling_max_balance)
        if self.scaling_plan and cap is None:
            errors.add("scaling_max_balance", "A scaling plan needs a maximum balance (its cap).")
        if cap is not None and balance is not None and cap < balance:
            errors.add(
                "scaling_max_balance",
                f"The maximum balance ({pct(cap)}) is below the starting balance ({pct(balance)}).",
            )
        ruleset = self.funded_ruleset if self.funded_ruleset_id else None
        if ruleset is not None and ruleset.stage != Stage.FUNDED:
            errors.add(
                "funded_ruleset",
                f"{ruleset.label} is an evaluation rule set: choose a funded one.",
            )
        errors.raise_if_any()


class PlanPhase(models.Model):
    """Evaluation phase `number` of a plan, under one published rule set version."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="phases")
    number = models.PositiveSmallIntegerField(help_text="1, 2 or 3, in the order they are taken.")
    ruleset = models.ForeignKey(
        RuleSet, verbose_name="rule set", on_delete=models.PROTECT, related_name="phases"
    )

    class Meta:
        verbose_name = "phase"
        ordering = ["plan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="planphase_number_unique"),
            models.CheckConstraint(
                condition=models.Q(number__gte=1, number__lte=3), name="planphase_number_1_to_3"
            ),
        ]

    def __str__(self) -> str:
        return f"phase {self.number}"

    def clean(self) -> None:
        errors = Errors()
        if isinstance(self.number, int) and not 1 <= self.number <= 3:
            errors.add("number", "A plan has phases 1, 2 and 3 at most.")
        ruleset = self.ruleset if self.ruleset_id else None
        if ruleset is not None:
            if ruleset.status != Status.PUBLISHED:
                errors.add(
                    "ruleset",
                    f"{ruleset.label} is {ruleset.get_status_display().lower()}: "
                    "a phase uses a published rule set.",
                )
            elif ruleset.stage != Stage.EVALUATION:
                errors.add(
                    "ruleset",
                    f"{ruleset.label} is a funded rule set: a phase uses an evaluation one.",
                )
        errors.raise_if_any()


from apps.challenges.models_lifecycle import *  # noqa: E402, F403
