"""The shard's accounts as arrays: one vectorised revaluation and floor screen per frame.

Pure (numpy and the standard library, no Django), so the benchmark and the property tests use
it as the engine does. Money enters as `Decimal` and is held here as float64 only to *screen*:
the float figures decide which accounts the rules engine (Decimal, exact) must look at, never a
verdict.

Layout. Positions are a matrix of accounts × slots (signed size, entry price, instrument index
per slot), not accounts × instruments: an account holds a handful of the ~200 instruments, and a
dense 100,000 × 200 matrix is 160 MB per array whose product with the marks is bound by memory
bandwidth (~20 ms), while the slotted one is 4 columns wide (under 1 ms). Unrealised P&L is
`Σ size × mark − Σ size × entry`, with the second sum kept per account (it changes only with a
fill), so a frame costs one gather of marks and one row-wise dot product.

The screen. With exact equity E, float equity E_f and a float error |E − E_f| ≤ ε, an account is
flagged when any of these holds:

- near a floor: E_f ≤ F + band, F the higher of the daily and max-loss floors, band =
  REL_BAND × (|F| + gross notional) + ABS_BAND. ε is below 1e-15 × (|balance| + gross notional),
  a million times smaller than the band, so an account whose exact equity is at or below a floor
  is always flagged (tests/risk_engine prove it with hypothesis against Decimal arithmetic);
- a new peak: E_f > the lowest equity peak a floor trails (intraday peak equity, peak equity).
  Such a peak raises a floor, so the rules engine must see the mark that made it. A peak missed
  by the float error (≤ ε) lifts a floor by at most ε, which the near-floor band absorbs;
- an equity profit target within reach: E_f ≥ target − band (a pass can be decided on a mark);
- a moment due: the rules engine's next day reset or expiry is at or before now.

Anything else (a fill, funding, an adjustment) reaches the engine as a trading event, not here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np

REL_BAND = 1e-6
ABS_BAND = 0.01
# "No floor": a finite sentinel rather than -inf, so `floor + band` never becomes inf - inf.
# Its band (1e12) is far smaller than it, so no equity is ever flagged against it.
NO_FLOOR = -1e18
INF = math.inf


@dataclass(frozen=True)
class Row:
    """What the book holds of one account, in exact values (converted to float once, here)."""

    account: int  # the trading account's id
    balance: Decimal
    positions: Mapping[str, tuple[Decimal, Decimal]]  # coin -> (signed size, entry price)
    daily_floor: Decimal | None = None
    max_loss_floor: Decimal | None = None
    # Equity above this moves a trailing anchor (and so a floor); None: no floor trails equity.
    peak_watch: Decimal | None = None
    # Equity at or above this may meet an equity-based profit target; None: no such target.
    target_watch: Decimal | None = None
    next_moment: datetime | None = None  # the rules engine's next reset or expiry
    initial: Decimal = Decimal(0)  # headroom is shown in percent of it
    day_base: Decimal = Decimal(0)  # today's start equity + adjustments: equity - it = day P&L
    real: bool = False  # on a live venue (the firm's capital), else paper (simulated)


@dataclass(frozen=True)
class Revaluation:
    """Per active row (the book's row order): unrealised P&L, equity, gross notional."""

    upnl: np.ndarray
    equity: np.ndarray
    gross: np.ndarray


@dataclass(frozen=True)
class Screen:
    """Boolean masks per row; `flagged` is their union."""

    near_floor: np.ndarray
    new_peak: np.ndarray
    target: np.ndarray
    moment_due: np.ndarray
    flagged: np.ndarray = field(repr=False)


def _f(value: Decimal | None, missing: float) -> float:
    return missing if value is None else float(value)


def _epoch(at: datetime | None) -> float:
    return INF if at is None else at.timestamp()


class Book:
    """Accounts × slots arrays, grown by doubling; rows are kept dense (a removed row is filled
    by the last one), so every vector operation runs over `[:n]` without masks."""

    def __init__(self, coins: Iterable[str] = (), *, capacity: int = 256, slots: int = 4) -> None:
        self.coins: list[str] = []
        self.coin_index: dict[str, int] = {}
        self.marks = np.full(0, np.nan)
        for coin in coins:
            self._coin(coin)
        self.n = 0
        self.row_of: dict[int, int] = {}
        self._alloc(max(capacity, 1), max(slots, 1))

    # --- storage ---------------------------------------------------------------------------

    def _alloc(self, capacity: int, slots: int) -> None:
        old = self.__dict__.get("ids")
        n = self.n
        self.capacity, self.slots = capacity, slots
        new = {
            "ids": np.zeros(capacity, np.int64),
            "balance": np.zeros(capacity),
            "cost": np.zeros(capacity),  # Σ size × entry
            "abs_cost": np.zeros(capacity),  # Σ |size| × |entry|
            "floor": np.full(capacity, NO_FLOOR),  # the higher of the two floors
            "daily": np.full(capacity, np.nan),
            "max_loss": np.full(capacity, np.nan),
            "peak_watch": np.full(capacity, INF),
            "target_watch": np.full(capacity, INF),
            "next_moment": np.full(capacity, INF),
            "initial": np.zeros(capacity),
            "day_base": np.zeros(capacity),
            "real": np.zeros(capacity, bool),
            "qty": np.zeros((capacity, slots)),
            "abs_qty": np.zeros((capacity, slots)),
            "entry": np.zeros((capacity, slots)),
            "coin": np.zeros((capacity, slots), np.intp),
        }
        if old is not None:
            for name, array in new.items():
                current = getattr(self, name)
                if array.ndim == 2:
                    array[:n, : current.shape[1]] = current[:n]
                else:
                    array[:n] = current[:n]
        for name, array in new.items():
            setattr(self, name, array)
        # Work buffers: a frame allocates nothing (fresh 100,000-row temporaries cost more in
        # page faults than the arithmetic).
        self._slot_marks = np.zeros((capacity, slots))
        self._upnl = np.zeros(capacity)
        self._equity = np.zeros(capacity)
        self._gross = np.zeros(capacity)
        self._band = np.zeros(capacity)
        self._work = np.zeros(capacity)
        self._masks = np.zeros((5, capacity), bool)

    def _coin(self, coin: str) -> int:
        index = self.coin_index.get(coin)
        if index is None:
            index = len(self.coins)
            self.coins.append(coin)
            self.coin_index[coin] = index
            self.marks = np.append(self.marks, np.nan)
        return index

    def __len__(self) -> int:
        return self.n

    def __contains__(self, account: int) -> bool:
        return account in self.row_of

    @property
    def accounts(self) -> np.ndarray:
        return self.ids[: self.n]

    # --- writing ---------------------------------------------------------------------------

    def set_marks(self, marks: Mapping[str, Decimal | float]) -> None:
        """Update the marks vector with a frame's (coins not in it keep their last mark)."""
        for coin, price in marks.items():
            index = self._coin(coin)  # first: a new coin replaces the marks vector
            self.marks[index] = float(price)

    def upsert(self, row: Row) -> None:
        open_positions = [(c, q, e) for c, (q, e) in row.positions.items() if q]
        if len(open_positions) > self.slots:
            self._alloc(self.capacity, max(len(open_positions), self.slots * 2))
        i = self.row_of.get(row.account)
        if i is None:
            if self.n == self.capacity:
                self._alloc(self.capacity * 2, self.slots)
            i = self.n
            self.n += 1
            self.row_of[row.account] = i
            self.ids[i] = row.account
        self.balance[i] = float(row.balance)
        daily = _f(row.daily_floor, np.nan)
        max_loss = _f(row.max_loss_floor, np.nan)
        self.daily[i], self.max_loss[i] = daily, max_loss
        self.floor[i] = max(
            NO_FLOOR if math.isnan(daily) else daily, NO_FLOOR if math.isnan(max_loss) else max_loss
        )
        self.peak_watch[i] = _f(row.peak_watch, INF)
        self.target_watch[i] = _f(row.target_watch, INF)
        self.next_moment[i] = _epoch(row.next_moment)
        self.initial[i] = float(row.initial)
        self.day_base[i] = float(row.day_base)
        self.real[i] = row.real
        self.qty[i] = 0.0
        self.abs_qty[i] = 0.0
        self.entry[i] = 0.0
        self.coin[i] = 0
        cost = abs_cost = 0.0
        for slot, (coin, size, entry) in enumerate(open_positions):
            q, e = float(size), float(entry)
            self.qty[i, slot], self.abs_qty[i, slot], self.entry[i, slot] = q, abs(q), e
            self.coin[i, slot] = self._coin(coin)
            cost += q * e
            abs_cost += abs(q) * abs(e)
        self.cost[i], self.abs_cost[i] = cost, abs_cost

    def remove(self, account: int) -> None:
        i = self.row_of.pop(account, None)
        if i is None:
            return
        last = self.n - 1
        if i != last:
            moved = int(self.ids[last])
            for name in (
                "ids",
                "balance",
                "cost",
                "abs_cost",
                "floor",
                "daily",
                "max_loss",
                "peak_watch",
                "target_watch",
                "next_moment",
                "initial",
                "day_base",
                "real",
                "qty",
                "abs_qty",
                "entry",
                "coin",
            ):
                array = getattr(self, name)
                array[i] = array[last]
            self.row_of[moved] = i
        self.n = last

    # --- the per-frame pass ------------------------------------------------------------------

    def slot_marks(self) -> np.ndarray:
        """The mark of every slot's coin (rows × slots; an empty slot's is irrelevant), in a
        work buffer valid until the next call."""
        n = self.n
        out = self._slot_marks[:n]
        if not len(self.marks):
            out[:] = self.entry[:n]  # no coin known yet: every slot is empty
            return out
        np.take(self.marks, self.coin[:n], out=out)
        if np.isnan(self.marks).any():
            # A coin with no mark yet is valued at the entry price (no P&L), as the rules
            # engine values a position before its first mark.
            np.copyto(out, self.entry[:n], where=np.isnan(out))
        return out

    def revalue(self) -> Revaluation:
        """Every account at the current marks. The arrays are work buffers: valid until the
        next revalue."""
        n = self.n
        marks = self.slot_marks()
        upnl, equity, gross = self._upnl[:n], self._equity[:n], self._gross[:n]
        np.einsum("ij,ij->i", self.qty[:n], marks, out=upnl)
        np.subtract(upnl, self.cost[:n], out=upnl)
        np.add(self.balance[:n], upnl, out=equity)
        np.einsum("ij,ij->i", self.abs_qty[:n], marks, out=gross)
        np.add(gross, self.abs_cost[:n], out=gross)
        return Revaluation(upnl=upnl, equity=equity, gross=gross)

    def screen(self, value: Revaluation, now: datetime | float) -> Screen:
        """The masks are work buffers too: valid until the next screen."""
        n = self.n
        now_ts = now if isinstance(now, float) else now.timestamp()
        equity, floor = value.equity, self.floor[:n]
        band, work = self._band[:n], self._work[:n]
        near_floor, new_peak, target, moment_due, flagged = (m[:n] for m in self._masks)
        # band = REL_BAND × (|floor| + gross) + ABS_BAND
        np.abs(floor, out=band)
        np.add(band, value.gross, out=band)
        np.multiply(band, REL_BAND, out=band)
        np.add(band, ABS_BAND, out=band)
        np.add(floor, band, out=work)
        np.less_equal(equity, work, out=near_floor)
        np.greater(equity, self.peak_watch[:n], out=new_peak)
        np.subtract(self.target_watch[:n], band, out=work)
        np.greater_equal(equity, work, out=target)
        np.less_equal(self.next_moment[:n], now_ts, out=moment_due)
        np.bitwise_or(near_floor, new_peak, out=flagged)
        np.bitwise_or(flagged, target, out=flagged)
        np.bitwise_or(flagged, moment_due, out=flagged)
        return Screen(near_floor, new_peak, target, moment_due, flagged)

    def flagged_accounts(self, screen: Screen) -> list[int]:
        return self.ids[: self.n][screen.flagged].tolist()

    def row(self, account: int) -> int:
        return self.row_of[account]


def revalue_exact(
    balance: Decimal, positions: Mapping[str, tuple[Decimal, Decimal]], marks: Mapping[str, Decimal]
) -> tuple[Decimal, Decimal]:
    """(unrealised P&L, equity) in Decimal: what the float pass approximates; a coin with no
    mark is valued at its entry price."""
    upnl = Decimal(0)
    for coin, (size, entry) in positions.items():
        mark = marks.get(coin, entry)
        upnl += size * (mark - entry)
    return upnl, balance + upnl


def coins_of(rows: Sequence[Row]) -> list[str]:
    found: dict[str, None] = {}
    for row in rows:
        for coin in row.positions:
            found.setdefault(coin)
    return list(found)
