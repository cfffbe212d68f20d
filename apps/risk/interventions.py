"""A risk manager's interventions on one account: tighten its limits, close positions, and
move its trading state (REDUCING, SUSPENDED, HALTED, or lift a suspension back to ACTIVE).

Each needs a reason and the intervention permission, is audited, and holds at the gate from the
account's next order on: the gate reads the state and the overrides on every order, under the
same row lock `account_set_state` takes. Lifting a HALT is not here: that is a four-eyes
override (apps/risk/overrides.py).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from django.db import transaction

from apps.accounts.models import User
from apps.core.services import audit_record
from apps.risk.services import RiskError, _require, _require_reason, limit_override_set
from apps.trading import market_view
from apps.trading.models import Order, Position, TradingAccount, TradingState
from apps.trading.registry import OrderIntent
from apps.trading.services import TradingError, account_set_state, order_submit

INTERVENE_PERMISSION = "risk.intervene_account"
# The states a risk manager sets by hand, and the one they lift a suspension to.
SETTABLE = (TradingState.REDUCING, TradingState.SUSPENDED, TradingState.HALTED)


@transaction.atomic
def account_state_intervene(
    *, account: TradingAccount, state: str, reason: str, actor: User | None
) -> TradingAccount:
    """Set REDUCING, SUSPENDED or HALTED, or lift REDUCING/SUSPENDED back to ACTIVE."""
    _require(actor, INTERVENE_PERMISSION, "change an account's trading state")
    reason = _require_reason(reason)
    if state not in (*SETTABLE, TradingState.ACTIVE):
        raise RiskError(f"“{state}” is not a trading state.", field="state")
    current = TradingAccount.objects.select_for_update().get(pk=account.pk)
    if current.state == state:
        raise RiskError(
            f"This account is {current.get_state_display().lower()} already.", code="unchanged"
        )
    if current.state == TradingState.HALTED:
        raise RiskError(
            "A halted account is reinstated only through an approved override (four eyes).",
            code="halted_needs_override",
            field="state",
        )
    try:
        updated = account_set_state(account=current, state=state, reason=reason, actor=actor)
    except TradingError as exc:
        raise RiskError(exc.message, code=exc.code, field=exc.field) from None
    audit_record(
        action="risk.intervention.state",
        subject=updated,
        actor=actor,
        before={"state": current.state},
        after={"state": state, "reason": reason},
    )
    return updated


def account_limit_reduce(
    *, account: TradingAccount, field: str, value: object, reason: str, actor: User | None
):
    """Tighten one of the account's limits (an override the gate reads on every order)."""
    _require(actor, INTERVENE_PERMISSION, "change an account's limits")
    return limit_override_set(account=account, field=field, value=value, reason=reason, actor=actor)


def _on_lot_grid(coin: str, size: Decimal) -> Decimal:
    """Round a part of a position down to the instrument's lot size (a whole one is on it)."""
    found = market_view.instrument(coin)
    if found is None:
        return size
    return size.quantize(Decimal(1).scaleb(-found.sz_decimals), rounding=ROUND_DOWN)


@transaction.atomic
def account_positions_close(
    *,
    account: TradingAccount,
    coins: list[str] | None,
    reason: str,
    actor: User | None,
    key: str,
    fraction: Decimal = Decimal(1),
) -> list:
    """Close positions (all of them when `coins` is None, or `fraction` of each) with
    reduce-only market orders of origin risk_manager, which pass a SUSPENDED or HALTED account.
    `key` is the form's idempotency key: a repeated submission places no second order."""
    _require(actor, INTERVENE_PERMISSION, "close an account's positions")
    reason = _require_reason(reason)
    repeated = list(
        Order.objects.filter(account=account, idempotency_key__startswith=f"risk-close:{key}:")
    )
    if repeated:
        return repeated  # the same form sent twice: the first answer, no second effect
    if not (Decimal(0) < fraction <= Decimal(1)):
        raise RiskError("Close between 0 % (excluded) and 100 % of a position.", field="fraction")
    positions = Position.objects.filter(account=account).exclude(size=0).order_by("coin")
    if coins is not None:
        positions = positions.filter(coin__in=coins)
    positions = list(positions)
    if not positions:
        raise RiskError("This account has no open position to close.", code="no_position")
    orders = []
    for position in positions:
        intent = OrderIntent(
            coin=position.coin,
            side="sell" if position.size > 0 else "buy",
            kind="market",
            size=_on_lot_grid(position.coin, abs(position.size) * fraction),
            reduce_only=True,
        )
        try:
            orders.append(
                order_submit(
                    account=account,
                    intent=intent,
                    origin="risk_manager",
                    idempotency_key=f"risk-close:{key}:{position.coin}",
                    actor=actor,
                )
            )
        except TradingError as exc:
            raise RiskError(f"{position.coin}: {exc.message}", code=exc.code) from None
    audit_record(
        action="risk.intervention.close",
        subject=account,
        actor=actor,
        after={
            "coins": [p.coin for p in positions],
            "fraction": fraction,
            "orders": [o.pk for o in orders],
            "reason": reason,
        },
    )
    return orders
