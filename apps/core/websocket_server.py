"""The web process (daphne) tuned for many sockets that each receive a push or two a second.
Called by the ASGI entry point once everything is loaded."""

from __future__ import annotations

import gc

# The collector's generation thresholds for a web process (gen 0, 1, 2): Python's defaults
# are 700, 10, 10.
GC_THRESHOLDS = (700, 10, 100)


def gc_settle() -> None:
    """Keep what start-up loaded out of the collector, and make its full passes rare.

    Everything loaded by now lives as long as the process: frozen, it is never scanned. The
    sockets' objects (a thousand connections hold hundreds of thousands: Twisted, autobahn
    and Channels state) are scanned by every full pass, which paused a daphne for 75–105 ms
    every 12 s with 1,000 sockets and found nothing to free: each pause delayed every push of
    that second (bench/ws_fanout.py). With the third threshold at 100 instead of 10 a full
    pass comes ten times less often; young garbage is still collected as before."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
