"""Idempotency-Key for every write a client may retry: the first answer is stored and
replayed for every repeat; the same key with a different request is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction

from apps.core import clock
from apps.core.models import IdempotencyRecord

ABANDONED = timedelta(seconds=60)


class IdempotencyError(Exception):
    def __init__(self, message: str, code: str, status: int):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def request_hash(method: str, path: str, body: object) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent(
    *, scope: str, key: str, digest: str, run: Callable[[], tuple[int, dict]]
) -> tuple[int, dict, bool]:
    """(status, body, replayed). `run` does the write and returns its answer."""
    if not key or len(key) > 200:
        raise IdempotencyError(
            "Send an Idempotency-Key header (1 to 200 characters) with every write.",
            "idempotency_key_required",
            400,
        )
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                scope=scope, key=key, request_hash=digest, created_at=clock.now()
            )
    except IntegrityError:
        record = IdempotencyRecord.objects.get(scope=scope, key=key)
        if record.request_hash != digest:
            raise IdempotencyError(
                "This Idempotency-Key was already used with a different request.",
                "idempotency_key_reused",
                422,
            ) from None
        if record.status_code is None and clock.now() - record.created_at > ABANDONED:
            # Its process died mid-request; the write below is itself safe to repeat.
            IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=clock.now())
        elif record.status_code is None:
            raise IdempotencyError(
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                "idempotency_in_progress",
                409,
            ) from None
        else:
            return record.status_code, record.response, True
    try:
        status, body = run()
    except BaseException:
        record.delete()  # nothing was done: the client may retry with the same key
        raise
    if status >= 500 or status == 429:
        record.delete()
    else:
        IdempotencyRecord.objects.filter(pk=record.pk).update(status_code=status, response=body)
    return status, body, False
