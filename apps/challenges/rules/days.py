"""The account's trading days, and the closed days' sums the objectives read.

Closed days never change, so their best P&L, sums and qualifying counts are kept as the
days close: judging an objective costs the same on day 300 as on day 1.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from .state import ZERO


class Day:
    """One trading day: from one reset (or the account's start) to the next."""

    __slots__ = ("start", "start_balance", "start_equity", "adjustments", "traded", "pnl")

    def __init__(
        self,
        start: datetime,
        start_balance: Decimal,
        start_equity: Decimal,
        adjustments: Decimal = ZERO,
        traded: bool = False,
        pnl: Decimal | None = None,
    ) -> None:
        self.start = start
        self.start_balance = start_balance
        self.start_equity = start_equity
        self.adjustments = adjustments  # payouts and deposits during the day: not P&L
        self.traded = traded
        self.pnl = pnl  # set when the day closes


class DayBook:
    """Every day begun, oldest first; the last one is open."""

    def __init__(self, days: list[Day], profitable_bar: Decimal | None) -> None:
        self.days = days
        self.recount(profitable_bar)

    @property
    def today(self) -> Day:
        return self.days[-1]

    def pnl_so_far(self, balance: Decimal) -> Decimal:
        """The open day's P&L: balance moved by anything but adjustments."""
        today = self.days[-1]
        return balance - today.start_balance - today.adjustments

    def begin(self, t: datetime, balance: Decimal, equity: Decimal) -> None:
        """Close the open day at `balance` and open the next at a reset."""
        today = self.days[-1]
        today.pnl = balance - today.start_balance - today.adjustments
        self._count(today)
        self.days.append(Day(t, balance, equity))

    def recount(self, profitable_bar: Decimal | None) -> None:
        """Sums from scratch: at start, on restore, and when a resize moves the bar."""
        self.profitable_bar = profitable_bar
        self.best: Decimal | None = None
        self.net = self.positive = ZERO
        self.traded = self.profitable = 0
        for day in self.days[:-1]:
            self._count(day)

    def _count(self, day: Day) -> None:
        pnl = day.pnl
        assert pnl is not None, "only closed days are counted"
        self.best = pnl if self.best is None else max(self.best, pnl)
        self.net += pnl
        if pnl > 0:
            self.positive += pnl
        if day.traded:
            self.traded += 1
        if self.profitable_bar is not None and pnl >= self.profitable_bar:
            self.profitable += 1

    def trading_days(self, balance: Decimal) -> int:
        """Profitable days when there is a bar (today while it holds), else days with a fill."""
        if self.profitable_bar is not None:
            return self.profitable + (self.pnl_so_far(balance) >= self.profitable_bar)
        return self.traded + self.days[-1].traded

    def best_and_denominator(self, balance: Decimal, of: str) -> tuple[Decimal, Decimal]:
        """The best day's P&L and the consistency denominator (`of`), today included."""
        today = self.pnl_so_far(balance)
        best = today if self.best is None else max(self.best, today)
        if of == "positive_days":
            return best, self.positive + max(today, ZERO)
        return best, self.net + today
