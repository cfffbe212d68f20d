"""ws_tick_to_client: the risk engine's snapshot push, from the tick that hands 2,000 accounts'
snapshots to its pusher (apps/risk/push.py, the Redis channel layer) to each of 2,000 websocket
clients, once a second (ms, p50/p99), with `dropped` (snapshots never received).

Real daphne processes serve this module's bench-only ASGI application (`application`, built
when BENCH_WS_ASGI is set: `/ws/bench/<n>/` joins `account.<n>` and forwards its snapshots, as
a trader's page would receive them; routed nowhere in the project); the clients run in a
separate process and time each message by the tick time it carries (one machine, one clock).
It lives in this file, not one of its own, because `make bench` runs every bench/*.py.

Two runs: `ws_tick_to_client` through the project's channel layer (channels_redis's core layer,
settings.CHANNEL_LAYERS), and `ws_tick_to_client_pubsub` through channels_redis's pub/sub layer
on the same Redis, for comparison (the layer is a settings choice).

    .venv/bin/python bench/ws_fanout.py [--quick] [--clients 2000] [--seconds 60]
                                        [--layer core|pubsub|both]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REDIS_DB = 12
os.environ.update(
    DJANGO_SETTINGS_MODULE="propfirm.settings",
    DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/propfirm"),
    REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
    CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
    CELERY_RESULT_BACKEND=f"redis://127.0.0.1:6379/{REDIS_DB}",
    STATIC_MANIFEST="false",
    CLOCK_SHARED="false",
)

# A snapshot as the engine sends it (apps/risk/engine/snapshot.py), one position.
SNAPSHOT = {
    "type": "account.snapshot",
    "account": 0,
    "t": "2026-03-02T08:00:00.250000+00:00",
    "state": "active",
    "balance": "100000.00",
    "equity": "98765.43",
    "unrealized_pnl": "-1234.57",
    "day_pnl": "-1234.57",
    "floors": {"daily": "95000.00", "max_loss": "90000.00"},
    "headroom": {
        "daily_loss": {
            "value": "98765.43",
            "threshold": "95000.00",
            "headroom": "3765.43",
            "headroom_pct": "3.77",
        },
        "max_loss": {
            "value": "98765.43",
            "threshold": "90000.00",
            "headroom": "8765.43",
            "headroom_pct": "8.77",
        },
    },
    "positions": [
        {
            "coin": "BTC",
            "size": "1.5",
            "entry_price": "60000",
            "mark": "59176.95",
            "notional": "88765.43",
            "unrealized_pnl": "-1234.57",
        }
    ],
    "verdict": None,
}


# --- the bench-only ASGI application (daphne imports bench.ws_fanout:application) -------------


def use_layer(name: str) -> None:
    """Before the first get_channel_layer(): the project's layer, or channels_redis's pub/sub."""
    from django.conf import settings

    if name == "core":
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [settings.REDIS_URL],
                    "prefix": "propfirm:asgi",
                    "capacity": 1000,
                },
            }
        }
    elif name != "project":
        raise SystemExit(f"channel layer {name!r}: project or core")


def _application():
    import django

    django.setup()
    use_layer(os.environ.get("BENCH_CHANNEL_LAYER", "project"))
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    from apps.core.consumers import LiveConsumer

    class BenchSnapshotConsumer(LiveConsumer):  # the base of the project's consumers
        async def connect(self):
            self.group = f"account.{self.scope['url_route']['kwargs']['n']}"
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self.accept()

        async def disconnect(self, code):
            await self.channel_layer.group_discard(self.group, self.channel_name)

        async def account_snapshot(self, message):
            await self.send_json(message)

    return ProtocolTypeRouter(
        {"websocket": URLRouter([path("ws/bench/<int:n>/", BenchSnapshotConsumer.as_asgi())])}
    )


if os.environ.get("BENCH_WS_ASGI"):
    application = _application()
    from apps.core.websocket_server import gc_settle

    gc_settle()  # as propfirm/asgi.py does


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the clients' process --------------------------------------------------------------------


async def clients(ports: list[int], count: int) -> None:
    import websockets

    latencies: list[float] = []
    ticks: list[float] = []
    received = 0
    sockets = []

    async def connect(n: int):
        for attempt in range(5):
            try:
                return await websockets.connect(
                    f"ws://127.0.0.1:{ports[n % len(ports)]}/ws/bench/{n}/",
                    open_timeout=30,
                    max_queue=None,
                    ping_interval=None,  # a browser never pings; daphne pings every client
                )
            except (OSError, TimeoutError, websockets.InvalidHandshake):
                await asyncio.sleep(0.2 * (attempt + 1))
        raise SystemExit(f"client {n} could not connect")

    for start in range(0, count, 100):
        batch = range(start, min(count, start + 100))
        sockets += await asyncio.gather(*(connect(n) for n in batch))

    async def listen(ws):
        nonlocal received
        async for raw in ws:
            message = json.loads(raw)
            latencies.append((time.time() - message["bench_tick"]) * 1000)
            ticks.append(message["bench_tick"])
            received += 1

    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    # The instrument's own pauses are not the server's latency: the 2,000 connections and
    # the growing lists of timings are left out of the collector's full passes.
    gc.freeze()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "stop"
    for ws in sockets:
        await ws.close()
    await asyncio.gather(*listeners, return_exceptions=True)
    print(json.dumps({"received": received, "latencies": latencies, "ticks": ticks}), flush=True)


# --- the bench ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--layer", choices=("project", "core", "both"), default="project")
    parser.add_argument("--serve-clients", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--servers", type=int, default=2, help="daphne processes, one per core (default 2)"
    )
    args = parser.parse_args()
    if args.serve_clients is not None:
        asyncio.run(clients([int(p) for p in args.ports.split(",")], args.serve_clients))
        return 0
    seconds = args.seconds or (5 if args.quick else 60)
    if args.layer == "both":
        found = []
        for layer in ("project", "core"):
            argv = [sys.executable, __file__, "--layer", layer, "--clients", str(args.clients)]
            argv += ["--servers", str(args.servers)]
            done = subprocess.run(
                [*argv, "--seconds", str(seconds)], cwd=ROOT, capture_output=True, text=True
            )
            sys.stderr.write(done.stderr[-3000:])
            if done.returncode:
                raise SystemExit(f"the {layer} run failed")
            found.append(done.stdout.strip().splitlines()[-1])
        for line in found:
            print(line)
        return 0

    import django

    django.setup()
    use_layer(args.layer)  # the sender's layer is the servers' (env below)
    from apps.core.redis import get_redis
    from apps.risk.push import GroupPusher, account_group

    get_redis().flushdb()
    ports = [free_port() for _ in range(args.servers)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", BENCH_WS_ASGI="1", BENCH_CHANNEL_LAYER=args.layer)
    daphne_bin = str(Path(sys.executable).parent / "daphne")
    # One daphne per core, clients spread over them (DESIGN.md, "Scale": more daphne
    # processes behind a load balancer, one channel layer).
    servers = [
        subprocess.Popen(
            [daphne_bin, "-b", "127.0.0.1", "-p", str(port), "bench.ws_fanout:application"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    pool = None
    try:
        deadline = time.monotonic() + 30
        for port, daphne in zip(ports, servers, strict=True):
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                except urllib.error.HTTPError:
                    break  # answering (HTTP is not routed: any answer means it is up)
                except OSError:
                    if time.monotonic() > deadline or daphne.poll() is not None:
                        raise SystemExit("daphne did not start") from None
                    time.sleep(0.2)
                else:
                    break
        pool = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-clients",
                str(args.clients),
                "--ports",
                ",".join(map(str, ports)),
            ],
            cwd=ROOT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if pool.stdout.readline().strip() != "ready":
            raise SystemExit("the clients did not connect")
        print(f"# {args.clients} clients connected", file=sys.stderr)
        pusher = GroupPusher()
        ticks, sent = 0, 0
        start = time.monotonic() + 1
        for tick in range(seconds + 2):
            time.sleep(max(0.0, start + tick - time.monotonic()))
            stamp = time.time()
            for n in range(args.clients):
                pusher.send(account_group(n), {**SNAPSHOT, "account": n, "bench_tick": stamp})
            if tick == 2:
                cpu_start = [cpu_seconds(daphne.pid) for daphne in servers]
            if tick >= 2:  # two warm-up ticks are not counted
                ticks += 1
                sent += args.clients
        pusher.flush(30)
        time.sleep(1)
        cpu = sum(cpu_seconds(d.pid) for d in servers) - sum(cpu_start)
        time.sleep(3)
        pusher.close()
        out, _ = pool.communicate("stop\n", timeout=120)
        result = json.loads(out.strip().splitlines()[-1])
    finally:
        if pool is not None and pool.poll() is None:
            pool.kill()
        for daphne in servers:
            daphne.terminate()
        for daphne in servers:
            try:
                daphne.wait(10)
            except subprocess.TimeoutExpired:
                daphne.kill()
                daphne.wait()
        get_redis().flushdb()
    latencies = result["latencies"][2 * args.clients :]
    by_tick: dict[float, list[float]] = {}
    for stamp, latency in zip(result["ticks"], result["latencies"], strict=True):
        by_tick.setdefault(stamp, []).append(latency)
    worst = " ".join(f"{max(v):.0f}" for _k, v in sorted(by_tick.items()))
    print(f"# slowest message of each tick (ms): {worst}", file=sys.stderr)
    received_counted = result["received"] - 2 * args.clients
    print(
        f"# {ticks} ticks, pusher sent {pusher.sent} failed {pusher.failed} "
        f"superseded {pusher.superseded}; daphne CPU {cpu * 1e6 / max(1, sent):.0f} µs a message",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "measure": "ws_tick_to_client" + ("_core_layer" if args.layer == "core" else ""),
                "p50": round(percentile(latencies, 50), 1),
                "p99": round(percentile(latencies, 99), 1),
                "unit": "ms",
                "target_p99": 300,
                "n": len(latencies),
                "dropped": max(0, sent - received_counted),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
