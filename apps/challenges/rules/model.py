"""The plain values a scenario is made of: account, rules and events.

Every figure is a `Decimal`, every time an aware UTC `datetime`. Nothing here validates:
`scenario.py` builds these from JSON and refuses what the contract refuses; a live caller
that builds them itself is trusted to respect the same ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

HUNDRED = Decimal(100)

ANCHORS = (
    "initial",
    "day_start_balance",
    "day_start_equity",
    "day_start_max",
    "intraday_peak_equity",
    "peak_eod_balance",
    "peak_eod_equity",
    "peak_balance",
    "peak_equity",
)
MAX_LOSS_ANCHORS = ("initial", "peak_eod_balance", "peak_eod_equity", "peak_balance", "peak_equity")
AMOUNT_KINDS = ("fixed", "pct_of_initial", "pct_of_anchor")
BREACH_WHEN = ("below", "at_or_below")
BASES = ("balance", "equity")
QUALIFYING_KINDS = ("any_trade", "profitable_day")
CONSISTENCY_OF = ("net_profit", "positive_days")
REBASES = ("none", "anchors", "resize")
SIDES = ("buy", "sell")


@dataclass(frozen=True, slots=True)
class Amount:
    kind: str  # one of AMOUNT_KINDS
    value: Decimal

    def money(self, initial: Decimal, anchor: Decimal | None = None) -> Decimal:
        """The amount in currency units, given the starting balance and the rule's anchor."""
        if self.kind == "fixed":
            return self.value
        if self.kind == "pct_of_initial":
            return initial * self.value / HUNDRED
        assert anchor is not None, "pct_of_anchor needs the anchor value"
        return anchor * self.value / HUNDRED


@dataclass(frozen=True, slots=True)
class DayReset:
    timezone: str  # an IANA name
    hour: int
    minute: int

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances by key


@dataclass(frozen=True, slots=True)
class ProfitTarget:
    amount: Amount
    basis: str = "balance"


@dataclass(frozen=True, slots=True)
class LossRule:
    anchor: str
    amount: Amount
    lock_at: Amount | None = None  # max_loss only


@dataclass(frozen=True, slots=True)
class MinTradingDays:
    count: int
    kind: str = "any_trade"
    min_pct_of_initial: Decimal | None = None  # profitable_day only


@dataclass(frozen=True, slots=True)
class Consistency:
    max_best_day_share_pct: Decimal
    of: str = "net_profit"


@dataclass(frozen=True, slots=True)
class Rules:
    day_reset: DayReset
    breach_when: str = "below"
    profit_target: ProfitTarget | None = None
    daily_loss: LossRule | None = None
    max_loss: LossRule | None = None
    min_trading_days: MinTradingDays | None = None
    max_duration_days: int | None = None
    consistency: Consistency | None = None

    @property
    def has_objectives(self) -> bool:
        return (
            self.profit_target is not None
            or self.min_trading_days is not None
            or self.consistency is not None
        )


@dataclass(frozen=True, slots=True)
class Account:
    currency: str
    starting_balance: Decimal
    start: datetime


@dataclass(frozen=True, slots=True)
class Mark:
    t: datetime
    symbol: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class Fill:
    t: datetime
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Funding:
    t: datetime
    symbol: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Adjustment:
    t: datetime
    amount: Decimal
    rebase: str


@dataclass(frozen=True, slots=True)
class End:
    t: datetime


Event = Mark | Fill | Funding | Adjustment | End


@dataclass(frozen=True, slots=True)
class Scenario:
    account: Account
    rules: Rules
    events: tuple[Event, ...]
    name: str | None = None
