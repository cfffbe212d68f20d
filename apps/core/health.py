"""Is each service this platform needs reachable? Used by /healthz and by `make run`."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlparse

import redis
from django.conf import settings
from django.db import connection
from kombu import Connection


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()


def _broker() -> None:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "redis": _redis, "broker": _broker}


def safe_address(url: str) -> str:
    """host:port of a service URL, never its password."""
    parsed = urlparse(url)
    return f"{parsed.hostname}:{parsed.port or ''}".rstrip(":")


def check_all() -> dict[str, dict]:
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            results[name] = {"ok": True}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return results
