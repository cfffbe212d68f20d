"""Writes of risk limits: per-account overrides and the firm's exposure limits, each audited
with the value before and after, each needing a reason and a risk manager's permission."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import transaction

from apps.accounts.models import User
from apps.challenges.models import COIN
from apps.challenges.selectors import account_limits
from apps.core.money import quantize
from apps.core.services import audit_record
from apps.risk.gate import COUNT_LIMITS, DECIMAL_LIMITS, DIRECTIONS, LIMIT_FIELDS
from apps.risk.models import LIMIT_LABELS, Direction, FirmExposureLimit, LimitOverride
from apps.risk.selectors import firm_snapshot_clear
from apps.trading.models import TradingAccount

OVERRIDE_PERMISSION = "risk.override_limits"
FIRM_LIMIT_PERMISSION = "risk.change_firmexposurelimit"
HUNDRED = Decimal(100)
# Limits that may be lifted altogether (as a rule set may leave them empty).
NULLABLE = ("max_order_qty",)


class RiskError(Exception):
    """A request a risk manager can correct; `field` names what to correct."""

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None):
        super().__init__(message)
        self.message, self.code, self.field = message, code, field


def _require(actor: User | None, permission: str, what: str) -> None:
    if actor is None or not actor.is_active or not actor.has_perm(permission):
        raise RiskError(f"Only a risk manager may {what}.", code="permission_denied")


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise RiskError("Say why: a reason is required.", code="reason_required", field="reason")
    return reason


def _positive_decimal(field: str, value: object) -> str:
    label = LIMIT_LABELS[field]
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise RiskError(f"The {label} must be a number.", field="value") from None
    if not number.is_finite() or number <= 0:
        raise RiskError(f"The {label} must be above 0.", field="value")
    if field == "max_leverage" and number > HUNDRED:
        raise RiskError("The maximum leverage may be at most 100x.", field="value")
    if field in ("max_margin_use_pct", "price_band_pct") and number > HUNDRED:
        raise RiskError(f"The {label} may be at most 100%.", field="value")
    return f"{number.normalize():f}"


def limit_value_clean(field: str, value: object) -> object:
    """A limit's value in the rule set's limits form, or RiskError saying what is wrong."""
    if field not in LIMIT_FIELDS:
        raise RiskError(f"{field!r} is not a limit the gate applies.", field="field")
    label = LIMIT_LABELS[field]
    if value is None or (isinstance(value, str) and not value.strip()):
        if field in NULLABLE:
            return None
        if field != "allowed_instruments":
            raise RiskError(f"Enter a value for the {label}.", field="value")
    if field in DECIMAL_LIMITS:
        return _positive_decimal(field, value)
    if field in COUNT_LIMITS:
        try:
            count = int(str(value).strip())
        except ValueError:
            raise RiskError(f"The {label} must be a whole number.", field="value") from None
        if count < 0:
            raise RiskError(f"The {label} may not be negative.", field="value")
        return count
    if field == "allowed_directions":
        if value not in DIRECTIONS:
            raise RiskError(
                f"Allowed directions must be one of {', '.join(DIRECTIONS)}.", field="value"
            )
        return value
    # allowed_instruments: a list, or names separated by commas; empty means every instrument.
    names = value if isinstance(value, list | tuple) else str(value or "").split(",")
    coins = [str(name).strip() for name in names if str(name).strip()]
    bad = [c for c in coins if not COIN.fullmatch(c)]
    if bad:
        raise RiskError(f"“{bad[0]}” is not a coin name (such as BTC or kPEPE).", field="value")
    return sorted(set(coins))


def _current(account: TradingAccount, field: str) -> tuple[object, str]:
    """(value, where it comes from) of one limit before a change."""
    override = LimitOverride.objects.filter(account=account, field=field).first()
    if override is not None:
        return override.value, "override"
    limits = account_limits(account)
    if limits is None:
        return None, "none"
    return limits.get(field), "rule set"


@transaction.atomic
def limit_override_set(
    *, account: TradingAccount, field: str, value: object, reason: str, actor: User | None
) -> LimitOverride:
    """Set one of an account's limits, tighter or looser than its rule set's. The gate applies
    it from the account's next order on."""
    _require(actor, OVERRIDE_PERMISSION, "change an account's limits")
    reason = _require_reason(reason)
    cleaned = limit_value_clean(field, value)
    # One change at a time per account, so `before` is the value the change replaced.
    TradingAccount.objects.select_for_update().only("id").get(pk=account.pk)
    before, source = _current(account, field)
    override, _ = LimitOverride.objects.update_or_create(
        account=account,
        field=field,
        defaults={"value": cleaned, "reason": reason, "set_by": actor},
    )
    audit_record(
        action="risk.limit_override.set",
        subject=account,
        actor=actor,
        before={"field": field, "value": before, "from": source},
        after={"field": field, "value": cleaned, "reason": reason},
    )
    return override


