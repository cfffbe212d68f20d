"""Enforcing a frame's breaches as one batch (DESIGN.md, "The hot path", step 3).

The order, for all the frame's breaches together:

1. `breaches_halt`: HALTED committed for every breached account in ONE transaction (rows locked
   in primary-key order, one UPDATE per breached rule, one audit row per account on its chain).
   From that commit the pre-trade gate refuses every trader order on them: order_submit checks
   under the same row lock, so an order racing the halt either commits first (and is then
   cancelled in step 2) or sees HALTED.
2. `breach_enforce`, per account, off the frame loop (the engine's evaluation threads):
   `evaluation_sync` with the frame's marks. The rules engine is the only writer of rule state:
   it decides the verdict again from its checkpoint, journals it and hands the account to the
   lifecycle (`on_verdict`), which cancels resting orders, closes positions with reduce-only
   `system_flatten` orders through `order_submit`, fails the phase or funded account, audits
   and e-mails the trader. It finds the account already HALTED and leaves the state alone.

Why this shape rather than a loop of `evaluation_sync` calls: one breach's full lifecycle costs
~30-60 ms (cancel and flatten through order entry and the gate, the audit chain, the e-mail), so
the last of 1,000 accounts would be halted tens of seconds after the first. Halting first costs
a few milliseconds per hundred accounts, and the slow part then runs with no trader able to add
risk meanwhile.

The breach is confirmed before anything is written: the engine feeds the frame's marks to a
scratch copy of each account's rules engine (restored from its checkpoint; nothing persisted),
and only accounts it FAILS are halted here. Should the writer then not confirm it (a fill
booked in between changed the account), `breach_enforce` gives the account its state back,
audited.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction

from apps.challenges.evaluation import evaluation_sync
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.core import clock
from apps.core.audit import GENESIS, event_hash, jsonable
from apps.core.models import AuditEvent
from apps.trading.models import TradingAccount, TradingState
from apps.trading.services import TradingError, account_set_state

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


def audit_record_many(*, action: str, records: Sequence[tuple[int, object, object]]) -> None:
    """One audit event per trading account, appended to each account's own chain, inside the
    caller's transaction: `core.services.audit_record` for many subjects in three statements
    (the same per-subject advisory locks, taken in one sorted pass; the same hash)."""
    if not records:
        return
    ids = sorted({str(account) for account, _before, _after in records})
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
    for account, before, after in records:
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
            AuditEvent(
                subject_type=SUBJECT_TYPE,
                subject_id=subject_id,
                seq=seq,
                action=action,
                actor_id=None,
                actor_label=ACTOR_LABEL,
                before=before_json,
                after=after_json,
                personal={},
                at=at,
                prev_hash=prev_hash,
                hash=digest,
            )
        )
    AuditEvent.objects.bulk_create(rows)


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
    audits: list[tuple[int, object, object]] = []
    for pk, state in locked:
        changed = state != TradingState.HALTED
        halted.append(Halted(account=pk, before=state, changed=changed))
        if changed:
            rule = rule_of[pk]
            by_rule[rule].append(pk)
            audits.append(
                (pk, {"state": state}, {"state": TradingState.HALTED, "reason": halt_reason(rule)})
            )
    now = clock.now()
    for rule, pks in by_rule.items():
        TradingAccount.objects.filter(pk__in=pks).update(
            state=TradingState.HALTED, state_reason=halt_reason(rule), state_changed_at=now
        )
    audit_record_many(action="account.state", records=audits)
    return halted


def breach_enforce(*, breach: Breach, marks: list[dict], before: str) -> EvaluatedAccount:
    """The rules engine decides and the lifecycle enforces (cancel, flatten, fail, audit, tell).

    When it does not confirm the breach, the halt this module committed is undone (audited),
    unless someone changed the account's state since.
    """
    account = evaluation_sync(account_id=breach.evaluated, marks=marks)
    if account.status == EvaluatedAccount.Status.ACTIVE and before != TradingState.HALTED:
        trading = TradingAccount.objects.get(pk=breach.account)
        if trading.state == TradingState.HALTED and trading.state_reason == halt_reason(
            breach.rule
        ):
            try:
                account_set_state(
                    account=trading,
                    state=before,
                    reason="The rules engine did not confirm the breach the risk engine "
                    "screened (the account changed in between): trading resumes.",
                )
            except TradingError as exc:
                log.error("could not lift the halt of %s: %s", trading.pk, exc.message)
            log.warning("breach of %s not confirmed by the rules engine", breach.account)
    return account
