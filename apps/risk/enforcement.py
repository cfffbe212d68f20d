"""Enforcing a frame's breaches as one batch (DESIGN.md, "The hot path", step 3).

In order, for all the frame's breaches together:

1. `breaches_halt`: HALTED committed for every breached account in ONE transaction (rows locked
   in primary-key order, one UPDATE per breached rule, one audit row per account on its own
   chain). From that commit the pre-trade gate refuses every trader order on them:
   order_submit runs its checks under the same row lock, so an order racing the halt either
   commits first (and is cancelled in step 2) or sees HALTED.
2. `breaches_flatten`: in ONE more transaction, a cancel request for every resting order and a
   reduce-only market `system_flatten` order for every open position of those accounts, each
   with its outbox row and audit row, as `order_cancel` / `order_submit` write them; after
   commit, their events and one dispatch task. Outbox rows are sent in id order, so each
   account's cancels reach the venue before its flattening orders.
3. `breach_enforce`, per account, off the frame loop (the engine's evaluation threads):
   `evaluation_sync` with the frame's marks. The rules engine is the only writer of rule state:
   it decides the verdict again from its checkpoint, journals it and hands the account to the
   lifecycle (`on_verdict`), which fails the phase or funded account, audits it and e-mails the
   trader. Its own halt/cancel/flatten finds the work done: the account is HALTED already, and
   each flattening order of step 2 carries the idempotency key the lifecycle submits under
   (`flatten:<evaluated account>:<coin>:<journal seq at the verdict>`), so order_submit answers
   with the existing order instead of a second one.

Why this shape: one breach's lifecycle costs ~50 ms (order entry with the gate, the audit chain,
the e-mail: ~30 queries), so with a loop of `evaluation_sync` calls the last of 1,000 accounts
would be halted and flattened a minute after the first, in a crash. Steps 1 and 2 cost well
under a millisecond per account, and step 3 then runs with no trader able to add risk and every
position already being closed.

What step 2 relies on, and what happens when it does not hold:
- The breach is confirmed before anything is written: the engine feeds the frame's marks to a
  scratch copy of each account's rules engine (restored from its checkpoint; nothing persisted)
  and only accounts it FAILS are halted. Should the writer then not confirm it (a fill booked
  in between changed the account), the account stays HALTED (only a four-eyes override lifts a
  halt) and `breach_enforce` audits the halt as unconfirmed for the risk manager.
- The journal seq in the key is predicted by that scratch engine (the rows `evaluation_sync`
  will journal for the same marks). Step 2 therefore only takes accounts whose rule state is
  the one the prediction started from (same `evaluated_at`) with no fill or ledger entry
  waiting to be fed; the others are flattened by the lifecycle in step 3, as before. A
  prediction gone stale in between (a fill in the milliseconds before step 3) costs a second
  reduce-only order, which a venue refuses once the position is flat.
- The pre-submit checks are not run for these orders: they are reduce-only `system_flatten`
  market orders on accounts this module has just HALTED under lock, which every check lets
  through by design (DESIGN.md, "Order entry"); intent_validate (instrument, lot grid) is run.
- The lifecycle will request a cancel of each resting order once more (its order is still
  open until the venue answers); the venue answers a second cancel with the order's status.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import redis
from django.db import connection, transaction
from django.db.models import Max

from apps.challenges.evaluation import LEDGER_EVENTS, evaluation_sync
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.core import clock
from apps.core.audit import GENESIS, event_hash, jsonable
from apps.core.models import AuditEvent
from apps.core.redis import get_redis
from apps.core.services import audit_record
from apps.trading import events, market_view
from apps.trading.intents import IntentError, intent_validate
from apps.trading.models import (
    Fill,
    LedgerEntry,
    Order,
    Origin,
    OutboxMessage,
    Position,
    TradingAccount,
    TradingState,
)
from apps.trading.registry import OrderIntent

log = logging.getLogger(__name__)

ACTOR_LABEL = "risk engine"
SUBJECT_TYPE = TradingAccount._meta.label_lower
# The same words the lifecycle uses when it halts on a verdict, so the account reads the same
# whichever of the two committed HALTED.
RULE_WORDS = {
    "max_loss": "the maximum loss limit",
    "daily_loss": "the daily loss limit",
}


def halt_reason(rule: str) -> str:
    return f"Breached {RULE_WORDS.get(rule, rule)}."


@dataclass(frozen=True)
class Breach:
    account: int  # trading account id
    evaluated: int  # EvaluatedAccount id
    rule: str  # max_loss or daily_loss


@dataclass(frozen=True)
class Halted:
    account: int
    before: str  # the trading state before the halt (given back if the breach is not confirmed)
    changed: bool  # False: it was HALTED already


def audit_record_many(records: Sequence[tuple[int, str, object, object]]) -> None:
    """Audit events on trading accounts, (account, action, before, after) each, appended to each
    account's own chain in order, inside the caller's transaction: `core.services.audit_record`
    for many events in three statements (the same per-subject advisory locks, taken in one
    sorted pass; the same chain and hash)."""
    if not records:
        return
    ids = sorted({str(account) for account, _action, _before, _after in records})
    with connection.cursor() as cursor:
        cursor.execute(
            # Sorted, so two batches over the same accounts take their locks in one order.
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
            "FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS sorted",
            [[f"{SUBJECT_TYPE}:{i}" for i in ids]],
        )
    last = {
        row["subject_id"]: (row["seq"], row["hash"])
        for row in AuditEvent.objects.filter(subject_type=SUBJECT_TYPE, subject_id__in=ids)
        .order_by("subject_type", "subject_id", "-seq")
        .distinct("subject_type", "subject_id")
        .values("subject_id", "seq", "hash")
    }
    at = clock.now()
    rows = []
    for account, action, before, after in records:
        subject_id = str(account)
        seq, prev_hash = last.get(subject_id, (0, GENESIS))
        seq += 1
        before_json, after_json = jsonable(before), jsonable(after)
        digest = event_hash(
            subject_type=SUBJECT_TYPE,
            subject_id=subject_id,
            seq=seq,
            action=action,
            actor_id=None,
            actor_label=ACTOR_LABEL,
            before=before_json,
            after=after_json,
            at=at,
            prev_hash=prev_hash,
        )
        last[subject_id] = (seq, digest)
        rows.append(
            (
                SUBJECT_TYPE,
                subject_id,
                seq,
                action,
                None,
                ACTOR_LABEL,
                None if before_json is None else json.dumps(before_json),
                None if after_json is None else json.dumps(after_json),
                "{}",
                at,
                prev_hash,
                digest,
            )
        )
    # COPY rather than bulk_create: for a thousand rows it halves the time (the ORM prepares
    # 12,000 values one by one), and this insert is most of the time to HALTED.
    with connection.cursor() as cursor, cursor.cursor.copy(_AUDIT_COPY) as copy:
        for row in rows:
            copy.write_row(row)


_AUDIT_COPY = (
    f"COPY {AuditEvent._meta.db_table} (subject_type, subject_id, seq, action, actor_id, "
    "actor_label, before, after, personal, at, prev_hash, hash) FROM STDIN"
)


@transaction.atomic
def breaches_halt(breaches: Sequence[Breach]) -> list[Halted]:
    """Commit HALTED for every breached account at once (see the module's docstring).

    Closed accounts are skipped; accounts already HALTED are reported unchanged. Each change is
    audited as `account.state`, as `trading.services.account_set_state` audits one.
    """
    rule_of = {b.account: b.rule for b in breaches}
    locked = list(
        TradingAccount.objects.select_for_update()
        .filter(pk__in=list(rule_of), status=TradingAccount.Status.OPEN)
        .order_by("pk")
        .values_list("pk", "state")
    )
    halted: list[Halted] = []
    by_rule: dict[str, list[int]] = defaultdict(list)
    audits: list[tuple[int, str, object, object]] = []
    for pk, state in locked:
        changed = state != TradingState.HALTED
        halted.append(Halted(account=pk, before=state, changed=changed))
        if changed:
            rule = rule_of[pk]
            by_rule[rule].append(pk)
            after = {"state": TradingState.HALTED, "reason": halt_reason(rule)}
            audits.append((pk, "account.state", {"state": state}, after))
    now = clock.now()
    for rule, pks in by_rule.items():
        TradingAccount.objects.filter(pk__in=pks).update(
            state=TradingState.HALTED, state_reason=halt_reason(rule), state_changed_at=now
        )
    audit_record_many(audits)
    return halted


@dataclass(frozen=True)
class Flatten:
    """A halted account to flatten in step 2, with what its idempotency keys are predicted from."""

    account: int  # trading account id
    evaluated: int  # EvaluatedAccount id
    evaluated_at: datetime | None  # the rule state the prediction started from
    journal_seq: int  # predicted: the account's journal seq when the lifecycle flattens it


def flatten_key(evaluated: int, coin: str, journal_seq: int) -> str:
    """The idempotency key the lifecycle flattens a position under (lifecycle._stop_trading)."""
    return f"flatten:{evaluated}:{coin}:{journal_seq}"


def _unfed(accounts: list[int]) -> dict[int, tuple[int, int]]:
    """Per trading account: the last fill id and the last journaled ledger id booked."""
    fills = dict(
        Fill.objects.filter(account_id__in=accounts)
        .values("account_id")
        .annotate(last=Max("id"))
        .values_list("account_id", "last")
    )
    entries = dict(
        LedgerEntry.objects.filter(account_id__in=accounts, kind__in=list(LEDGER_EVENTS))
        .values("account_id")
        .annotate(last=Max("id"))
        .values_list("account_id", "last")
    )
    return {a: (fills.get(a, 0), entries.get(a, 0)) for a in accounts}


@transaction.atomic
def breaches_flatten(items: Sequence[Flatten]) -> set[int]:
    """Step 2 for every account it can take (see the module's docstring); returns those it
    took. The rest are left to the lifecycle."""
    if not items:
        return set()
    wanted = {i.account: i for i in items}
    # Locked in primary-key order, as order_submit locks an account for its checks.
    locked = list(
        TradingAccount.objects.select_for_update()
        .filter(pk__in=list(wanted), status=TradingAccount.Status.OPEN, state=TradingState.HALTED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    state = {
        row[0]: row[1:]
        for row in EvaluatedAccount.objects.filter(
            pk__in=[wanted[a].evaluated for a in locked], status=EvaluatedAccount.Status.ACTIVE
        ).values_list("trading_account_id", "evaluated_at", "fed_fills", "fed_ledger")
    }
    unfed = _unfed(locked)
    taken = [
        a
        for a in locked
        if a in state
        and state[a][0] == wanted[a].evaluated_at
        and unfed[a][0] <= state[a][1]
        and unfed[a][1] <= state[a][2]
    ]
    if not taken:
        return set()
    now = clock.now()
    audits: list[tuple[int, str, object, object]] = []
    cancels: list[OutboxMessage] = []
    live = (
        Order.objects.filter(
            account_id__in=taken, status__in=[Order.Status.PENDING, Order.Status.OPEN]
        )
        .exclude(origin=Origin.SYSTEM_FLATTEN)
        .order_by("account_id", "created_at")
    )
    cancelled: list[Order] = []
    for order in live:
        cancels.append(OutboxMessage(order=order, action=OutboxMessage.Action.CANCEL))
        audits.append(
            (
                order.account_id,
                "order.cancel",
                None,
                {"order": order.pk, "origin": "system_flatten"},
            )
        )
        cancelled.append(order)
    OutboxMessage.objects.bulk_create(cancels)
    orders: list[Order] = []
    positions = (
        Position.objects.filter(account_id__in=taken).exclude(size=0).order_by("account_id", "coin")
    )
    # One read of the latest frame for the batch (market_view.quote reads and parses it on
    # every call: a second per thousand positions at 200 instruments).
    quotes = market_view.quotes()
    for position in positions:
        intent = OrderIntent(
            coin=position.coin,
            side="sell" if position.size > 0 else "buy",
            kind="market",
            size=abs(position.size),
            reduce_only=True,
        )
        try:
            intent_validate(intent, market_view.instrument(intent.coin), quotes.get(intent.coin))
        except IntentError as exc:
            log.error("cannot flatten %s on %s: %s", intent.coin, position.account_id, exc.message)
            continue  # the lifecycle tries again, and logs it too
        item = wanted[position.account_id]
        order = Order(
            account_id=position.account_id,
            origin=Origin.SYSTEM_FLATTEN,
            idempotency_key=flatten_key(item.evaluated, intent.coin, item.journal_seq),
            request_hash=intent.request_hash(),
            coin=intent.coin,
            side=intent.side,
            kind=intent.kind,
            tif=intent.tif,
            size=intent.size,
            reduce_only=True,
            created_at=now,
            updated_at=now,
        )
        orders.append(order)  # its id (a UUID) is made here, so the audit row can name it
        after = {"order": order.pk, "origin": Origin.SYSTEM_FLATTEN, **intent.fingerprint()}
        audits.append((position.account_id, "order.submit", None, after))
    Order.objects.bulk_create(orders)
    OutboxMessage.objects.bulk_create(
        [OutboxMessage(order=order, action=OutboxMessage.Action.PLACE) for order in orders]
    )
    audit_record_many(audits)
    transaction.on_commit(lambda: _after_commit(cancelled, orders))
    return set(taken)


def _after_commit(cancelled: list[Order], orders: list[Order]) -> None:
    """As order entry does after its commit: a dispatch (the worker drains the outbox in id
    order), then the events on `trading:events`, in the shape `trading.events.publish` writes
    them but in one round trip (a thousand single XADDs would hold the engine ~0.3 s)."""
    from apps.trading.tasks import outbox_wake

    try:
        outbox_wake()
    except Exception:
        log.exception("could not queue the outbox dispatch (the 5 s outbox sweep will)")
    published = [("order.cancel_requested", o) for o in cancelled] + [
        ("order.new", o) for o in orders
    ]
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            for kind, order in published:
                data = json.dumps({"account": order.account_id, "order": str(order.pk)})
                pipe.xadd(
                    events.STREAM, {"kind": kind, "data": data}, maxlen=100_000, approximate=True
                )
            pipe.execute()
    except redis.RedisError:
        log.exception("could not publish %d order events on %s", len(published), events.STREAM)


def breach_enforce(*, breach: Breach, marks: list[dict], before: str) -> EvaluatedAccount:
    """The rules engine decides and the lifecycle enforces (fail, audit, tell; its own halt,
    cancel and flatten find the batch's work done).

    Should it not confirm the breach (a fill booked between the screen and now changed the
    account), the account stays HALTED: a halt is lifted only through a four-eyes override
    (DESIGN.md, "Trading states"), and this one is audited as unconfirmed for the risk manager
    who reviews it.
    """
    account = evaluation_sync(account_id=breach.evaluated, marks=marks)
    if account.status == EvaluatedAccount.Status.ACTIVE and before != TradingState.HALTED:
        log.error(
            "the rules engine did not confirm the breach of trading account %s (%s): it stays "
            "halted until a risk manager's override",
            breach.account,
            breach.rule,
        )
        audit_record(
            action="risk.breach_unconfirmed",
            subject=("trading.tradingaccount", breach.account),
            actor_label=ACTOR_LABEL,
            before={"state": before},
            after={
                "rule": breach.rule,
                "reason": "The risk engine halted on a breach its rules engine then did not "
                "confirm (the account changed in between); a four-eyes override lifts it.",
            },
        )
    return account
