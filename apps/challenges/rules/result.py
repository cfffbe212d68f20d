"""The contract's result object, and headroom figures for screens.

Figures stay exact inside the engine; they are rounded only here, half away from zero to
two places and never `-0.00` (the same rule as `apps/core/money.quantize`, restated
because this package imports nothing outside the standard library).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal
from typing import TYPE_CHECKING, Any

from .model import HUNDRED
from .resets import format_time

if TYPE_CHECKING:
    from .engine import Engine

_CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    """Half away from zero to the cent, as a plain string, never `-0.00`."""
    # quantize needs every digit to fit the context's precision, however large the figure.
    digits = Context(prec=max(40, value.adjusted() + 4))
    rounded = value.quantize(_CENT, rounding=ROUND_HALF_UP, context=digits)
    if rounded.is_zero():
        rounded = abs(rounded)
    return f"{rounded:f}"


def _money_or_none(value: Decimal | None) -> str | None:
    return None if value is None else money(value)


def best_day_share_pct(engine: Engine) -> Decimal | None:
    """Best day's P&L over the consistency denominator, in percent; None unless positive."""
    best, denominator = engine.best_day_and_denominator()
    if denominator <= 0:
        return None
    return best * HUNDRED / denominator


def build_result(engine: Engine) -> dict[str, Any]:
    """The result object of scenario-format.md for the engine's state now.

    After a verdict the engine stops changing, so this is the state at the decision.
    """
    share = best_day_share_pct(engine)
    target = engine.profit_target_amount
    return {
        "status": engine.status,
        "reason": engine.reason,
        "decided_at": None if engine.decided_at is None else format_time(engine.decided_at),
        "balance": money(engine.balance),
        "equity": money(engine.equity),
        "daily_floor": _money_or_none(engine.daily_floor),
        "max_loss_floor": _money_or_none(engine.max_loss_floor),
        "profit_target_met": None if target is None else engine.profit_target_progress() >= target,
        "trading_days": engine.trading_days,
        "best_day_share_pct": None if share is None else money(share),
        "days": [
            {
                "start": format_time(day.start),
                "start_balance": money(day.start_balance),
                "start_equity": money(day.start_equity),
                "pnl": money(engine.day_pnl if day.pnl is None else day.pnl),
                "traded": day.traded,
            }
            for day in engine.days
        ],
    }


def headroom(engine: Engine) -> dict[str, dict[str, Any]]:
    """For each rule present: where the account stands against it, JSON-ready.

    Loss rules: `value` is equity, `threshold` the floor, `headroom` equity above the floor
    (money, and `headroom_pct` in percent of the starting balance, the unit rules are sold
    in). Objectives: how far the account is from meeting them.
    """
    rules = engine.rules
    out: dict[str, dict[str, Any]] = {}
    equity = engine.equity
    for name, floor in (("daily_loss", engine.daily_floor), ("max_loss", engine.max_loss_floor)):
        if floor is None:
            continue
        room = equity - floor
        out[name] = {
            "value": money(equity),
            "threshold": money(floor),
            "headroom": money(room),
            "headroom_pct": money(room * HUNDRED / engine.initial),
        }
    target = engine.profit_target_amount
    if target is not None:
        progress = engine.profit_target_progress()
        out["profit_target"] = {
            "value": money(progress),
            "threshold": money(target),
            "remaining": money(max(target - progress, Decimal(0))),
            "met": progress >= target,
        }
    if rules.min_trading_days is not None:
        count = rules.min_trading_days.count
        out["min_trading_days"] = {
            "value": engine.trading_days,
            "threshold": count,
            "remaining": max(count - engine.trading_days, 0),
            "met": engine.trading_days >= count,
        }
    if rules.consistency is not None:
        share = best_day_share_pct(engine)
        limit = rules.consistency.max_best_day_share_pct
        out["consistency"] = {
            "value": None if share is None else money(share),
            "threshold": money(limit),
            "met": engine.consistent(),
        }
    expires = engine.expires_at
    if expires is not None:
        out["max_duration_days"] = {
            "expires_at": format_time(expires),
            "remaining_seconds": max(int((expires - engine.t).total_seconds()), 0),
        }
    return out
