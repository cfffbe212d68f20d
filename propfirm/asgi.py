"""ASGI entry point: HTTP through Django, websockets through Channels, on one daphne."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "propfirm.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.core.asgi_http import (  # noqa: E402
    ApiRouter,
    OneHopASGIHandler,
    skip_twisted_access_log,
    skip_twisted_form_parsing,
)
from apps.core.websocket_server import gc_settle  # noqa: E402
from propfirm.celery import producer_warm  # noqa: E402
from propfirm.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The REST API in one thread hop a request (apps/core/asgi_http.py), the rest as usual.
        "http": ApiRouter(
            api=OneHopASGIHandler(threads=settings.HTTP_THREADS), default=django_asgi_app
        ),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

skip_twisted_form_parsing()  # daphne hands Django the raw body (apps/core/asgi_http.py)
skip_twisted_access_log()  # daphne's access log, not a second one by Twisted (same)
producer_warm()  # the first order of this process does not pay for the broker connection
gc_settle()  # after everything start-up loads (apps/core/websocket_server.py)
