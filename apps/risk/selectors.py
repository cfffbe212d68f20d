"""Reads for the gate and the risk managers: effective limits and the firm's exposure."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import F, Q, QuerySet, Sum

from apps.challenges.selectors import account_limits
from apps.risk.models import FirmExposureLimit, LimitOverride
from apps.trading import market_view
from apps.trading.models import Position, TradingAccount, Venue

ZERO = Decimal(0)


# --- an account's limits ----------------------------------------------------------------------


def limit_overrides_of(account: TradingAccount) -> QuerySet[LimitOverride]:
    return LimitOverride.objects.filter(account_id=account.pk).select_related("set_by")


def limits_merge(ruleset_limits: dict | None, overrides: dict[str, object]) -> dict | None:
    """The rule set's limits with a risk manager's overrides on top; None when the account has
    neither (no rule set governs it and nobody set a limit on it)."""
    if ruleset_limits is None and not overrides:
        return None
    return {**(ruleset_limits or {}), **overrides}


def limits_effective(account: TradingAccount) -> dict | None:
    """The limits the gate applies to this account now (two queries, never cached)."""
    overrides = dict(
        LimitOverride.objects.filter(account_id=account.pk).values_list("field", "value")
    )
    return limits_merge(account_limits(account), overrides)


# --- the firm's exposure ----------------------------------------------------------------------


@dataclass
class CoinExposure:
    """Net notional in one coin at the latest mark (long > 0): real (live venues, the firm's
    capital) and simulated (paper accounts), each with its long and short sides."""

    coin: str
    mark: Decimal | None = None
    real_long: Decimal = ZERO
    real_short: Decimal = ZERO
    simulated_long: Decimal = ZERO
    simulated_short: Decimal = ZERO

    @property
    def real_net(self) -> Decimal:
        return self.real_long - self.real_short

    @property
    def simulated_net(self) -> Decimal:
        return self.simulated_long - self.simulated_short


def _valued(size: Decimal | None, cost: Decimal | None, mark: Decimal | None) -> Decimal:
    if mark is None:
        return abs(cost or ZERO)
    return abs(size or ZERO) * mark


def firm_exposure() -> dict[str, CoinExposure]:
    """Every coin's exposure over all open positions, at the latest marks (one query).

    A coin with no mark is valued at its positions' entry prices. Closed accounts count too:
    a position left on one is still the firm's exposure.
    """
    quotes = market_view.quotes()
    paper = Q(account__venue=Venue.PAPER)
    rows = (
        Position.objects.exclude(size=0)
        .values("coin")
        .annotate(
            real_long=Sum("size", filter=Q(size__gt=0) & ~paper),
            real_short=Sum("size", filter=Q(size__lt=0) & ~paper),
            sim_long=Sum("size", filter=Q(size__gt=0) & paper),
            sim_short=Sum("size", filter=Q(size__lt=0) & paper),
            real_long_cost=Sum(F("size") * F("entry_price"), filter=Q(size__gt=0) & ~paper),
            real_short_cost=Sum(F("size") * F("entry_price"), filter=Q(size__lt=0) & ~paper),
            sim_long_cost=Sum(F("size") * F("entry_price"), filter=Q(size__gt=0) & paper),
            sim_short_cost=Sum(F("size") * F("entry_price"), filter=Q(size__lt=0) & paper),
        )
        .order_by("coin")
    )
    found: dict[str, CoinExposure] = {}
    for row in rows:
        quote = quotes.get(row["coin"])
        mark = quote.mark if quote is not None else None
        found[row["coin"]] = CoinExposure(
            coin=row["coin"],
            mark=mark,
            real_long=_valued(row["real_long"], row["real_long_cost"], mark),
            real_short=_valued(row["real_short"], row["real_short_cost"], mark),
            simulated_long=_valued(row["sim_long"], row["sim_long_cost"], mark),
            simulated_short=_valued(row["sim_short"], row["sim_short_cost"], mark),
        )
    return found


def firm_limits() -> dict[str, dict[str, Decimal]]:
    """{coin: {"long": max notional, "short": max notional}} for the coins that have limits."""
    limits: dict[str, dict[str, Decimal]] = {}
    for coin, direction, cap in FirmExposureLimit.objects.values_list(
        "coin", "direction", "max_notional"
    ):
        limits.setdefault(coin, {})[direction] = cap
    return limits


@dataclass(frozen=True)
class FirmSnapshot:
    """What the gate needs of the firm: real net notional and limits per coin."""

    real_net: dict[str, Decimal] = field(default_factory=dict)
    limits: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    taken_at: float = 0.0


# The firm's exposure changes with fills and marks, not with each order, and summing every live
# position on every order would put a firm-wide query on the hot path. Each process keeps the
# figure for about a second: the limit may lag a fill by that much, which a firm-level limit
# (sized in millions, watched live on the dashboard) tolerates. Pending orders are not counted:
# only fills change exposure.
FIRM_CACHE_SECONDS = 1.0
_firm_cache: list[FirmSnapshot] = []
_firm_lock = threading.Lock()


def firm_snapshot() -> FirmSnapshot:
    """The firm's real exposure and limits, at most about a second old (two queries a second
    per process at most)."""
    now = time.monotonic()
    cached = _firm_cache[0] if _firm_cache else None
    if cached is not None and now - cached.taken_at < FIRM_CACHE_SECONDS:
        return cached
    with _firm_lock:
        cached = _firm_cache[0] if _firm_cache else None
        if cached is not None and time.monotonic() - cached.taken_at < FIRM_CACHE_SECONDS:
            return cached
        exposure = firm_exposure()
        snapshot = FirmSnapshot(
            real_net={coin: e.real_net for coin, e in exposure.items()},
            limits=firm_limits(),
            taken_at=time.monotonic(),
        )
        _firm_cache[:] = [snapshot]
        return snapshot


def firm_snapshot_clear() -> None:
    """Forget the cached figure (tests, and after a firm limit changes in this process)."""
    _firm_cache.clear()
