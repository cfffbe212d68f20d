"""The project's channel layer: channels_redis's pub/sub layer, plus one batched send.

Live pushes are the latest state of something (a snapshot, an aggregate, an alert to show):
nothing is to be kept for a socket that is not there, which is what Redis pub/sub gives. Each
daphne process holds one subscription connection and hands a group's message to its local
sockets, so a send is one PUBLISH, whatever the number of processes.

`group_send_many` publishes many groups' messages in one pipelined round trip: the risk engine
pushes a snapshot per account per frame (apps/risk/push.py), thousands at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from channels_redis.pubsub import RedisPubSubChannelLayer


class PubSubChannelLayer(RedisPubSubChannelLayer):
    async def group_send_many(self, items: Iterable[tuple[str, Mapping]]) -> int:
        """Publish each (group, message) pair, one pipeline per Redis host; returns the count.

        Uses the loop layer's own shard connections (channels_redis 4.3, pinned): the same
        client `group_send` publishes through, so ordering per group is kept.
        """
        layer = self._get_layer()
        by_shard: dict[object, list[tuple[str, bytes]]] = defaultdict(list)
        for group, message in items:
            name = layer._get_group_channel_name(group)
            by_shard[layer._get_shard(name)].append((name, self.serialize(dict(message))))
        count = 0
        for shard, pairs in by_shard.items():
            async with shard._lock:
                shard._ensure_redis()
                async with shard._redis.pipeline(transaction=False) as pipe:
                    for name, data in pairs:
                        pipe.publish(name, data)
                    await pipe.execute()
            count += len(pairs)
        return count
