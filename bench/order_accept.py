"""order_accept: HTTP request to committed intent, through the real REST API on daphne, at a
steady 100 orders/s (p50 and p99 in ms). Uses its own database, removed at the end.

The firm's flow, not one client's: TRADERS traders, each with an account and an API key under
the default rate limit, take turns (100/s in all is 2/s each). One key sending 6,000 orders a
minute would be refused by the rate limit and any rule set's order rate long before.

    .venv/bin/python bench/order_accept.py [--quick] [--rate 100] [--seconds 60] [--servers 1]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "propfirm_bench_orders"
TRADERS = 50
REDIS_DB = 14
os.environ.update(
    DJANGO_SETTINGS_MODULE="propfirm.settings",
    DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
    CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
    CELERY_RESULT_BACKEND=f"redis://127.0.0.1:6379/{REDIS_DB}",
    STATIC_MANIFEST="false",
    CLOCK_SHARED="false",
)


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


def setup() -> list[tuple[int, str]]:
    import django
    from django.core.management import call_command

    call_command_env = dict(os.environ)
    subprocess.run(
        [sys.executable, "manage.py", "ensure_services", "--create-database"],
        cwd=ROOT,
        env=call_command_env,
        check=True,
        capture_output=True,
    )
    django.setup()
    call_command("migrate", verbosity=0)
    from decimal import Decimal

    from apps.accounts.models import User
    from apps.accounts.services import api_key_create
    from apps.core.redis import get_redis
    from apps.market import demo
    from apps.trading.services import account_open

    get_redis().flushdb()
    demo.seed()  # the demo's instruments (Hyperliquid's recorded universe) and prices
    traders = []
    for n in range(TRADERS):
        user, _ = User.objects.get_or_create(email=f"bench{n}@bench.test")
        account = account_open(
            owner=user, starting_balance=Decimal("1000000"), key=f"bench-acct-{n}"
        )
        _, raw = api_key_create(user=user, name="bench")
        traders.append((account.pk, raw))
    return traders


def run(rate: int, seconds: int, servers: int) -> dict:
    try:
        traders = setup()
    except BaseException:
        teardown()
        raise
    ports = [free_port() for _ in range(servers)]
    # The market moves meanwhile, as in production: the real feed publishes a frame of every
    # instrument four times a second, and every order is checked against the latest one.
    feed = subprocess.Popen(
        [sys.executable, "manage.py", "run_market_feed", "--source", "synthetic", "--seed", "7"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=open("/tmp/bench-feed.log", "w"),  # noqa: SIM115
    )
    # One daphne by default, as the Procfile serves on one machine: on this 2-core machine a
    # second one competes with PostgreSQL, Redis and the feed for the same cores (measured
    # paired: more CPU an order and a longer tail). `--servers N` spreads the clients'
    # connections over N, as a load balancer in front of several web processes would
    # (DESIGN.md, "Scale"), for a machine with the cores for them.
    daphnes = [daphne(port, f"/tmp/bench-daphne-{n}.log") for n, port in enumerate(ports)]
    try:
        from apps.market.selectors import frame_latest

        for _ in range(100):
            if frame_latest() is not None:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("The market feed published no frame (see /tmp/bench-feed.log).")
        for port in ports:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
        # The first two seconds warm the server (its connection pool grows, first-use code
        # paths load) and are not counted: the target is the steady flow's.
        warmup = rate * 2
        total = rate * seconds + warmup
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        start = time.perf_counter() + 0.5
        workers = 8

        def worker(index: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", ports[index % servers], timeout=10)
            for n in range(index, total, workers):
                due = start + n / rate  # a steady schedule, not as fast as possible
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                account_id, key = traders[n % len(traders)]
                body = order_body(n, account_id)
                sent = time.perf_counter()
                conn.request(
                    "POST",
                    "/api/v1/orders/",
                    body,
                    {
                        "Authorization": f"Bearer {key}",
                        "Content-Type": "application/json",
                        "Idempotency-Key": f"bench-{n}",
                    },
                )
                response = conn.getresponse()
                response.read()
                elapsed = (time.perf_counter() - sent) * 1000
                with lock:
                    if response.status != 201:
                        failures.append(str(response.status))
                    elif n >= warmup:
                        latencies.append(elapsed)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
        for t in threads:
            t.start()
        time.sleep(max(0.0, start + warmup / rate - time.perf_counter()))
        cpu_start = sum(cpu_seconds(d.pid) for d in daphnes)
        for t in threads:
            t.join()
        cpu = sum(cpu_seconds(d.pid) for d in daphnes) - cpu_start
        per_order = cpu * 1000 / (total - warmup)
        print(f"# daphne CPU {per_order:.2f} ms an order (all servers)", file=sys.stderr)
        if failures:
            print(f"{len(failures)} requests failed: {sorted(set(failures))}", file=sys.stderr)
        return {
            "measure": "order_accept",
            "p50": round(statistics.median(latencies), 2),
            "p99": round(percentile(latencies, 99), 2),
            "unit": "ms",
            "target_p99": 15,
            "n": len(latencies),
            "servers": servers,
            # The machine's speed on the day, beside the figure it explains (the same code has
            # used 4 to 13 ms an order here; bench/order_cost.py counts instructions instead).
            "web_cpu_ms_per_order": round(per_order, 2),
        }
    finally:
        try:
            stop(*daphnes, feed)
        finally:
            teardown()


def daphne(port: int, log: str | Path, under: Sequence[str] = ()) -> subprocess.Popen:
    """A daphne serving the project on 127.0.0.1:`port` with the bench's environment, its
    output to `log`; `under`: a command to run it under (valgrind's, say)."""
    return subprocess.Popen(
        [
            *under,
            str(ROOT / ".venv/bin/python"),
            str(ROOT / ".venv/bin/daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "propfirm.asgi:application",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
    )


def stop(*processes: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate the processes; kill any still running after `timeout` seconds."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def order_body(n: int, account_id: int) -> str:
    """The n-th order of the flow: a small resting BTC buy, its price varying."""
    return json.dumps(
        {
            "account": account_id,
            "coin": "BTC",
            "side": "buy",
            "type": "limit",
            "size": "0.001",
            "price": str(30000 + n % 1000),
        }
    )


def teardown() -> None:
    """Remove the bench's database."""
    from django.db import connections

    connections.close_all()
    subprocess.run(
        ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", DB_NAME],
        check=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--servers",
        type=int,
        default=1,
        help="daphne processes (default 1, as the Procfile runs on one machine)",
    )
    args = parser.parse_args()
    result = run(args.rate, 10 if args.quick else args.seconds, args.servers)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
