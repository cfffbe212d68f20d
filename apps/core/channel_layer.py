"""The project's channel layer: channels_redis's pub/sub layer, plus one batched send.

Live pushes are the latest state of something (a snapshot, an aggregate, an alert to show):
nothing is to be kept for a socket that is not there, which is what Redis pub/sub gives. Each
daphne process holds one subscription connection and hands a group's message to its local
sockets, so a send is one PUBLISH, whatever the number of processes.

`group_send_many` publishes many groups' messages in one round trip: the risk engine pushes a
snapshot per account per frame (apps/risk/push.py), thousands at a time.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping

from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# One script call publishes a whole batch: ARGV holds channel, payload, channel, payload, …
# A pipeline of PUBLISH commands costs the sender a reply to read and parse per message, which
# was most of the engine's pusher time at 2,000 snapshots a frame (bench/ws_fanout.py); the
# script answers once. Redis runs it atomically, so messages keep their order per channel.
PUBLISH_MANY = """
for i = 1, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
"""


async def _receive_blocking(shard) -> None:
    """A shard's reader (in place of channels_redis's `_do_receiving`): it blocks on the
    subscription connection until a message arrives, where the library's polls with a 0.1 s
    timeout per message (a timer set and cancelled for each of thousands a second).

    When Redis drops the connection the reader closes its end and reads again: redis-py then
    connects anew and its connect callback subscribes to every channel again. Pushes sent
    while it was away are lost, as pub/sub promises (the next snapshot replaces them)."""
    while True:
        pubsub = shard._pubsub
        try:
            if pubsub is not None and pubsub.subscribed:
                response = await pubsub.parse_response(block=True)
                shard._receive_message(await pubsub.handle_message(response, True))
            else:
                await asyncio.sleep(0.1)
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.warning("channel layer: Redis connection lost (%s); subscribing again", exc)
            if pubsub is not None and pubsub.connection is not None:
                await pubsub.connection.disconnect()
            await asyncio.sleep(0.2)
        except BaseException:
            log.exception("Unexpected exception in the channel layer's receive task")
            await asyncio.sleep(1)


class PubSubChannelLayer(RedisPubSubChannelLayer):
    def _get_layer(self):
        layer = super()._get_layer()
        if not getattr(layer, "_reads_blocking", False):  # once per event loop's layer
            for shard in layer._shards:
                shard._do_receiving = functools.partial(_receive_blocking, shard)
            layer._reads_blocking = True
        return layer

    async def group_send_many(self, items: Iterable[tuple[str, Mapping]]) -> int:
        """Publish each (group, message) pair, one script call per Redis host; returns the count.

        Uses the loop layer's own shard connections (channels_redis 4.3, pinned): the client
        `group_send` publishes through, under the same lock, so ordering per group is kept.
        """
        layer = self._get_layer()
        by_shard: dict[object, list[bytes | str]] = defaultdict(list)
        for group, message in items:
            name = layer._get_group_channel_name(group)
            by_shard[layer._get_shard(name)] += (name, self.serialize(dict(message)))
        count = 0
        for shard, args in by_shard.items():
            async with shard._lock:
                shard._ensure_redis()
                script = getattr(shard, "_publish_many", None)
                if script is None:
                    script = shard._publish_many = shard._redis.register_script(PUBLISH_MANY)
                count += int(await script(keys=[], args=args))
        return count
