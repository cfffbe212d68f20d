"""Websocket routes. Each app's consumers are listed here."""

from __future__ import annotations

from django.urls import path

from apps.accounts.consumers import UserEventsConsumer
from apps.portal.consumers import AccountConsumer
from apps.risk.consumers import FirmDashboardConsumer

websocket_urlpatterns = [
    path("ws/events/", UserEventsConsumer.as_asgi()),
    path("ws/accounts/<int:account_id>/", AccountConsumer.as_asgi()),
    path("ws/risk/firm/", FirmDashboardConsumer.as_asgi()),
]
