"""The project's channel layer (Redis pub/sub with a batched send) and the consumers' base loop,
on the real Redis."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings

from apps.core.channel_layer import PubSubChannelLayer
from apps.core.consumers import LiveConsumer
from apps.risk.push import GroupPusher

pytestmark = pytest.mark.services


def test_the_project_uses_the_pub_sub_layer():
    assert isinstance(get_channel_layer(), PubSubChannelLayer)
    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] == [settings.REDIS_URL]


def test_a_batched_send_reaches_each_groups_channels_in_order_and_skips_empty_groups():
    async def scenario():
        layer = get_channel_layer()
        first, second = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("t.a", first)
        await layer.group_add("t.b", first)
        await layer.group_add("t.b", second)
        sent = await layer.group_send_many(
            [
                ("t.a", {"type": "x", "n": 1}),
                ("t.nobody", {"type": "x", "n": 2}),  # nobody listens: dropped, no error
                ("t.b", {"type": "x", "n": 3}),
                ("t.a", {"type": "x", "n": 4}),
            ]
        )
        got_first = [await asyncio.wait_for(layer.receive(first), 5) for _ in range(3)]
        got_second = await asyncio.wait_for(layer.receive(second), 5)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(second), 0.3)
        await layer.flush()
        return sent, [m["n"] for m in got_first], got_second["n"]

    assert async_to_sync(scenario)() == (4, [1, 3, 4], 3)


def test_the_engines_pusher_sends_the_newest_message_per_group_in_batches():
    async def listen(until: int) -> list[int]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        for n in range(300):
            await layer.group_add(f"t.acct.{n}", channel)
        pusher = GroupPusher(chunk=16)  # 128 a pipeline: three pipelines
        pusher.send("t.acct.0", {"type": "s", "n": -1})  # superseded before it left, or sent
        for n in range(300):
            pusher.send(f"t.acct.{n}", {"type": "s", "n": n})
        assert await asyncio.to_thread(pusher.flush, 10)
        received = []
        while len(received) < until:
            received.append((await asyncio.wait_for(layer.receive(channel), 5))["n"])
        await asyncio.to_thread(pusher.close)
        await layer.flush()
        return received, pusher.failed

    received, failed = async_to_sync(listen)(300)
    assert failed == 0
    assert sorted(n for n in received if n >= 0) == list(range(300))


class Recorder(LiveConsumer):
    """Joins `t.room`, echoes the socket's messages, records when each handler ran."""

    log: list[tuple[str, str]] = []

    async def connect(self):
        await self.channel_layer.group_add("t.room", self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard("t.room", self.channel_name)

    async def receive_json(self, content, **kwargs):
        self.log.append(("start", content["n"]))
        await asyncio.sleep(0.2)  # a slow handler: the next message waits for it
        self.log.append(("end", content["n"]))
        await self.send_json({"echo": content["n"]})

    async def room_event(self, message):
        self.log.append(("start", message["n"]))
        self.log.append(("end", message["n"]))
        await self.send_json({"room": message["n"]})

    async def room_boom(self, message):
        raise RuntimeError(f"handler failed on {message['n']}")


def test_a_live_consumer_handles_socket_and_group_messages_one_at_a_time_in_order():
    async def scenario():
        Recorder.log = []
        communicator = WebsocketCommunicator(Recorder.as_asgi(), "/ws/t/")
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_json_to({"n": "s1"})
        await asyncio.sleep(0.01)  # s1's handler is sleeping when the group message arrives
        await get_channel_layer().group_send("t.room", {"type": "room.event", "n": "g1"})
        await communicator.send_json_to({"n": "s2"})
        replies = [await communicator.receive_json_from(5) for _ in range(3)]
        await communicator.disconnect()  # returns only once the consumer (and its readers) ended
        return replies, Recorder.log

    replies, log = async_to_sync(scenario)()
    # s2 and g1 arrive while s1's handler sleeps (which of them first is the network's call):
    # each handler ran alone, start to end, and each reply left.
    assert log[:2] == [("start", "s1"), ("end", "s1")]
    assert [kind for kind, _ in log] == ["start", "end"] * 3
    assert [n for _, n in log[::2]] == [n for _, n in log[1::2]]
    assert sorted(map(str, replies)) == sorted(
        map(str, [{"echo": "s1"}, {"room": "g1"}, {"echo": "s2"}])
    )


def test_a_failing_handler_ends_the_consumer_with_its_error():
    async def scenario():
        communicator = WebsocketCommunicator(Recorder.as_asgi(), "/ws/t/")
        assert (await communicator.connect())[0]
        await get_channel_layer().group_send("t.room", {"type": "room.boom", "n": 7})
        with pytest.raises(RuntimeError, match="handler failed on 7"):
            await communicator.wait(5)

    async_to_sync(scenario)()


def test_a_message_of_an_unknown_type_is_an_error_naming_it():
    async def scenario():
        communicator = WebsocketCommunicator(Recorder.as_asgi(), "/ws/t/")
        assert (await communicator.connect())[0]
        await get_channel_layer().group_send("t.room", {"type": "room.unknown"})
        with pytest.raises(ValueError, match="room.unknown"):
            await communicator.wait(5)

    async_to_sync(scenario)()


def test_a_batch_larger_than_one_script_call_keeps_every_groups_order():
    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        for n in range(5):
            await layer.group_add(f"t.order.{n}", channel)
        # 5 groups × 200 messages, interleaved, in one call: each group's come out in order.
        sent = await layer.group_send_many(
            (f"t.order.{i % 5}", {"type": "x", "g": i % 5, "n": i // 5}) for i in range(1000)
        )
        got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(1000)]
        await layer.flush()
        return sent, got

    sent, got = async_to_sync(scenario)()
    assert sent == 1000
    for group in range(5):
        assert [m["n"] for m in got if m["g"] == group] == list(range(200))


def test_a_live_consumer_sends_decimals_and_nested_snapshots_as_json():
    class Snapshot(LiveConsumer):
        async def connect(self):
            await self.accept()
            await self.send_json(
                {"balance": Decimal("100000.50"), "positions": [{"coin": "BTC", "size": "1.5"}]}
            )

    async def scenario():
        communicator = WebsocketCommunicator(Snapshot.as_asgi(), "/ws/t/")
        assert (await communicator.connect())[0]
        raw = await communicator.receive_from(5)
        await communicator.disconnect()
        return raw

    raw = async_to_sync(scenario)()
    assert json.loads(raw) == {
        "balance": "100000.50",
        "positions": [{"coin": "BTC", "size": "1.5"}],
    }


def test_a_live_consumer_refuses_what_json_cannot_carry_by_naming_its_type():
    with pytest.raises(TypeError, match="not JSON serializable: set"):
        async_to_sync(LiveConsumer.encode_json)({"x": {1, 2}})


def test_the_web_process_freezes_start_up_and_makes_full_collections_rare():
    import gc

    import propfirm.asgi  # noqa: F401  (the entry point settles the collector)
    from apps.core.websocket_server import GC_THRESHOLDS

    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[2] > 10  # Python's default makes a full pass ten times as often
    assert gc.get_freeze_count() > 0


def test_the_layers_reader_subscribes_again_after_redis_drops_its_connection():
    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("t.drop", channel)
        await layer.group_send("t.drop", {"type": "x", "n": 1})
        first = await asyncio.wait_for(layer.receive(channel), 5)
        from apps.core.redis import get_redis

        killed = await asyncio.to_thread(get_redis().client_kill_filter, _type="pubsub")
        # One receive waits throughout (a cancelled receive would drop the channel), while a
        # message goes out every 0.25 s until the reader has reconnected and subscribed again.
        waiter = asyncio.ensure_future(layer.receive(channel))
        for n in range(2, 60):
            await layer.group_send("t.drop", {"type": "x", "n": n})
            done, _ = await asyncio.wait({waiter}, timeout=0.25)
            if done:
                break
        got = waiter.result() if waiter.done() else None
        await layer.flush()
        return first["n"], killed, got

    first, killed, got = async_to_sync(scenario)()
    assert first == 1 and killed >= 1
    assert got is not None and got["n"] >= 2
