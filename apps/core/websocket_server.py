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
