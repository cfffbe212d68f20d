"""Helpers for the market tests: reading the recorded Hyperliquid answers, a Redis proxy that a
test can cut, and a fake Hyperliquid websocket server replaying recorded messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import socket
import threading
from pathlib import Path

import yaml
from websockets.asyncio.server import serve

from tests.conftest import shared_path

FIXTURES = ("fixtures", "hyperliquid")
BUILT_IN_META = {
    "universe": [
        {"name": "BTC", "szDecimals": 5, "maxLeverage": 40},
        {"name": "ETH", "szDecimals": 4, "maxLeverage": 25},
        {"name": "SOL", "szDecimals": 2, "maxLeverage": 20},
    ]
}


def fixture(relative: str) -> Path:
    return shared_path(*FIXTURES, *relative.split("/"))


def sample(relative: str) -> object:
    return json.loads(fixture(f"samples/{relative}").read_text())


def cassette_answer(name: str, request_type: str) -> object:
    data = yaml.safe_load(fixture(f"cassettes/{name}").read_text())
    for interaction in data["interactions"]:
        if json.loads(interaction["request"]["body"]).get("type") == request_type:
            return json.loads(interaction["response"]["body"]["string"])
    raise LookupError(f"no {request_type} call in {name}")


def recorded_ctxs() -> dict[str, dict]:
    """Recorded perp asset contexts by coin: samples/ws_all_dexs_asset_ctxs.json lists the main
    dex's contexts by asset index, and an asset's index is its place in the universe, which
    Hyperliquid only ever appends to, so the 2023 universe of the cassettes names the first 28
    (their prices agree: index 0 is BTC at 77562, 1 ETH at 2123.7, 5 SOL at 86.148)."""
    universe = cassette_answer("test_get_info.yaml", "meta")["universe"]
    dexes = dict(sample("ws_all_dexs_asset_ctxs.json")["data"]["ctxs"])
    return {entry["name"]: ctx for entry, ctx in zip(universe, dexes[""], strict=False)}


# --- a TCP proxy in front of Redis that the test can cut ---------------------------------------


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to Redis. `cut()` closes every connection and refuses new
    ones (accepts then closes at once) until `restore()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                sock.close()

    def cut(self) -> None:
        self.down.set()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()


# --- a fake Hyperliquid websocket server -------------------------------------------------------


class FakeHyperliquid:
    """Answers subscriptions as Hyperliquid does: an acknowledgement on `subscriptionResponse`,
    then the data, here the recorded allMids message and recorded asset contexts. `drop()`
    breaks every open connection without a closing handshake, as a network failure does."""

    def __init__(self, ctxs: dict[str, dict], all_mids: dict) -> None:
        self.ctxs, self.all_mids = ctxs, all_mids
        self.subscriptions: list[list[dict]] = []  # per connection, in order
        self._connections: list = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._server = await serve(self._handler, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}"

    async def _handler(self, ws) -> None:
        subscriptions: list[dict] = []
        self.subscriptions.append(subscriptions)
        self._connections.append(ws)
        async for raw in ws:
            message = json.loads(raw)
            if message.get("method") == "ping":
                await ws.send(json.dumps({"channel": "pong"}))
                continue
            subscription = message["subscription"]
            subscriptions.append(subscription)
            await ws.send(json.dumps({"channel": "subscriptionResponse", "data": message}))
            if subscription["type"] == "allMids":
                await ws.send(json.dumps(self.all_mids))
            elif subscription["type"] == "activeAssetCtx":
                coin = subscription["coin"]
                data = {"coin": coin, "ctx": self.ctxs[coin]}
                await ws.send(json.dumps({"channel": "activeAssetCtx", "data": data}))

    def drop(self) -> None:
        def abort() -> None:
            for ws in self._connections:
                ws.transport.abort()
            self._connections.clear()

        self._loop.call_soon_threadsafe(abort)

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
