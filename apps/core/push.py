"""Live pushes to people's open pages, sent only after the transaction commits."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def push_to_group(group: str, event: dict) -> None:
    """Send now (use from a process with no open transaction, e.g. an engine loop)."""
    async_to_sync(get_channel_layer().group_send)(group, {"type": "user.event", "event": event})


def push_to_user(user_id: int, event: dict) -> None:
    """Queue an event for a person's open sockets; it leaves when the transaction commits."""
    transaction.on_commit(lambda: push_to_group(user_group(user_id), event))
