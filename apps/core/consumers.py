"""The base of the project's websocket consumers."""

from __future__ import annotations

import asyncio
import functools
from decimal import Decimal

import orjson
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer


class _Failed:
    """A source's exception, carried to the consumer's loop to be raised there."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError  # orjson names the type in its own error


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """A JSON websocket consumer that forwards pushes at a small cost per message.

    Channels' consumer loop waits on its two sources (the socket and the channel layer) with a
    fresh task and `asyncio.wait` for every message, and closes stale database connections in
    the database thread before every handler: for sockets that each receive a snapshot a
    second, most of daphne's time. Here each source is read by one long-lived task into one
    inbox, handled one message at a time in arrival order, as Channels does; our handlers reach
    the database only through `database_sync_to_async`, which closes stale connections itself
    before and after each call, so the per-message close is skipped.
    """

    async def __call__(self, scope, receive, send):
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        sources = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            # The pub/sub layer answers through a per-loop layer behind a proxy coroutine;
            # reading that layer directly saves a coroutine and a look-up on every message.
            layer = getattr(self.channel_layer, "_get_layer", None)
            receiver = layer() if layer is not None else self.channel_layer
            self.channel_receive = functools.partial(receiver.receive, self.channel_name)
            sources.append(self.channel_receive)
        inbox: asyncio.Queue = asyncio.Queue()

        async def pump(source) -> None:
            try:
                while True:
                    inbox.put_nowait(await source())
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # raised again by the loop below
                inbox.put_nowait(_Failed(exc))

        pumps = [asyncio.create_task(pump(source)) for source in sources]
        try:
            while True:
                message = await inbox.get()
                if isinstance(message, _Failed):
                    raise message.exc
                await self.dispatch(message)
        except StopConsumer:
            pass
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    @classmethod
    async def encode_json(cls, content) -> str:
        # Every push is encoded here, once per socket: orjson takes a tenth of the standard
        # library's time for a snapshot (bench/ws_fanout.py). Money may arrive as Decimal.
        return orjson.dumps(content, default=_json_default).decode()

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
