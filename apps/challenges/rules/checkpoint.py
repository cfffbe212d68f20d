"""An engine's state as plain JSON, so a restarted risk engine resumes exactly.

Decimals are written as exact strings (never rounded), times as ISO 8601 in UTC with
their microseconds. Derived figures (floors, closed-day sums) are not stored: they are
recomputed from what is, by the same code that maintains them live. Unrealised P&L is
stored because it is kept incrementally and an averaged entry price can make a
recomputation differ in the last digit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .days import Day, DayBook
from .engine import ANCHOR_ATTRS
from .model import Mark
from .resets import parse_stored_time
from .state import Position

if TYPE_CHECKING:
    from .engine import Engine

VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint this engine version cannot resume from."""


def dump(engine: Engine) -> dict[str, Any]:
    mark = engine._unjournaled
    return {
        "version": VERSION,
        "t": engine._t.isoformat(),
        "status": engine.status,
        "reason": engine.reason,
        "decided_at": None if engine.decided_at is None else engine.decided_at.isoformat(),
        "initial": str(engine._initial),
        "balance": str(engine._balance),
        "unrealised": str(engine._upnl),
        "positions": {s: [str(p.qty), str(p.entry)] for s, p in engine._positions.items()},
        "marks": {s: str(price) for s, price in engine._marks.items()},
        "anchors": {name: str(getattr(engine, attr)) for name, attr in ANCHOR_ATTRS.items()},
        "next_reset": engine._next_reset.isoformat(),
        "totals": {
            "realised": str(engine.realised),
            "fees": str(engine.fees),
            "funding": str(engine.funding),
            "adjustments": str(engine.adjustments),
        },
        "days": [
            [
                day.start.isoformat(),
                str(day.start_balance),
                str(day.start_equity),
                str(day.adjustments),
                day.traded,
                None if day.pnl is None else str(day.pnl),
            ]
            for day in engine._book.days
        ],
        "unjournaled_mark": None
        if mark is None
        else [mark.t.isoformat(), mark.symbol, str(mark.price)],
    }


def load(engine: Engine, data: dict[str, Any]) -> None:
    """Overwrite a fresh engine's state with a checkpoint's."""
    if data.get("version") != VERSION:
        raise CheckpointError(f"checkpoint version {data.get('version')!r} is not {VERSION}")
    engine._t = parse_stored_time(data["t"])
    engine.status = data["status"]
    engine.reason = data["reason"]
    decided = data["decided_at"]
    engine.decided_at = None if decided is None else parse_stored_time(decided)
    engine._initial = Decimal(data["initial"])
    engine._balance = Decimal(data["balance"])
    engine._upnl = Decimal(data["unrealised"])
    engine._positions = {
        s: Position(Decimal(q), Decimal(e)) for s, (q, e) in data["positions"].items()
    }
    engine._marks = {s: Decimal(p) for s, p in data["marks"].items()}
    for name, attr in ANCHOR_ATTRS.items():
        setattr(engine, attr, Decimal(data["anchors"][name]))
    engine._next_reset = parse_stored_time(data["next_reset"])
    totals = data["totals"]
    engine.realised = Decimal(totals["realised"])
    engine.fees = Decimal(totals["fees"])
    engine.funding = Decimal(totals["funding"])
    engine.adjustments = Decimal(totals["adjustments"])
    days = [
        Day(
            parse_stored_time(start),
            Decimal(balance),
            Decimal(equity),
            Decimal(adjustments),
            bool(traded),
            None if pnl is None else Decimal(pnl),
        )
        for start, balance, equity, adjustments, traded, pnl in data["days"]
    ]
    mark = data["unjournaled_mark"]
    engine._unjournaled = (
        None if mark is None else Mark(parse_stored_time(mark[0]), mark[1], Decimal(mark[2]))
    )
    if not days or days[0].start != engine.account.start:
        raise CheckpointError("checkpoint's first day does not start at account.start")
    engine._book = DayBook(days, engine._profitable_bar(engine._initial))
    engine._refresh_amounts()
