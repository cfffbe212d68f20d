"""Django's HTTP handling for the trader REST API under daphne, in one thread hop a request.

Django's own ASGI handler runs a sync project (every middleware and view here is sync) by
hopping between daphne's event loop and worker threads several times a request: the
request_started signal, the middleware chain, back to the loop between a sync middleware and
the view, the view, the response's close. Each request gets a new thread, and with it a new
database wrapper. Measured on this 2-core machine, that machinery cost about 3 ms of CPU a
request, more than the API's own work (bench/order_accept.py).

This handler reads the body on the loop, then runs the whole of Django's sync path (signals,
the project's full middleware chain, the view, the response's close) in one call on a fixed
pool of threads, as a threaded WSGI server would, and sends the rendered response from the
loop. Each pool thread keeps its database wrapper; its connection still goes back to the
connection pool at the end of every request (request_finished), as before. The response's
close and what else need not hold the answer back (apps/core/after_response.py) run on the
same thread just after it hands the answer to the loop, before it takes the next request.

Only what it can serve whole goes through it: `ApiRouter` sends paths under `/api/v1/`
here and everything else (pages, the admin, static files, streamed downloads) to Django's
ASGI handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading

from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.urls import set_script_prefix

from apps.core import after_response


class OneHopASGIHandler(ASGIHandler):
    """Django's ASGI handler with the sync middleware chain, run in one pool thread a request."""

    def __init__(self, *, threads: int):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.workers = Workers(threads)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django serves only HTTP here, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        # If this task is cancelled meanwhile, the pool thread still finishes the request and
        # releases what it holds (the body file, its connections): nothing here needs undoing.
        response = await self.workers.run(self._respond, scope, body_file)
        with contextlib.suppress(asyncio.CancelledError):  # the client went away
            await self.send_response(response, send)
        if response.streaming:
            # Not expected under /api/v1/ (every answer is rendered whole); served correctly,
            # but the serving thread's connection waits for that thread's next request.
            await self.workers.run(response.close)

    def _respond(self, scope, body_file):
        """The sync path, in a pool thread: what a WSGI server's thread would do."""
        try:
            set_script_prefix(get_script_prefix(scope))
            signals.request_started.send(sender=self.__class__, scope=scope)
            request, response = self.create_request(scope, body_file)
            if request is not None:
                response = self.get_response(request)  # turns a view's exception into a 500
                response._handler_class = self.__class__
        except BaseException:
            signals.request_finished.send(sender=self.__class__)  # connections released
            raise
        finally:
            body_file.close()
        if not response.streaming:
            # request_finished (this thread's connections go back to the pool) once the
            # answer is on its way, before this thread takes the next request.
            after_response.after_response(response.close, first=True)
        return response


class Workers:
    """A fixed set of threads running calls for an event loop: the loop awaits each call's
    answer. What `loop.run_in_executor` does, without a concurrent future chained to an asyncio
    one and the executor's per-call bookkeeping (measured: about a quarter of the loop thread's
    time per order, bench/order_accept.py). The threads start with the first call."""

    def __init__(self, count: int):
        if count < 1:
            raise ValueError(f"At least one worker thread is needed, not {count}.")
        self.count = count
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    def run(self, fn, *args) -> asyncio.Future:
        """`fn(*args)` on a worker thread; a future of its result (or its exception)."""
        if not self._started:
            self._start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((loop, future, fn, args))
        return future

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for n in range(self.count):
                threading.Thread(target=self._serve, name=f"http_{n}", daemon=True).start()
            self._started = True

    def _serve(self) -> None:
        while True:
            loop, future, fn, args = self._calls.get()
            after_response.collect()
            try:
                outcome = (fn(*args), None)
            except BaseException as exc:  # handed to the awaiting task, as an executor would
                outcome = (None, exc)
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting now
                loop.call_soon_threadsafe(_settle, future, *outcome)
            del loop, future, fn, args, outcome  # nothing held while idle
            after_response.run_collected()  # while the loop sends the answer


def _settle(future: asyncio.Future, result, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class ApiRouter:
    """HTTP under `prefix` to the one-hop handler, everything else to Django's ASGI handler."""

    def __init__(self, *, api, default, prefix: str = "/api/v1/"):
        self.api, self.default, self.prefix = api, default, prefix

    async def __call__(self, scope, receive, send):
        app = self.api if scope.get("path", "").startswith(self.prefix) else self.default
        await app(scope, receive, send)


def skip_twisted_form_parsing() -> None:
    """Have daphne's requests leave POST bodies unparsed by Twisted.

    Twisted's HTTP request parses every POST's Content-Type with the email package, and a form
    body into `request.args`, which daphne never reads: it hands the raw body to the ASGI
    application, and Django parses forms itself. That parse cost about 0.2-0.35 ms of a web
    process's CPU per POST, the same for a JSON order as for a form (bench/order_accept.py).
    Twisted's own `parsePOSTFormSubmission` switch turns it off; daphne builds its requests
    from `daphne.http_protocol.WebRequest` without passing it, so that name is pointed at a
    subclass that passes it. Called once, by the ASGI entry point (propfirm/asgi.py)."""
    from daphne import http_protocol

    if getattr(http_protocol.WebRequest, "_form_parsing_skipped", False):
        return

    class WebRequest(http_protocol.WebRequest):
        _form_parsing_skipped = True

        def __init__(self, *args, **kwargs):
            kwargs.setdefault("parsePOSTFormSubmission", False)
            super().__init__(*args, **kwargs)

    http_protocol.WebRequest = WebRequest


def skip_twisted_access_log() -> None:
    """Have Twisted's HTTP factory write no access line of its own under daphne.

    daphne writes the access log (its `AccessLogGenerator`, to stdout or `--access-log`);
    Twisted's `HTTPFactory.log` formats a second, combined-format line for every request and
    hands it to Twisted's log, which daphne sends to nowhere (verbosity 0 or 1) or into Python's
    logging beside its own line (verbosity 2 and up). That line cost about 1% of a web
    process's CPU per order (bench/order_accept.py). daphne's factory, a subclass of Twisted's,
    gets a `log` that does nothing. Called once, by the ASGI entry point (propfirm/asgi.py)."""
    from daphne import http_protocol

    def log(self, request) -> None:
        """No second access line: daphne's own access log has the request."""

    http_protocol.HTTPFactory.log = log
