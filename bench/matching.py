"""How many orders a second the paper venue's matching engine handles on one core.

Runs `Book.place` / `Book.cancel` / `Book.on_frame` (pure Python, Decimal) over a realistic
mix: market orders, resting limits that fill on later frames (a share of them post-only),
stops, and cancels, across many accounts and five coins, with every book revalued on every
frame as `run_paper_venue` does. No database, no Redis.

    .venv/bin/python bench/matching.py [--quick]

Prints, last, one JSON line: {"measure": "paper_matching", "value": N, "unit": "orders/s", ...}
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.trading.venues.paper.matching import (
    Book,
    Filled,
    Frame,
    Instrument,
    OrderSpec,
    Quote,
    Rejected,
    round_price,
    round_size,
)

D = Decimal
INSTRUMENTS = [
    Instrument("BTC", 5, 40),
    Instrument("ETH", 4, 25),
    Instrument("SOL", 2, 20),
    Instrument("DOGE", 0, 10),
    Instrument("HYPE", 2, 10),
]
START_MIDS = {
    "BTC": D("65000"),
    "ETH": D("3200"),
    "SOL": D("150"),
    "DOGE": D("0.16"),
    "HYPE": D("25"),
}
T0 = datetime(2025, 3, 3, 9, 55, tzinfo=UTC)


def make_frames(rng: random.Random, count: int) -> list[Frame]:
    """A random walk per coin, a few ticks a second, crossing funding hours."""
    mids = dict(START_MIDS)
    frames = []
    for i in range(count):
        quotes = {}
        for inst in INSTRUMENTS:
            mid = mids[inst.coin] * (1 + D(rng.randint(-8, 8)) / 10_000)
            mids[inst.coin] = mid = round_price(mid, inst.sz_decimals)
            mark = mid * (1 + D(rng.randint(-2, 2)) / 10_000)
            quotes[inst.coin] = Quote(mark, mark, mid, D(rng.randint(-3, 12)) / 1_000_000)
        frames.append(Frame(T0 + timedelta(milliseconds=250 * i), quotes))
    return frames


def make_order(rng: random.Random, n: int, quote: Quote, inst: Instrument) -> OrderSpec:
    side = rng.choice(("buy", "sell"))
    away = -1 if side == "buy" else 1
    touch = quote.touch
    size = round_size(D(rng.randint(20, 2000)) / touch, inst.sz_decimals)  # $20 to $2,000
    if size == 0:
        size = D(1).scaleb(-inst.sz_decimals)
    roll = rng.random()
    common = {"order_id": f"o{n}", "client_order_id": None, "coin": inst.coin, "side": side}
    if roll < 0.45:
        return OrderSpec(**common, size=size, kind="market")  # type: ignore[arg-type]
    if roll < 0.90:
        # Resting a few bps away: most fill on a later frame, some are cancelled first.
        price = round_price(
            touch * (1 + away * D(rng.randint(1, 15)) / 10_000), inst.sz_decimals, side
        )
        tif = "alo" if rng.random() < 0.3 else "gtc"
        return OrderSpec(**common, size=size, kind="limit", limit_price=price, tif=tif)  # type: ignore[arg-type]
    trigger = round_price(
        quote.mark * (1 - away * D(rng.randint(5, 30)) / 10_000), inst.sz_decimals
    )
    return OrderSpec(**common, size=size, kind="stop_market", trigger_price=trigger)  # type: ignore[arg-type]


def run(accounts: int, frames: int, orders_per_frame: int, cancel_share: float, seed: int) -> dict:
    rng = random.Random(seed)
    books = [Book.open(INSTRUMENTS, D("100000")) for _ in range(accounts)]
    tape = make_frames(rng, frames)
    # Draw the whole workload up front so the timed loop runs only the engine.
    plan: list[list[tuple[int, OrderSpec | None]]] = []
    n = 0
    previous = tape[0]
    for frame in tape:
        step = []
        for _ in range(orders_per_frame):
            book = rng.randrange(accounts)
            if rng.random() < cancel_share:
                step.append((book, None))
            else:
                inst = rng.choice(INSTRUMENTS)
                step.append((book, make_order(rng, n, previous.quotes[inst.coin], inst)))
                n += 1
        plan.append(step)
        previous = frame

    orders = fills = rejected = 0
    last = tape[0]
    started = time.perf_counter()
    for frame, step in zip(tape, plan, strict=True):
        for book_index, spec in step:
            book = books[book_index]
            if spec is None:
                if book.orders:
                    events = book.cancel(next(iter(book.orders)))
                else:
                    continue
            else:
                events = book.place(spec, last.quotes[spec.coin], last.t)
            orders += 1
            for event in events:
                if isinstance(event, Filled):
                    fills += 1
                elif isinstance(event, Rejected):
                    rejected += 1
        for book in books:
            for event in book.on_frame(frame):
                if isinstance(event, Filled):
                    fills += 1
        last = frame
    elapsed = time.perf_counter() - started
    return {
        "orders": orders,
        "fills": fills,
        "rejected": rejected,
        "frames": frames,
        "accounts": accounts,
        "seconds": elapsed,
        "resting_at_end": sum(len(b.orders) for b in books),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    args = parser.parse_args()
    if args.quick:
        result = run(accounts=100, frames=400, orders_per_frame=50, cancel_share=0.1, seed=7)
    else:
        result = run(accounts=200, frames=2400, orders_per_frame=100, cancel_share=0.1, seed=7)
    rate = result["orders"] / result["seconds"]
    print(
        f"{result['orders']} orders ({result['fills']} fills, {result['rejected']} rejected) "
        f"over {result['frames']} frames x {result['accounts']} accounts in "
        f"{result['seconds']:.1f} s; {result['resting_at_end']} orders resting at the end",
        flush=True,
    )
    print(
        json.dumps(
            {
                "measure": "paper_matching",
                "value": round(rate),
                "unit": "orders/s",
                "n": result["orders"],
            }
        )
    )


if __name__ == "__main__":
    main()
