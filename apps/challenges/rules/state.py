"""The engine's small value types and its decimal context.

Kept apart from `engine.py` so the evaluator reads top to bottom as one idea.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from decimal import localcontext as _localcontext
from typing import Any

from .model import Mark

ZERO = Decimal(0)
ONE = Decimal(1)

# Exact decimal with room to spare: only an averaged entry price is ever inexact, and the
# contract asks for at least 28 significant digits. Set per call, so an ambient context
# changed elsewhere in the process can never change a verdict.
CONTEXT = Context(
    prec=40,
    rounding=ROUND_HALF_EVEN,
    Emax=MAX_EMAX,
    Emin=MIN_EMIN,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)

NEVER = datetime.max.replace(tzinfo=UTC)

ACTIVE, PASSED, FAILED, EXPIRED = "active", "passed", "failed", "expired"


def localcontext() -> Any:
    return _localcontext(CONTEXT)


@dataclass(frozen=True, slots=True)
class Step:
    """What one `apply` or `advance_to` did, for a live caller that journals rule state.

    `journal`: the event itself changed rule state (any fill, funding or adjustment; a
    mark that moved an anchor a rule uses, or that decided the verdict).
    `moments`: the day resets / expiry instants evaluated before the event (or up to the
    time given to `advance_to`); a reset always changes the anchors.
    `marks`: marks to journal now, before the moments and the event, so that a replay of
    the journal values positions exactly as the engine did at every journaled step. At
    most one mark is ever held back: a mark that moved equity but nothing a rule reads,
    until a journaled step, a reset, or a mark on another open position needs it.
    `decided`: the verdict was reached during this step.
    """

    journal: bool = False
    moments: tuple[datetime, ...] = ()
    marks: tuple[Mark, ...] = ()
    decided: bool = False

    @property
    def changed(self) -> bool:
        return self.journal or bool(self.moments)


QUIET = Step()


class Position:
    __slots__ = ("qty", "entry")

    def __init__(self, qty: Decimal, entry: Decimal) -> None:
        self.qty = qty  # signed: > 0 long, < 0 short
        self.entry = entry