@transaction.atomic
def limit_override_clear(
    *, account: TradingAccount, field: str, reason: str, actor: User | None
) -> None:
    """Remove an override: the account's rule set decides that limit again from its next
    order on."""
    _require(actor, OVERRIDE_PERMISSION, "change an account's limits")
    reason = _require_reason(reason)
    if field not in LIMIT_FIELDS:
        raise RiskError(f"{field!r} is not a limit the gate applies.", field="field")
    TradingAccount.objects.select_for_update().only("id").get(pk=account.pk)
    override = LimitOverride.objects.filter(account=account, field=field).first()
    if override is None:
        raise RiskError(
            f"This account has no override of its {LIMIT_LABELS[field]}.",
            code="no_override",
            field="field",
        )
    before = override.value
    override.delete()
    limits = account_limits(account)
    audit_record(
        action="risk.limit_override.clear",
        subject=account,
        actor=actor,
        before={"field": field, "value": before, "from": "override"},
        after={
            "field": field,
            "value": None if limits is None else limits.get(field),
            "from": "none" if limits is None else "rule set",
            "reason": reason,
        },
    )


def _firm_subject(coin: str, direction: str) -> tuple[str, str]:
    return ("risk.firmexposurelimit", f"{coin}:{direction}")


@transaction.atomic
def firm_exposure_limit_set(
    *, coin: str, direction: str, max_notional: Decimal, reason: str, actor: User | None
) -> FirmExposureLimit:
    """Cap the firm's real net notional in one coin and direction (live venues only)."""
    _require(actor, FIRM_LIMIT_PERMISSION, "change the firm's exposure limits")
    reason = _require_reason(reason)
    coin = (coin or "").strip()
    if not COIN.fullmatch(coin):
        raise RiskError(f"“{coin}” is not a coin name (such as BTC or kPEPE).", field="coin")
    if direction not in Direction.values:
        raise RiskError("The direction must be long or short.", field="direction")
    try:
        cap = Decimal(str(max_notional))
    except (InvalidOperation, ValueError):
        raise RiskError("The maximum notional must be a number.", field="max_notional") from None
    if not cap.is_finite() or cap < 0:
        raise RiskError("The maximum notional may not be negative.", field="max_notional")
    cap = quantize(cap, 2)  # as the column keeps it, so the audit shows what is stored
    existing = FirmExposureLimit.objects.select_for_update().filter(coin=coin, direction=direction)
    before = existing.values_list("max_notional", flat=True).first()
    limit, _ = FirmExposureLimit.objects.update_or_create(
        coin=coin,
        direction=direction,
        defaults={"max_notional": cap, "reason": reason, "set_by": actor},
    )
    audit_record(
        action="risk.firm_limit.set",
        subject=_firm_subject(coin, direction),
        actor=actor,
        before={"max_notional": before},
        after={"max_notional": cap, "reason": reason},
    )
    transaction.on_commit(firm_snapshot_clear)
    return limit


@transaction.atomic
def firm_exposure_limit_clear(
    *, coin: str, direction: str, reason: str, actor: User | None
) -> None:
    _require(actor, FIRM_LIMIT_PERMISSION, "change the firm's exposure limits")
    reason = _require_reason(reason)
    limit = FirmExposureLimit.objects.select_for_update().filter(coin=coin, direction=direction)
    found = limit.first()
    if found is None:
        raise RiskError(f"There is no {direction} limit on {coin}.", code="no_limit")
    found.delete()
    audit_record(
        action="risk.firm_limit.clear",
        subject=_firm_subject(coin, direction),
        actor=actor,
        before={"max_notional": found.max_notional},
        after={"max_notional": None, "reason": reason},
    )
    transaction.on_commit(firm_snapshot_clear)
