"""revalue_10k, revalue_100k: one frame of 200 instruments through the risk engine's book, in
memory (ms per frame: the marks set, every account revalued, every floor screened, the flagged
accounts listed). Pure numpy: no database, no Redis.

    .venv/bin/python bench/revalue.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.risk.engine.book import Book, Row  # noqa: E402

INSTRUMENTS = 200


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def build(accounts: int, rng: np.random.Generator) -> tuple[Book, list[str], np.ndarray]:
    coins = [f"C{i:03d}" for i in range(INSTRUMENTS)]
    base = rng.uniform(0.01, 100_000, INSTRUMENTS)
    book = Book(coins, capacity=accounts)
    # Popular coins are held far more often (as BTC and ETH are), 0 to 4 positions each.
    weights = 1 / np.arange(1, INSTRUMENTS + 1)
    weights /= weights.sum()
    held = rng.integers(0, 5, accounts)
    for account in range(accounts):
        picks = rng.choice(INSTRUMENTS, size=held[account], replace=False, p=weights)
        balance = rng.uniform(5_000, 200_000)
        positions = {}
        for c in picks:
            # Up to ~6× leverage over all positions, entered near today's prices.
            notional = balance * rng.uniform(0.1, 1.5) * rng.choice((-1, 1))
            entry = base[c] * rng.uniform(0.99, 1.01)
            positions[coins[c]] = (Decimal(f"{notional / entry:.5f}"), Decimal(f"{entry:.4f}"))
        balance = Decimal(f"{balance:.2f}")
        book.upsert(
            Row(
                account=account + 1,
                balance=balance,
                positions=positions,
                daily_floor=balance * Decimal("0.95"),
                max_loss_floor=balance * Decimal("0.90"),
                peak_watch=balance * Decimal("1.02") if account % 3 == 0 else None,
                initial=balance,
                day_base=balance,
            )
        )
    return book, coins, base


def measure(accounts: int, frames: int, rng: np.random.Generator) -> dict:
    book, coins, base = build(accounts, rng)
    now = time.time()
    samples, flagged = [], 0
    for i in range(frames + 10):
        prices = base * (1 + rng.normal(0, 0.002, INSTRUMENTS))
        frame = dict(zip(coins, prices.tolist(), strict=True))
        started = time.perf_counter()
        book.set_marks(frame)
        screen = book.screen(book.revalue(), now)
        found = book.accounts[screen.flagged].tolist()
        elapsed = (time.perf_counter() - started) * 1000
        if i >= 10:  # warm-up frames are not counted
            samples.append(elapsed)
            flagged += len(found)
    return {
        "p50": round(percentile(samples, 50), 3),
        "p99": round(percentile(samples, 99), 3),
        "flagged_per_frame": round(flagged / frames, 1),
        "n": frames,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(20260302)
    results = []
    for name, accounts, frames in (
        ("revalue_10k", 10_000, 300 if args.quick else 2000),
        ("revalue_100k", 100_000, 100 if args.quick else 1000),
    ):
        figures = measure(accounts, frames, rng)
        flagged = figures.pop("flagged_per_frame")
        print(f"# {name}: {accounts} accounts, {flagged} flagged per frame", file=sys.stderr)
        results.append(
            {
                "measure": name,
                "p50": figures["p50"],
                "p99": figures["p99"],
                "unit": "ms",
                **({"target_p99": 10} if name == "revalue_100k" else {}),
                "n": figures["n"],
            }
        )
    for result in results:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
