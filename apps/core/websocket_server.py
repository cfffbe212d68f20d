"""daphne's websocket stack (Twisted + autobahn), tuned for many sockets that each receive a
push or two a second. Called by the ASGI entry point before it serves anything."""

from __future__ import annotations


def _plain(value, *args, **kwargs):
    return value


def autobahn_quiet_debug_helpers() -> None:
    """Autobahn builds the arguments of its per-frame debug log lines before the logger drops
    them: `hltype(...)` and `hlval(...)` colour text through click (installed with Celery) for
    every frame sent or received, whatever the log level, which was about a fifth of daphne's
    time per websocket message (bench/ws_fanout.py). Those helpers only decorate debug text,
    so the modules that call them per frame get the identity instead; a debug line, if one is
    ever turned on, shows the plain values."""
    from autobahn.twisted import websocket as twisted_websocket
    from autobahn.websocket import protocol

    for module in (protocol, twisted_websocket):
        for name in ("hl", "hltype", "hlval", "hlid"):
            if hasattr(module, name):
                setattr(module, name, _plain)


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
    import gc

    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
