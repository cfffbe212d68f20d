"""Trading events on a Redis stream, for the risk engine (which catches up from PostgreSQL
after a restart, so the stream is never the only copy of anything)."""

from __future__ import annotations

import json
import logging

import redis

from apps.core.redis import get_redis

STREAM = "trading:events"
log = logging.getLogger(__name__)


def publish(kind: str, **fields: object) -> None:
    """Called after commit. A Redis outage is logged, never raised into a committed write."""
    try:
        publish_on(get_redis(), kind, **fields)
    except redis.RedisError:
        log.exception("could not publish %s on %s", kind, STREAM)


def publish_on(client, kind: str, **fields: object) -> None:
    """The event's XADD on a Redis client or pipeline (a caller sending it with other
    commands in one round trip handles Redis errors itself)."""
    client.xadd(
        STREAM, {"kind": kind, "data": json.dumps(fields)}, maxlen=100_000, approximate=True
    )
