"""Listening to Channels groups from a synchronous test.

The project's channel layer is Redis pub/sub (apps/core/channel_layer.py): a channel belongs to
the event loop that made it, so subscribing, acting and receiving happen inside one loop, the
action in this thread (the test's database connection) through `sync_to_async`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer


def run_and_receive(
    groups: Iterable[str],
    action: Callable[[], object],
    *,
    until: Callable[[dict], bool] = lambda message: True,
    timeout: float = 10.0,
) -> tuple[object, dict]:
    """Subscribe to `groups`, run `action()`, and return its result and the first message pushed
    to the groups that satisfies `until` (TimeoutError when none arrives in `timeout` s)."""

    async def listen():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, channel)
        result = await sync_to_async(action)()
        async with asyncio.timeout(timeout):
            while True:
                message = await layer.receive(channel)
                if until(message):
                    return result, message

    return async_to_sync(listen)()
