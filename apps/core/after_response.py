"""Work a REST API answer need not wait for: done by the serving thread once the answer is on
its way to the client, instead of before it.

An order's after-commit sends (its event for the risk engine and the outbox worker's wake, a
Redis round trip) used to hold its answer back; they still happen at once, one step later.
Outside a serving thread (a test client, a Celery task, a command) `after_response` runs the
call at once, as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class _Pending(threading.local):
    calls: list[Callable[[], None]] | None = None


_pending = _Pending()


def after_response(call: Callable[[], None], *, first: bool = False) -> None:
    """`call()` once this thread's answer is on its way, or now outside a serving thread.

    Deferred, what it raises is logged (the answer is gone by then) and the calls after it
    still run; called now, it raises to the caller, as before. `first`: ahead of the calls
    already deferred (the response's close, which gives the connections back)."""
    calls = _pending.calls
    if calls is None:
        call()
    elif first:
        calls.insert(0, call)
    else:
        calls.append(call)


def collect() -> None:
    """From here on this thread defers `after_response` calls until `run_collected`."""
    _pending.calls = []


def run_collected() -> None:
    """Run what was deferred since `collect`, in order; stop deferring."""
    calls, _pending.calls = _pending.calls, None
    for call in calls or ():
        try:
            call()
        except BaseException:  # the serving thread goes on serving, whatever one call raised
            log.exception("work after a response failed")
