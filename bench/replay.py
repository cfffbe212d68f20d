"""How many events a second the challenge rules engine replays on one core.

Builds a long synthetic history for one account: three coins marked every half minute or so
(mean-reverting integer-tick walks), round trips a few times an hour, hourly funding on
open positions, a monthly payout, for many months of day resets in New York time. The
rule set is a realistic challenge with trailing, intraday and consistency rules, sized so
that nothing decides early: every event is evaluated. Then times `replay()` (the pure
engine: no parsing, no database).

    .venv/bin/python bench/replay.py [--quick]

Prints, last, one JSON line: {"measure": "replay_events", "value": N, "unit": "events/s", ...}
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.challenges.rules import (
    Account,
    Adjustment,
    Amount,
    Consistency,
    DayReset,
    Engine,
    Event,
    Fill,
    Funding,
    LossRule,
    Mark,
    MinTradingDays,
    ProfitTarget,
    Rules,
    Scenario,
    replay,
)

START = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
BALANCE = Decimal(1_000_000)
# coin: (start price in cents, tick noise in cents, lot size in units)
COINS = {
    "BTC": (6_500_000, 900, Decimal("0.2")),
    "ETH": (320_000, 60, Decimal("3")),
    "SOL": (15_000, 4, Decimal("50")),
}
TARGET = 50_000


def rules() -> Rules:
    def pct(value: str) -> Amount:
        return Amount("pct_of_initial", Decimal(value))

    return Rules(
        day_reset=DayReset("America/New_York", 17, 0),
        breach_when="at_or_below",
        profit_target=ProfitTarget(pct("10"), "equity"),
        daily_loss=LossRule("intraday_peak_equity", pct("5")),
        max_loss=LossRule("peak_equity", pct("10"), lock_at=pct("100")),
        min_trading_days=MinTradingDays(5, "profitable_day", Decimal("0.5")),
        consistency=Consistency(Decimal("40"), "net_profit"),
    )


def history(count: int, seed: int = 7) -> list[Event]:
    rng = random.Random(seed)
    cents = {coin: start for coin, (start, _, _) in COINS.items()}
    held = dict.fromkeys(COINS, 0)  # lots held, signed
    coins = list(COINS)
    events: list[Event] = []
    t = START
    next_funding = START + timedelta(hours=1)
    next_payout = START + timedelta(days=30)
    while len(events) < count:
        t += timedelta(seconds=rng.randint(5, 55))
        coin = rng.choice(coins)
        start, noise, lot = COINS[coin]
        # Pulled back toward the start price so the account wanders but never decides.
        cents[coin] += rng.randint(-noise, noise) + (start - cents[coin]) // 200
        price = Decimal(cents[coin]) / 100
        roll = rng.random()
        if roll < 0.015:
            side = (
                rng.choice(("buy", "sell"))
                if held[coin] == 0
                else ("sell" if held[coin] > 0 else "buy")
            )
            held[coin] += 1 if side == "buy" else -1
            fee = (lot * price * Decimal("0.00035")).quantize(Decimal("0.01"))
            events.append(Fill(t, coin, side, lot, price, fee))
        else:
            events.append(Mark(t, coin, price))
        if t >= next_funding:
            next_funding += timedelta(hours=1)
            for name in coins:
                if held[name]:
                    events.append(Funding(t, name, Decimal(rng.randint(-900, 300)) / 100))
        if t >= next_payout:
            next_payout += timedelta(days=30)
            events.append(Adjustment(t, Decimal("-2000"), "anchors"))
    return events[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller history, one run")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as measured

    count, runs = (200_000, 1) if args.quick else (1_000_000, 3)
    events = history(count)
    scenario = Scenario(Account("USD", BALANCE, START), rules(), tuple(events))

    check = Engine(scenario.rules, scenario.account)
    for event in events:
        check.apply(event)
    if check.status != "active":
        raise SystemExit(
            f"the synthetic history decided early ({check.status}): not a fair measure"
        )
    days = len(check.days)

    rates = []
    for _ in range(runs):
        began = time.perf_counter()
        result = replay(scenario)
        rates.append(count / (time.perf_counter() - began))
    assert result["status"] == "active"
    print(
        f"{count} events over {days} days, {runs} run(s): {[round(r) for r in rates]} events/s",
        file=sys.stderr,
        flush=True,
    )
    print(
        json.dumps(
            {
                "measure": "replay_events",
                "value": round(statistics.median(rates)),
                "unit": "events/s",
                "target_value": TARGET,
                "n": count,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
