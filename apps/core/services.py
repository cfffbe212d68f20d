from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, models, transaction

from apps.core import clock, rows
from apps.core.audit import GENESIS, event_hash, jsonable
from apps.core.models import AuditEvent

Subject = models.Model | tuple[str, str | int]


def subject_key(subject: Subject) -> tuple[str, str]:
    if isinstance(subject, models.Model):
        return subject._meta.label_lower, str(subject.pk)
    kind, ident = subject
    return kind, str(ident)


@transaction.atomic(savepoint=False)  # always part of its caller's transaction
def audit_record(
    *,
    action: str,
    subject: Subject,
    actor: models.Model | None = None,
    actor_label: str = "",
    before: object = None,
    after: object = None,
    personal: dict | None = None,
) -> AuditEvent:
    """Append one event to the subject's chain, inside the caller's transaction.

    The lock is per subject (a transaction-scoped advisory lock), so audited writes on
    different accounts or people never wait for one another.
    """
    return rows.insert(
        audit_event_next(
            action=action,
            subject=subject,
            actor=actor,
            actor_label=actor_label,
            before=before,
            after=after,
            personal=personal,
        )
    )


def audit_chain_reads(subject: Subject) -> list[tuple[str, list]]:
    """The statements that lock the subject's audit chain until the transaction ends and read
    its last event, for `audit_event_next(chain=…)`. The second takes its own snapshot once
    the lock is held: it sees the chain's last committed event."""
    subject_type, subject_id = subject_key(subject)
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    return [
        ("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"{subject_type}:{subject_id}"]),
        (
            f"SELECT seq, hash FROM {table} WHERE subject_type = %s AND subject_id = %s "
            "ORDER BY seq DESC LIMIT 1",
            [subject_type, subject_id],
        ),
    ]


def audit_event_next(
    *,
    action: str,
    subject: Subject,
    actor: models.Model | None = None,
    actor_label: str = "",
    before: object = None,
    after: object = None,
    personal: dict | None = None,
    chain: list[list[tuple]] | None = None,
) -> AuditEvent:
    """The subject's next event, not yet saved, with the subject's chain locked until the
    caller's transaction ends: the caller inserts it in that transaction (with
    `rows.insert_many`, beside its own rows). `audit_record` for everyone else.

    `chain`: what `audit_chain_reads(subject)` returned, when the caller sent those statements
    earlier in this transaction, in a round trip of its own; else they are sent now."""
    if connection.get_autocommit():
        raise RuntimeError("audit_event_next needs a transaction: the chain's lock ends with it.")
    subject_type, subject_id = subject_key(subject)
    _, found = chain if chain is not None else rows.run(audit_chain_reads(subject))
    last = found[0] if found else None
    seq = last[0] + 1 if last else 1
    prev_hash = last[1] if last else GENESIS
    before_json, after_json = jsonable(before), jsonable(after)
    actor_id = actor.pk if actor is not None else None
    label = actor_label or ("" if actor is not None else "system")
    at = clock.now()
    return AuditEvent(
        subject_type=subject_type,
        subject_id=subject_id,
        seq=seq,
        action=action,
        actor_id=actor_id,
        actor_label=label,
        before=before_json,
        after=after_json,
        personal=jsonable(personal or {}),
        at=at,
        prev_hash=prev_hash,
        hash=event_hash(
            subject_type=subject_type,
            subject_id=subject_id,
            seq=seq,
            action=action,
            actor_id=actor_id,
            actor_label=label,
            before=before_json,
            after=after_json,
            at=at,
            prev_hash=prev_hash,
        ),
    )


@dataclass(frozen=True)
class ChainProblem:
    subject_type: str
    subject_id: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"{self.subject_type}:{self.subject_id} event {self.seq}: {self.problem}"


def audit_verify_chains() -> tuple[int, list[ChainProblem]]:
    """Recompute every chain; return (events checked, problems found)."""
    problems: list[ChainProblem] = []
    checked = 0
    current: tuple[str, str] | None = None
    expected_seq, prev_hash = 1, GENESIS
    rows = AuditEvent.objects.order_by("subject_type", "subject_id", "seq").iterator(
        chunk_size=5000
    )
    for event in rows:
        checked += 1
        key = (event.subject_type, event.subject_id)
        if key != current:
            current, expected_seq, prev_hash = key, 1, GENESIS
        if event.seq != expected_seq:
            problems.append(
                ChainProblem(*key, event.seq, f"expected event {expected_seq}: a row is missing")
            )
        if event.prev_hash != prev_hash:
            problems.append(ChainProblem(*key, event.seq, "does not follow the previous event"))
        recomputed = event_hash(
            subject_type=event.subject_type,
            subject_id=event.subject_id,
            seq=event.seq,
            action=event.action,
            actor_id=event.actor_id,
            actor_label=event.actor_label,
            before=event.before,
            after=event.after,
            at=event.at,
            prev_hash=event.prev_hash,
        )
        if recomputed != event.hash:
            problems.append(
                ChainProblem(*key, event.seq, "its content was changed after it was written")
            )
        expected_seq, prev_hash = event.seq + 1, event.hash
    return checked, problems
