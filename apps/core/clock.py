"""The one source of "now": timezone-aware UTC, which tests and demos can move.

In development and tests (settings.CLOCK_SHARED) the clock's state lives in Redis, so
moving it moves it for every process at once: the web server, the workers and the
engines. The state is either an offset from the machine's time (time keeps flowing,
shifted) or a frozen instant. In production now() is the machine's UTC time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from django.conf import settings

from apps.core.redis import get_redis

KEY = "propfirm:clock"


class ClockError(RuntimeError):
    pass


def _machine_now() -> datetime:
    return datetime.now(UTC)


def _state() -> dict | None:
    if not settings.CLOCK_SHARED:
        return None
    raw = get_redis().get(KEY)
    return json.loads(raw) if raw else None


def now() -> datetime:
    state = _state()
    if state is None:
        return _machine_now()
    if state["mode"] == "frozen":
        return datetime.fromisoformat(state["at"])
    return _machine_now() + timedelta(microseconds=state["offset_us"])


def _write(state: dict | None) -> None:
    if not settings.CLOCK_SHARED:
        raise ClockError("the clock can only be moved where CLOCK_SHARED is on (never production)")
    if state is None:
        get_redis().delete(KEY)
    else:
        get_redis().set(KEY, json.dumps(state))


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ClockError(f"{at!r} has no time zone")
    return at.astimezone(UTC)


def travel(to: datetime) -> None:
    """From now on the clock reads `to`, then keeps running."""
    delta = _aware(to) - _machine_now()
    _write({"mode": "offset", "offset_us": delta // timedelta(microseconds=1)})


def freeze(at: datetime) -> None:
    """The clock reads `at` until it is moved again."""
    _write({"mode": "frozen", "at": _aware(at).isoformat()})


def advance(delta: timedelta) -> datetime:
    """Move the clock forward (or back, with a negative delta) in every process."""
    state = _state()
    if state is not None and state["mode"] == "frozen":
        freeze(datetime.fromisoformat(state["at"]) + delta)
    else:
        travel(now() + delta)
    return now()


def reset() -> None:
    """Back to the machine's time."""
    _write(None)


def describe() -> str:
    state = _state()
    if state is None:
        return f"{now().isoformat()} (machine time)"
    if state["mode"] == "frozen":
        return f"{now().isoformat()} (frozen)"
    return f"{now().isoformat()} (machine time {state['offset_us'] / 1e6:+.0f} s)"
