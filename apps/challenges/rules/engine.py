"""The incremental evaluator: one account's rule state, advanced one event at a time.

The same code serves the live risk engine (`apply` per event, `advance_to` from sweeps,
`checkpoint`/`restore` across restarts) and `replay_scenario`, so a live verdict and its
replay never differ. Per-event work is O(1) in the history: unrealised P&L, peaks, floors
and the closed days' sums are kept up to date as they change.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .days import Day, DayBook
from .model import (
    HUNDRED,
    Account,
    Adjustment,
    End,
    Event,
    Fill,
    Funding,
    LossRule,
    Mark,
    Rules,
    Scenario,
)
from .resets import next_reset
from .state import (
    ACTIVE,
    EXPIRED,
    FAILED,
    NEVER,
    ONE,
    PASSED,
    QUIET,
    ZERO,
    Position,
    Step,
    localcontext,
)


class Engine:
    """One account under one rule set. Feed it events in time order."""

    def __init__(self, rules: Rules, account: Account) -> None:
        self.rules = rules
        self.account = account
        start, s = account.start, account.starting_balance
        self._initial = s  # moves with a resize
        self._balance = s
        self._upnl = ZERO
        self._positions: dict[str, Position] = {}
        self._marks: dict[str, Decimal] = {}
        # Anchor values; `initial` is self._initial and `day_start_max` is derived.
        self._dsb = self._dse = self._ipe = self._peb = self._pee = self._pb = self._pe = s
        self._t = start
        self._next_reset = next_reset(rules.day_reset, start)
        duration = rules.max_duration_days
        self._expiry = start + timedelta(days=duration) if duration else NEVER
        self.status = ACTIVE
        self.reason: str | None = None
        self.decided_at: datetime | None = None
        self.realised = self.fees = self.funding = self.adjustments = ZERO
        # The one mark read since the last journaled step that a replay of the journal
        # would need (see `Step.marks`), and one to hand over with the current step.
        self._unjournaled: Mark | None = None
        self._handover: Mark | None = None
        self._configure()
        with localcontext():
            self._book = DayBook([Day(start, s, s)], self._profitable_bar(s))
            self._refresh_amounts()

    def _configure(self) -> None:
        """Facts about the rule set read on every event, worked out once."""
        rules = self.rules
        used = {r.anchor for r in (rules.daily_loss, rules.max_loss) if r is not None}
        self._uses_intraday_peak = "intraday_peak_equity" in used
        self._uses_peak_equity = "peak_equity" in used
        self._uses_peak_balance = "peak_balance" in used
        self._inclusive = rules.breach_when == "at_or_below"
        self._has_objectives = rules.has_objectives
        self._handlers = {
            Mark: self._on_mark,
            Fill: self._on_fill,
            Funding: self._on_funding,
            Adjustment: self._on_adjustment,
            End: self._on_end,
        }

    # --- public: feeding -----------------------------------------------------------------

    def apply(self, event: Event) -> Step:
        """Evaluate every reset and the expiry up to the event's time, then the event."""
        with localcontext():
            return self._apply(event)

    def advance_to(self, t: datetime) -> Step:
        """Evaluate every reset and the expiry up to `t` (inclusive) with no event.

        Time then stands at `t`: a later event stamped before it is refused. An earlier
        `t` than the engine's time does nothing.
        """
        if t <= self._t:
            return QUIET
        with localcontext():
            active = self.status == ACTIVE
            step = self._moments_upto(t) if active and t >= self._next_moment else QUIET
            self._t = t
            return step

    def next_moment(self) -> datetime | None:
        """The next reset or expiry instant, or None once the verdict is decided."""
        return None if self.status != ACTIVE else self._next_moment

    @property
    def _next_moment(self) -> datetime:
        return min(self._next_reset, self._expiry)

    def _apply(self, event: Event) -> Step:
        t = event.t
        if t < self._t:
            raise ValueError(
                f"event at {t.isoformat()} is before the engine's time {self._t.isoformat()}"
            )
        if self.status != ACTIVE:
            self._t = t
            return QUIET
        moments = self._moments_upto(t) if t >= self._next_reset or t >= self._expiry else QUIET
        self._t = t
        if self.status != ACTIVE:
            return moments
        journal = self._handlers[type(event)](event)
        decided = self._evaluate(t)
        if decided and not journal:
            journal = True
            if self._unjournaled is event:
                self._unjournaled = None  # journaled as the step's own event
        handover = self._handover
        if handover is None:
            if not (journal or moments.moments):
                return QUIET
            marks = moments.marks
        else:
            self._handover = None
            marks = (*moments.marks, handover)
        if journal:
            marks += self.flush_marks()
        return Step(journal, moments.moments, marks, decided)

    def flush_marks(self) -> tuple[Mark, ...]:
        """The mark read but not yet handed over in a step, if any (then it is handed over).

        For a caller about to checkpoint or export its journal: with it journaled, a replay
        of the journal values positions as the engine does now.
        """
        mark = self._unjournaled
        if mark is None:
            return ()
        self._unjournaled = None
        return (mark,)

    # --- moments ---------------------------------------------------------------------------

    def _moments_upto(self, t: datetime) -> Step:
        instants: list[datetime] = []
        marks = self.flush_marks()  # the mark in force at the first reset
        decided = False
        while self.status == ACTIVE:
            moment = self._next_moment
            if moment > t:
                break
            instants.append(moment)
            if moment == self._next_reset:
                self._reset(moment)
                self._next_reset = next_reset(self.rules.day_reset, moment)
            decided = self._evaluate(moment, expiry=moment == self._expiry)
        return Step(False, tuple(instants), marks, decided)

    def _reset(self, t: datetime) -> None:
        balance, equity = self._balance, self._balance + self._upnl
        self._book.begin(t, balance, equity)
        self._dsb, self._dse, self._ipe = balance, equity, equity
        self._peb = max(self._peb, balance)
        self._pee = max(self._pee, equity)
        self._refresh_floors()

    def _profitable_bar(self, initial: Decimal) -> Decimal | None:
        mtd = self.rules.min_trading_days
        if mtd is None or mtd.min_pct_of_initial is None:
            return None
        return initial * mtd.min_pct_of_initial / HUNDRED

    # --- events ----------------------------------------------------------------------------

    def _on_mark(self, event: Mark) -> bool:
        symbol, price = event.symbol, event.price
        position = self._positions.get(symbol)
        old = self._marks.get(symbol)
        self._marks[symbol] = price
        if position is None or old == price:
            return False  # equity did not move: nothing a rule reads changed
        loose = self._unjournaled
        if loose is not None and loose.symbol != symbol:
            # Replayed from a journal, two symbols' unjournaled marks would be applied one
            # at a time, through a mix of prices this account never had (and could show a
            # peak it never reached): the older one is handed over now.
            self._handover = loose
        self._unjournaled = event
        self._upnl += position.qty * (price - old)
        if self._raise_equity_peaks():
            self._refresh_floors()
            self._unjournaled = None  # journaled as the step's own event
            return True
        return False

    def _on_fill(self, event: Fill) -> bool:
        symbol, price = event.symbol, event.price
        qty = event.qty if event.side == "buy" else -event.qty
        position = self._positions.get(symbol)
        realised = ZERO
        if position is None:
            self._positions[symbol] = Position(qty, price)
        else:
            held, entry = position.qty, position.entry
            self._upnl -= held * (self._marks[symbol] - entry)
            after = held + qty
            if (held > 0) == (qty > 0):
                entry = (held * entry + qty * price) / after
            else:
                closed = min(abs(qty), abs(held))
                realised = closed * (price - entry) if held > 0 else closed * (entry - price)
                if after and (after > 0) != (held > 0):
                    entry = price  # flipped: the rest opens at the fill price
            if after:
                position.qty, position.entry = after, entry
                self._upnl += after * (price - entry)
            else:
                del self._positions[symbol]
        self._marks[symbol] = price
        if self._unjournaled is not None and self._unjournaled.symbol == symbol:
            self._unjournaled = None  # the fill sets this mark itself
        self.realised += realised
        self.fees += event.fee
        self._book.today.traded = True
        self._move_balance(realised - event.fee)
        return True

    def _on_funding(self, event: Funding) -> bool:
        self.funding += event.amount
        self._move_balance(event.amount)
        return True

    def _on_adjustment(self, event: Adjustment) -> bool:
        amount = event.amount
        self.adjustments += amount
        self._book.today.adjustments += amount
        if event.rebase != "none":
            # Every anchor but `initial` moves with the money, so a payout keeps each floor
            # at its distance from equity instead of breaching a trailing floor.
            self._dsb += amount
            self._dse += amount
            self._ipe += amount
            self._peb += amount
            self._pee += amount
            self._pb += amount
            self._pe += amount
        if event.rebase == "resize":
            self._initial += amount
            self._book.recount(self._profitable_bar(self._initial))
            self._refresh_amounts()
        self._move_balance(amount)
        self._refresh_floors()
        return True

    def _on_end(self, event: End) -> bool:
        return False

    def _move_balance(self, delta: Decimal) -> None:
        self._balance += delta
        moved = False
        if self._balance > self._pb:
            self._pb = self._balance
            moved = self._uses_peak_balance
        if self._raise_equity_peaks() or moved:
            self._refresh_floors()

    def _raise_equity_peaks(self) -> bool:
        """Raise the equity peaks to equity; True when one that a rule uses moved."""
        equity = self._balance + self._upnl
        moved = False
        if equity > self._ipe:
            self._ipe = equity
            moved = self._uses_intraday_peak
        if equity > self._pe:
            self._pe = equity
            moved = moved or self._uses_peak_equity
        return moved

    # --- floors and verdicts ---------------------------------------------------------------

    def _refresh_amounts(self) -> None:
        """Figures in percent of the starting balance: at start and after a resize."""
        target = self.rules.profit_target
        self._target = None if target is None else target.amount.money(self._initial)
        self._refresh_floors()

    def _refresh_floors(self) -> None:
        rules = self.rules
        self._daily_floor = None if rules.daily_loss is None else self._floor(rules.daily_loss)
        self._max_floor = None if rules.max_loss is None else self._floor(rules.max_loss)

    def anchor_value(self, anchor: str) -> Decimal:
        if anchor == "initial":
            return self._initial
        if anchor == "day_start_max":
            return max(self._dsb, self._dse)
        return getattr(self, ANCHOR_ATTRS[anchor])

    def _floor(self, rule: LossRule) -> Decimal:
        anchor = self.anchor_value(rule.anchor)
        amount = rule.amount
        if amount.kind == "pct_of_anchor":
            floor = anchor * (ONE - amount.value / HUNDRED)
        else:
            floor = anchor - amount.money(self._initial)
        if rule.lock_at is not None:
            floor = min(floor, rule.lock_at.money(self._initial))
        return floor

    def _breached(self, equity: Decimal, floor: Decimal | None) -> bool:
        if floor is None:
            return False
        return equity <= floor if self._inclusive else equity < floor

    def _evaluate(self, t: datetime, expiry: bool = False) -> bool:
        """One evaluation moment, in the contract's order. True when it decided."""
        equity = self._balance + self._upnl
        if self._breached(equity, self._max_floor):
            return self._decide(t, FAILED, "max_loss")
        if self._breached(equity, self._daily_floor):
            return self._decide(t, FAILED, "daily_loss")
        if expiry:
            return self._decide(t, EXPIRED, "max_duration")
        if self._has_objectives and self._objectives_met():
            return self._decide(t, PASSED, None)
        return False

    def _decide(self, t: datetime, status: str, reason: str | None) -> bool:
        self.status, self.reason, self.decided_at = status, reason, t
        return True

    def _objectives_met(self) -> bool:
        rules = self.rules
        if self._target is not None and self.profit_target_progress() < self._target:
            return False
        mtd = rules.min_trading_days
        if mtd is not None and self._book.trading_days(self._balance) < mtd.count:
            return False
        return rules.consistency is None or self.consistent()

    def profit_target_progress(self) -> Decimal:
        target = self.rules.profit_target
        basis = self._balance + self._upnl if target and target.basis == "equity" else self._balance
        return basis - self._initial

    def consistent(self) -> bool:
        rule = self.rules.consistency
        assert rule is not None
        best, denominator = self.best_day_and_denominator()
        return denominator > 0 and best * HUNDRED <= rule.max_best_day_share_pct * denominator

    def best_day_and_denominator(self) -> tuple[Decimal, Decimal]:
        """The best day's P&L and the consistency denominator, the current day included."""
        rule = self.rules.consistency
        return self._book.best_and_denominator(
            self._balance, "net_profit" if rule is None else rule.of
        )

    # --- public: reading -------------------------------------------------------------------

    @property
    def t(self) -> datetime:
        """The engine's time: the last event or `advance_to` instant."""
        return self._t

    @property
    def initial(self) -> Decimal:
        return self._initial

    @property
    def balance(self) -> Decimal:
        return self._balance

    @property
    def equity(self) -> Decimal:
        return self._balance + self._upnl

    @property
    def unrealised(self) -> Decimal:
        return self._upnl

    @property
    def expires_at(self) -> datetime | None:
        return None if self._expiry is NEVER else self._expiry

    @property
    def daily_floor(self) -> Decimal | None:
        return self._daily_floor

    @property
    def max_loss_floor(self) -> Decimal | None:
        return self._max_floor

    @property
    def profit_target_amount(self) -> Decimal | None:
        return self._target

    @property
    def day_pnl(self) -> Decimal:
        return self._book.pnl_so_far(self._balance)

    @property
    def days(self) -> tuple[Day, ...]:
        return tuple(self._book.days)

    @property
    def trading_days(self) -> int:
        """Days that qualify under min_trading_days (days with a fill when it is absent)."""
        return self._book.trading_days(self._balance)

    @property
    def positions(self) -> dict[str, tuple[Decimal, Decimal]]:
        """symbol -> (signed qty, entry price)."""
        return {s: (p.qty, p.entry) for s, p in self._positions.items()}

    @property
    def marks(self) -> dict[str, Decimal]:
        return dict(self._marks)

    def anchors(self) -> dict[str, Decimal]:
        return {name: self.anchor_value(name) for name in _ALL_ANCHORS}

    def result(self) -> dict[str, Any]:
        from .result import build_result

        with localcontext():
            return build_result(self)

    def headroom(self) -> dict[str, dict[str, Any]]:
        from .result import headroom

        with localcontext():
            return headroom(self)

    def checkpoint(self) -> dict[str, Any]:
        from .checkpoint import dump

        return dump(self)

    @classmethod
    def restore(cls, rules: Rules, account: Account, checkpoint: dict[str, Any]) -> Engine:
        from .checkpoint import load

        engine = cls(rules, account)
        with localcontext():
            load(engine, checkpoint)
        return engine


ANCHOR_ATTRS = {
    "day_start_balance": "_dsb",
    "day_start_equity": "_dse",
    "intraday_peak_equity": "_ipe",
    "peak_eod_balance": "_peb",
    "peak_eod_equity": "_pee",
    "peak_balance": "_pb",
    "peak_equity": "_pe",
}
_ALL_ANCHORS = ("initial", "day_start_max", *ANCHOR_ATTRS)


def replay(scenario: Scenario) -> dict[str, Any]:
    """The contract's result for a whole scenario: every event applied in order."""
    with localcontext():
        engine = Engine(scenario.rules, scenario.account)
        apply = engine._apply
        for event in scenario.events:
            apply(event)
        return engine.result()
