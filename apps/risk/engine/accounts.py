"""The shard's accounts as the engine holds them, rebuilt from PostgreSQL.

Positions and balance come from trading (the fresher record: a fill is booked there before the
rules engine is fed it); floors, anchors and the next reset come from each account's rules
engine restored from its checkpoint (the rule state the evaluation wrote, never recomputed
here). A restored engine is kept per account: reading its floors costs nothing, and it is the
scratch copy the frame's marks are tried on before a breach batch (see loop.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import F
from django.db.models.functions import Mod

from apps.challenges.evaluation import account_json
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.challenges.rules import Engine, Rules, account_from_json, rules_from_json
from apps.risk.engine.book import Row
from apps.risk.engine.shard import Shard
from apps.trading.models import Position, TradingAccount, Venue

# Anchors that move with equity between fills (with a mark): a floor on one of them trails
# equity, so a new peak must reach the rules engine.
EQUITY_PEAKS = ("intraday_peak_equity", "peak_equity")


@dataclass
class Held:
    """One open account of the shard."""

    evaluated: int  # EvaluatedAccount id: what evaluation_sync takes
    account: int  # trading account id: what groups, events and shards use
    owner: int
    venue: str
    currency: str
    state: str  # trading state (active, reducing, suspended, halted)
    balance: Decimal
    positions: dict[str, tuple[Decimal, Decimal]]
    engine: Engine
    # The rule state the engine was restored from (a breach's flattening keys are predicted
    # from it; see enforcement.py).
    evaluated_at: datetime | None = None
    journal_seq: int = 0
    # Snapshot throttle (monotonic seconds) and whether a change waits to be pushed.
    pushed_at: float = float("-inf")
    changed: bool = True
    verdict: dict | None = field(default=None)

    @property
    def real(self) -> bool:
        return self.venue != Venue.PAPER

    def open_coins(self) -> list[str]:
        """Coins the account or its rules engine holds a position in (the marks to feed)."""
        coins = {c for c, (size, _entry) in self.positions.items() if size}
        coins.update(c for c, (size, _entry) in self.engine.positions.items() if size)
        return sorted(coins)


class RulesCache:
    """Parsed rule sets by their JSON: thousands of accounts share a few pinned versions."""

    def __init__(self) -> None:
        self._parsed: dict[str, Rules] = {}

    def get(self, rules: dict) -> Rules:
        key = json.dumps(rules, sort_keys=True, separators=(",", ":"))
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = self._parsed[key] = rules_from_json(rules)
        return parsed


def engine_restore(account: EvaluatedAccount, rules: RulesCache) -> Engine:
    """The account's rules engine as its checkpoint left it (evaluation.engine_for, with the
    rule set parsed once per version)."""
    start = account_from_json(account_json(account))
    parsed = rules.get(account.rules)
    if account.checkpoint:
        return Engine.restore(parsed, start, account.checkpoint)
    return Engine(parsed, start)


def shard_accounts(shard: Shard):
    """Active evaluated accounts of the shard (trading account id % n == i)."""
    rows = EvaluatedAccount.objects.filter(status=EvaluatedAccount.Status.ACTIVE)
    if shard.count > 1:
        rows = rows.annotate(_shard=Mod(F("trading_account_id"), shard.count)).filter(
            _shard=shard.index
        )
    return rows


def shard_account_ids(shard: Shard) -> set[int]:
    """The trading account ids the shard should hold now (one narrow query)."""
    return set(shard_accounts(shard).values_list("trading_account_id", flat=True))


def positions_of(account_ids: Iterable[int]) -> dict[int, dict[str, tuple[Decimal, Decimal]]]:
    found: dict[int, dict[str, tuple[Decimal, Decimal]]] = {}
    rows = (
        Position.objects.filter(account_id__in=list(account_ids))
        .exclude(size=0)
        .values_list("account_id", "coin", "size", "entry_price")
    )
    for account_id, coin, size, entry in rows:
        found.setdefault(account_id, {})[coin] = (size, entry)
    return found


def load(
    shard: Shard, rules: RulesCache, account_ids: Iterable[int] | None = None
) -> dict[int, Held]:
    """The shard's active accounts (or those of `account_ids` still active and in the shard),
    keyed by trading account id: three queries whatever their number."""
    rows = shard_accounts(shard).select_related("trading_account")
    if account_ids is not None:
        rows = rows.filter(trading_account_id__in=list(account_ids))
    rows = list(rows)
    positions = positions_of(r.trading_account_id for r in rows)
    held: dict[int, Held] = {}
    for row in rows:
        trading: TradingAccount = row.trading_account
        if trading.status != TradingAccount.Status.OPEN:
            continue
        held[trading.pk] = Held(
            evaluated=row.pk,
            account=trading.pk,
            owner=trading.owner_id,
            venue=trading.venue,
            currency=trading.currency,
            state=trading.state,
            balance=trading.balance,
            positions=positions.get(trading.pk, {}),
            engine=engine_restore(row, rules),
            evaluated_at=row.evaluated_at,
            journal_seq=row.journal_seq,
        )
    return held


def lags_trading(held: Held) -> bool:
    """Whether the rules engine has not seen what trading booked (a fill or entry not fed yet):
    its positions or balance differ. Such an account is evaluated at the first frame."""
    engine = {c: size for c, (size, _entry) in held.engine.positions.items() if size}
    ours = {c: size for c, (size, _entry) in held.positions.items() if size}
    # The ledger books realised P&L to 6 places, the engine keeps it exact: a cent apart is
    # a missed entry, a millionth is rounding.
    return engine != ours or abs(held.engine.balance - held.balance) > Decimal("0.01")


def book_row(held: Held) -> Row:
    """The account as the vectorised screen sees it, from its rules engine's state."""
    engine = held.engine
    rules = engine.rules
    anchors = {rule.anchor for rule in (rules.daily_loss, rules.max_loss) if rule is not None}
    peaks = [engine.anchor_value(a) for a in EQUITY_PEAKS if a in anchors]
    target = rules.profit_target
    target_watch = None
    if target is not None and target.basis == "equity" and engine.profit_target_amount is not None:
        target_watch = engine.initial + engine.profit_target_amount
    today = engine.days[-1]
    return Row(
        account=held.account,
        balance=held.balance,
        positions=held.positions,
        daily_floor=engine.daily_floor,
        max_loss_floor=engine.max_loss_floor,
        peak_watch=min(peaks) if peaks else None,
        target_watch=target_watch,
        next_moment=engine.next_moment(),
        initial=engine.initial,
        day_base=today.start_equity + today.adjustments,
        real=held.real,
    )
