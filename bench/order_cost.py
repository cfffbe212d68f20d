"""order_accept_instructions: what one REST API order costs the web process, in instructions.

The latency of bench/order_accept.py depends on the machine's speed on the day: on this
shared 2-core machine the same code has used from 4 to 13 ms of CPU an order from one session
to the next. Instructions do not: valgrind's callgrind counts every instruction the web process
runs (all its threads: Twisted's loop and the request threads), and the count repeats to about
1% whatever else the machine is doing. This is the figure to compare across changes; the
latency is the one to compare against the target.

A real daphne serves the project under callgrind on the bench's database. Orders are sent one
at a time through the REST API as order_accept sends them; after a warm-up, instructions are
counted over the next N. The market moves as in production at 100 orders/s: a new frame of
every instrument every 25 orders (four frames a second), published as the feed publishes them.

    .venv/bin/python bench/order_cost.py [--quick] [--orders 150]
"""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import order_accept as bench  # the same database, traders and orders (sets the environment)

ORDERS_PER_FRAME = 25  # 100 orders/s against four frames a second
WARMUP = 40


def market():
    """A synthetic market of the demo's instruments and a publisher, as the feed has them."""
    from apps.core.redis import get_redis
    from apps.market.feed.publisher import FramePublisher
    from apps.market.feed.synthetic import SyntheticInstrument, SyntheticSource
    from apps.market.frames import Frame
    from apps.market.selectors import instruments_active

    specs = [
        SyntheticInstrument(i.coin, i.reference_price, i.sz_decimals)
        for i in instruments_active()
        if i.reference_price is not None
    ]
    source = SyntheticSource(specs, seed=7, interval=0.25)
    publisher = FramePublisher(get_redis())
    seq = publisher.last_seq()

    def publish() -> None:
        nonlocal seq
        seq += 1
        publisher.publish(
            Frame(seq=seq, t=datetime.now(UTC), prices=source.next_prices(), source=source.name)
        )

    return publish


def run(orders: int) -> dict:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit(
            "valgrind (with callgrind_control) is needed to count instructions: "
            "apt-get install valgrind (make bench installs it where it can)"
        )
    out = Path(tempfile.mkdtemp(prefix="order-cost-"))
    daphne = None
    try:
        traders = bench.setup()
        publish = market()
        publish()
        port = bench.free_port()
        daphne = bench.daphne(
            port,
            out / "daphne.log",
            under=[
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",  # counting starts after the warm-up
                f"--callgrind-out-file={out}/callgrind.out",
            ],
        )
        counted = count(daphne, port, traders, publish, orders, out)
    finally:
        try:
            if daphne is not None:
                bench.stop(daphne, timeout=60)
        finally:
            bench.teardown()
    shutil.rmtree(out, ignore_errors=True)
    return {
        "measure": "order_accept_instructions",
        "value": round(counted / orders / 1e6, 2),
        "unit": "M instructions",
        "n": orders,
    }


def count(daphne: subprocess.Popen, port: int, traders, publish, orders: int, out: Path) -> int:
    """Instructions the daphne under callgrind runs for `orders` orders, after a warm-up."""

    def callgrind(*args: str) -> None:
        done = subprocess.run(
            ["callgrind_control", *args, str(daphne.pid)], capture_output=True, text=True
        )
        said = done.stdout + done.stderr
        # callgrind_control exits 0 even when it found no callgrind to talk to.
        if done.returncode or "Error" in said or "No active callgrind" in said:
            raise RuntimeError(f"callgrind_control {' '.join(args)}: {said.strip()}")

    for _ in range(600):  # a daphne under valgrind takes a while to start
        if daphne.poll() is not None:
            raise RuntimeError(f"daphne exited: see {out}/daphne.log")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
            break
        except OSError:
            time.sleep(0.5)
    else:
        raise RuntimeError(f"daphne under valgrind did not answer /healthz: see {out}/daphne.log")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def order(n: int) -> None:
        if n % ORDERS_PER_FRAME == 0:
            publish()
        account_id, key = traders[n % len(traders)]
        conn.request(
            "POST",
            "/api/v1/orders/",
            bench.order_body(n, account_id),
            {
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": f"cost-{n}",
            },
        )
        response = conn.getresponse()
        body = response.read()
        if response.status != 201:
            raise RuntimeError(f"order {n}: {response.status} {body[:300]!r}")

    for n in range(WARMUP):
        order(n)
    time.sleep(1)  # the last warm-up order's work after its answer is done
    callgrind("--instr=on")
    for n in range(WARMUP, WARMUP + orders):
        order(n)
    time.sleep(0.2)  # the last order's work after its answer (its Redis sends)
    callgrind("--instr=off")
    callgrind("--dump")
    for _ in range(60):
        counted = total_instructions(out)
        if counted:
            return counted
        time.sleep(0.5)
    raise RuntimeError(f"callgrind wrote no counts to {out}")


def total_instructions(out: Path) -> int:
    """The instructions counted in every dump callgrind wrote (a file a dump: all threads)."""
    total = 0
    for name in glob.glob(str(out / "callgrind.out*")):
        for line in Path(name).read_text().splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
                break
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--orders", type=int, default=150)
    args = parser.parse_args()
    result = run(30 if args.quick else args.orders)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
