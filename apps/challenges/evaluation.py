"""The rules engine at work on live accounts: the only writer of rule state.

Each sync restores the account's engine from its checkpoint, feeds it what happened since
(fills and ledger entries by id, then the latest marks of its open positions), lets time run
to now (day resets, expiry), journals every event that changed rule state, and saves the new
checkpoint, all in one transaction under the account's row lock. A decided verdict hands the
account to the lifecycle in the same transaction.

The same code serves the live path (after each fill), the Celery sweeps (accounts no price
reached) and, later, the risk engine (one call per frame for the accounts it screens).
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from apps.challenges.models_lifecycle import EvaluatedAccount, JournalEntry
from apps.challenges.rules import (
    Engine,
    Mark,
    account_from_json,
    event_from_json,
    rules_from_json,
)
from apps.core import clock
from apps.trading.models import Fill, LedgerEntry

log = logging.getLogger(__name__)

# How a ledger entry enters the engine (fills come from the Fill rows, with their fee).
LEDGER_EVENTS = {
    LedgerEntry.Kind.FUNDING: ("funding", None),
    LedgerEntry.Kind.ADJUSTMENT: ("adjustment", "none"),
    LedgerEntry.Kind.PAYOUT: ("adjustment", "anchors"),
    LedgerEntry.Kind.RESIZE: ("adjustment", "resize"),
}


def _s(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _t(at: datetime) -> str:
    return at.isoformat()


def account_json(account: EvaluatedAccount) -> dict:
    return {
        "currency": account.trading_account.currency,
        "starting_balance": _s(account.starting_balance),
        "start": _t(account.start),
    }


def engine_for(account: EvaluatedAccount) -> Engine:
    rules = rules_from_json(account.rules)
    start = account_from_json(account_json(account))
    if account.checkpoint:
        return Engine.restore(rules, start, account.checkpoint)
    return Engine(rules, start)


def mark_json(mark: Mark) -> dict:
    return {"t": _t(mark.t), "type": "mark", "symbol": mark.symbol, "price": _s(mark.price)}


def _pending(account: EvaluatedAccount) -> tuple[list[tuple[datetime, int, dict]], int, int]:
    """New fills and ledger events as scenario events, in time order, and the new cursors."""
    found: list[tuple[datetime, int, dict]] = []
    fills = Fill.objects.filter(account_id=account.trading_account_id, pk__gt=account.fed_fills)
    last_fill = account.fed_fills
    for fill in fills.order_by("pk"):
        last_fill = fill.pk
        found.append(
            (
                fill.at,
                0,
                {
                    "t": _t(fill.at),
                    "type": "fill",
                    "symbol": fill.coin,
                    "side": fill.side,
                    "qty": _s(fill.size),
                    "price": _s(fill.price),
                    "fee": _s(fill.fee),
                },
            )
        )
    entries = LedgerEntry.objects.filter(
        account_id=account.trading_account_id, pk__gt=account.fed_ledger
    )
    last_entry = account.fed_ledger
    for entry in entries.order_by("pk"):
        last_entry = entry.pk
        kind = LEDGER_EVENTS.get(entry.kind)
        if kind is None:
            continue  # capital is the account's start; P&L and fees arrive with their fill
        event = {"t": _t(entry.at), "type": kind[0], "amount": _s(entry.amount)}
        if kind[0] == "funding":
            event["symbol"] = entry.coin or "?"
        else:
            event["rebase"] = kind[1]
        found.append((entry.at, 1, event))
    found.sort(key=lambda item: (item[0], item[1]))
    return found, last_fill, last_entry


def _latest_marks(engine: Engine) -> list[dict]:
    from apps.market.selectors import frame_latest

    open_symbols = [s for s, (qty, _entry) in engine.positions.items() if qty]
    if not open_symbols:
        return []
    frame = frame_latest()
    if frame is None:
        return []
    return [
        {"t": _t(frame.t), "type": "mark", "symbol": s, "price": _s(frame.prices[s].mark)}
        for s in open_symbols
        if s in frame.prices
    ]


class _Journal:
    def __init__(self, account: EvaluatedAccount):
        self.account, self.rows = account, []

    def add(self, event: dict) -> None:
        self.account.journal_seq += 1
        self.rows.append(
            JournalEntry(
                account=self.account,
                seq=self.account.journal_seq,
                t=datetime.fromisoformat(event["t"]),
                event=event,
            )
        )

    def marks(self, marks) -> None:
        for mark in marks:
            self.add(mark_json(mark))

    def save(self) -> None:
        JournalEntry.objects.bulk_create(self.rows)


def evaluation_sync(
    *,
    account_id: int,
    now: datetime | None = None,
    with_marks: bool = True,
    marks: list[dict] | None = None,
) -> EvaluatedAccount:
    """Bring one account's rule state up to date; return it (decided or not)."""
    from apps.challenges.lifecycle import on_verdict

    with transaction.atomic():
        account = (
            EvaluatedAccount.objects.select_for_update()
            .select_related("trading_account")
            .get(pk=account_id)
        )
        if account.status != EvaluatedAccount.Status.ACTIVE:
            return account
        engine = engine_for(account)
        journal = _Journal(account)
        events, account.fed_fills, account.fed_ledger = _pending(account)
        feed = [event for _, _, event in events]
        if marks is not None:
            feed += marks
        elif with_marks:
            feed += _latest_marks(engine)
        for event in feed:
            # A fill's time is the venue's; never let one step the engine back in time.
            at = max(datetime.fromisoformat(event["t"]), engine.t)
            event = {**event, "t": _t(at)}
            step = engine.apply(event_from_json(event, "event"))
            journal.marks(step.marks)
            if step.journal:
                journal.add(event)
        step = engine.advance_to(max(now or clock.now(), engine.t))
        journal.marks(step.marks)
        journal.save()
        account.checkpoint = engine.checkpoint()
        account.evaluated_at = clock.now()
        decided = engine.status != "active"
        if decided:
            account.status = engine.status
            account.reason = engine.reason or ""
            account.decided_at = engine.decided_at
        account.save()
        if decided:
            on_verdict(account=account, engine=engine)
        return account
