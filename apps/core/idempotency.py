"""Idempotency-Key for every write a client may retry: the first answer is stored and
replayed for every repeat; the same key with a different request is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db import connection, transaction

from apps.core import clock, rows
from apps.core.models import IdempotencyRecord


class IdempotencyError(Exception):
    def __init__(self, message: str, code: str, status: int):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def request_hash(method: str, path: str, body: object) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent(
    *,
    scope: str,
    key: str,
    digest: str,
    run: Callable[..., tuple[int, dict]],
    reads: list[tuple[str, list]] = (),
) -> tuple[int, dict, bool]:
    """(status, body, replayed). `run` does the write and returns its answer.

    The record and the write commit together. A concurrent repeat's insert waits on the
    unique index until the first request commits, then replays its answer; if the first
    rolled back, the repeat goes ahead as if it were first.

    `reads`: statements the write needs (`rows.run`'s), sent in the claim's round trip; `run`
    then gets each one's rows as an argument. What `run` raises undoes the claim. Writes `run`
    holds back (`rows.insert_many(later=True)`) go with the answer and the COMMIT.
    """
    if not key or len(key) > 200:
        raise IdempotencyError(
            "Send an Idempotency-Key header (1 to 200 characters) with every write.",
            "idempotency_key_required",
            400,
        )
    with transaction.atomic(), rows.write_behind():
        record_id, *found = _claim(scope, key, digest, reads)
        if record_id is None:
            record = IdempotencyRecord.objects.get(scope=scope, key=key)
            if record.request_hash != digest:
                raise IdempotencyError(
                    "This Idempotency-Key was already used with a different request.",
                    "idempotency_key_reused",
                    422,
                )
            return record.status_code, record.response, True
        status, body = run(*found)
        if status >= 500 or status == 429:
            transaction.set_rollback(True)  # nothing stored: the client may retry the key
        else:
            _store(record_id, status, body)  # the block's last statement
        return status, body, False


def _claim(scope: str, key: str, digest: str, reads=()) -> list:
    """[the key's new record id, or None when the key is already recorded; then the rows of
    each of `reads`], in one round trip.

    One statement for the claim, no savepoint: a concurrent first request's uncommitted insert
    makes this one wait on the unique index; once that commits there is nothing to insert
    (None), once it rolls back this insert goes ahead.
    """
    table = IdempotencyRecord._meta.db_table
    claimed, *found = rows.run(
        [
            (
                f"INSERT INTO {table} (scope, key, request_hash, created_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (scope, key) DO NOTHING RETURNING id",
                [scope, key, digest, clock.now()],
            ),
            *reads,
        ]
    )
    return [claimed[0][0] if claimed else None, *found]


def _store(record_id: int, status: int, body: dict) -> None:
    """The answer, on the key's record (one statement, no query to compile), in one round trip
    with the writes `run` held back (`rows.write_behind`) and, when the claim's transaction is
    the outermost, its COMMIT."""
    table = IdempotencyRecord._meta.db_table
    response = IdempotencyRecord._meta.get_field("response").get_db_prep_save(body, connection)
    rows.run(
        [
            (
                f"UPDATE {table} SET status_code = %s, response = %s WHERE id = %s",
                [status, response, record_id],
            )
        ],
        commit=rows.can_commit(),
    )
