"""The audit chain's pure part: canonical payloads and their hashes.

Each subject (an account, a person, a payout…) has its own chain: every event's hash
covers its payload and the previous event's hash, so a changed, removed or reordered row
breaks every hash after it. Personal data is never in the hashed payload (it sits in the
event's `personal` field, which erasure may blank), so erasing a person never breaks a chain.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from enum import Enum
from uuid import UUID

GENESIS = "0" * 64


def jsonable(value: object) -> object:
    """The JSON form the audit log stores and hashes: Decimals and times as strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def event_hash(
    *,
    subject_type: str,
    subject_id: str,
    seq: int,
    action: str,
    actor_id: int | None,
    actor_label: str,
    before: object,
    after: object,
    at: datetime,
    prev_hash: str,
) -> str:
    payload = {
        "subject": [subject_type, subject_id],
        "seq": seq,
        "action": action,
        "actor": [actor_id, actor_label],
        "before": before,
        "after": after,
        "at": at.isoformat(),
        "prev": prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
