"""An account's live snapshot, in exact Decimals (DESIGN.md, "Live pushes"):

    {"type": "account.snapshot", "account": 12, "t": ISO, "state": "active",
     "balance": "…", "equity": "…", "unrealized_pnl": "…", "day_pnl": "…",
     "floors": {"daily": "…" | null, "max_loss": "…" | null},
     "headroom": {"daily_loss": {"value", "threshold", "headroom", "headroom_pct"},
                  "max_loss": {…}, "profit_target": {…}, …},
     "positions": [{"coin", "size", "entry_price", "mark", "notional", "unrealized_pnl"}],
     "verdict": null | {"status": "failed", "reason": "max_loss", "decided_at": ISO}}

Money is rounded to the account currency's places by core.money (half away from zero), sizes
and prices are exact. Equity is valued at the frame's marks; floors, objectives and the day's
start are the rules engine's (its checkpoint), so `headroom` is the rules engine's own headroom
with equity moved to the frame. `day_pnl` is equity against the day's start equity, less the
day's adjustments (payouts, deposits): P&L today, marked to market.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from apps.core.money import format_money
from apps.risk.engine.accounts import Held
from apps.risk.push import SNAPSHOT_TYPE

HUNDRED = Decimal(100)


def _plain(value: Decimal) -> str:
    # normalize() drops the database's trailing zeros; f-format never uses an exponent.
    return f"{value.normalize():f}" if value else "0"


def verdict_of(status: str, reason: str | None, decided_at: datetime | None) -> dict | None:
    if status == "active":
        return None
    return {
        "status": status,
        "reason": reason or None,
        "decided_at": None if decided_at is None else decided_at.isoformat(),
    }


def account_snapshot(held: Held, marks: Mapping[str, Decimal], t: datetime) -> dict[str, Any]:
    engine = held.engine
    currency = held.currency

    def money(value: Decimal) -> str:
        return format_money(value, currency)

    upnl = Decimal(0)
    positions = []
    for coin in sorted(held.positions):
        size, entry = held.positions[coin]
        if not size:
            continue
        mark = marks.get(coin, entry)
        pnl = size * (mark - entry)
        upnl += pnl
        positions.append(
            {
                "coin": coin,
                "size": _plain(size),
                "entry_price": _plain(entry),
                "mark": _plain(mark),
                "notional": money(abs(size) * mark),
                "unrealized_pnl": money(pnl),
            }
        )
    equity = held.balance + upnl
    today = engine.days[-1]
    headroom = _headroom(held, equity, money)
    verdict = held.verdict or verdict_of(engine.status, engine.reason, engine.decided_at)
    return {
        "type": SNAPSHOT_TYPE,
        "account": held.account,
        "t": t.isoformat(),
        "state": held.state,
        "balance": money(held.balance),
        "equity": money(equity),
        "unrealized_pnl": money(upnl),
        "day_pnl": money(equity - today.start_equity - today.adjustments),
        "floors": {
            "daily": None if engine.daily_floor is None else money(engine.daily_floor),
            "max_loss": None if engine.max_loss_floor is None else money(engine.max_loss_floor),
        },
        "headroom": headroom,
        "positions": positions,
        "verdict": verdict,
    }


def _headroom(held: Held, equity: Decimal, money) -> dict[str, Any]:
    engine = held.engine
    out = engine.headroom()  # objectives and expiry as the rules engine states them
    initial = engine.initial
    for name, floor in (("daily_loss", engine.daily_floor), ("max_loss", engine.max_loss_floor)):
        if floor is None:
            continue
        room = equity - floor
        out[name] = {
            "value": money(equity),
            "threshold": money(floor),
            "headroom": money(room),
            "headroom_pct": money(room * HUNDRED / initial) if initial else None,
        }
    target = engine.rules.profit_target
    amount = engine.profit_target_amount
    if target is not None and amount is not None and target.basis == "equity":
        progress = equity - initial
        out["profit_target"] = {
            "value": money(progress),
            "threshold": money(amount),
            "remaining": money(max(amount - progress, Decimal(0))),
            "met": progress >= amount,
        }
    return out
