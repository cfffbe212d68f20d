"""Websocket routes. Each app's consumers are listed here."""

from __future__ import annotations

from django.urls import path

from apps.accounts.consumers import UserEventsConsumer

websocket_urlpatterns = [
    path("ws/events/", UserEventsConsumer.as_asgi()),
]
