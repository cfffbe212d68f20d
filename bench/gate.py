"""How long the pre-trade gate's pure checks take per order.

Times `apps.risk.gate.check` alone (no database, no Redis: what `apps/risk/checks.py` reads is
measured by bench/order_accept.py) over a realistic mix of inputs: accounts holding zero to
six positions over five coins, mostly governed by a rule set, a few on a live venue with firm
limits; market, limit and stop orders from traders and the firm; most pass, some are refused
for each reason (state, band, size, notional, position, leverage, margin, counts, firm).

    .venv/bin/python bench/gate.py [--quick]

Prints, last, one JSON line:
{"measure": "gate_check", "p50": …, "p99": …, "unit": "µs", "target_p99": 20, "n": …}
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.risk.gate import GateInput, GateLimits, GatePosition, check

D = Decimal
MARKS = {"BTC": D("65000"), "ETH": D("3200"), "SOL": D("150"), "DOGE": D("0.16"), "HYPE": D("25")}
MAX_LEVERAGE = {"BTC": 40, "ETH": 25, "SOL": 20, "DOGE": 10, "HYPE": 10}
SZ_DECIMALS = {"BTC": 5, "ETH": 4, "SOL": 2, "DOGE": 0, "HYPE": 2}
RULE_SET = GateLimits(
    max_leverage=D("20"),
    allowed_instruments=frozenset(),
    allowed_directions="both",
    max_order_qty=None,
    max_order_notional=D("500000"),
    max_position_notional=D("750000"),
    max_margin_use_pct=D("80"),
    price_band_pct=D("5"),
    max_open_orders=20,
    max_orders_per_minute=60,
)
TIGHT = GateLimits(
    max_leverage=D("5"),
    allowed_instruments=frozenset({"BTC", "ETH", "SOL"}),
    allowed_directions="long_only",
    max_order_qty=D("2"),
    max_order_notional=D("100000"),
    max_position_notional=D("150000"),
    max_margin_use_pct=D("50"),
    price_band_pct=D("2"),
    max_open_orders=10,
    max_orders_per_minute=30,
)


def _size(rng: random.Random, coin: str, notional: float) -> Decimal:
    return round(D(str(notional)) / MARKS[coin], SZ_DECIMALS[coin]) or D(1).scaleb(
        -SZ_DECIMALS[coin]
    )


def _price(rng: random.Random, coin: str, band: float) -> Decimal:
    moved = MARKS[coin] * D(str(1 + rng.uniform(-band, band)))
    return D(f"{moved:.5g}")


def make_input(rng: random.Random) -> GateInput:
    equity = D(str(rng.choice((10000, 25000, 50000, 100000, 200000))))
    positions = {}
    for coin in rng.sample(list(MARKS), rng.choice((0, 0, 1, 1, 1, 2, 2, 3, 5))):
        notional = rng.uniform(0.05, 4) * float(equity)
        size = _size(rng, coin, notional) * rng.choice((1, -1))
        positions[coin] = GatePosition(
            coin=coin,
            size=size,
            entry_price=MARKS[coin] * D(str(rng.uniform(0.95, 1.05))),
            mark=MARKS[coin],
            leverage=D(MAX_LEVERAGE[coin]),
        )
    coin = rng.choice(list(MARKS))
    kind = rng.choices(("market", "limit", "stop_market", "stop_limit"), (45, 45, 5, 5))[0]
    refuse = rng.random() < 0.15  # about one order in seven is refused, for some reason
    band = 0.12 if refuse and rng.random() < 0.3 else 0.03
    limit_price = _price(rng, coin, band) if kind in ("limit", "stop_limit") else None
    trigger = _price(rng, coin, 0.03) if kind in ("stop_market", "stop_limit") else None
    held = positions.get(coin)
    reduce = held is not None and rng.random() < 0.25
    side = rng.choice(("buy", "sell"))
    if reduce:
        side = "sell" if held.size > 0 else "buy"
    scale = rng.uniform(1.5, 12) if refuse else rng.uniform(0.01, 1.5)
    size = abs(held.size) / 2 if reduce else _size(rng, coin, scale * float(equity))
    origin = rng.choices(
        ("trader_web", "trader_api", "risk_manager", "system_flatten"), (60, 35, 3, 2)
    )[0]
    state = "active"
    if refuse and rng.random() < 0.1:
        state = rng.choice(("halted", "suspended", "reducing"))
    live = rng.random() < 0.2
    return GateInput(
        coin=coin,
        side=side,
        kind=kind,
        size=size or D(1).scaleb(-SZ_DECIMALS[coin]),
        limit_price=limit_price,
        trigger_price=trigger,
        reduce_only=reduce and rng.random() < 0.7,
        origin=origin,
        state=state,
        status="open",
        live_venue=live,
        equity=equity,
        positions=positions,
        open_orders=rng.choice((0, 1, 2, 3, 5, 8, 25 if refuse else 4)),
        orders_last_minute=rng.choice((0, 1, 3, 6, 12, 70 if refuse else 2)),
        client_order_id_taken=refuse and rng.random() < 0.03,
        resting_buy=D(0),
        resting_sell=D(0),
        mark=MARKS[coin],
        leverage=D(MAX_LEVERAGE[coin]),
        limits=rng.choices((RULE_SET, TIGHT, None), (87, 8, 5))[0],
        firm_net_notional=D(str(round(rng.uniform(-2.45e6, 2.45e6), 2))) if live else D(0),
        firm_max_long=D("2500000") if live else None,
        firm_max_short=D("2500000") if live else None,
    )


def run(calls: int, distinct: int, seed: int) -> tuple[list[float], Counter]:
    rng = random.Random(seed)
    inputs = [make_input(rng) for _ in range(distinct)]
    outcomes: Counter = Counter()
    for inp in inputs:  # warm up, and count what the mix does
        refusal = check(inp)
        outcomes[refusal.code if refusal else "passed"] += 1
    timings = [0.0] * calls
    clock = time.perf_counter_ns
    gc.disable()  # a collection pause is the process's, not the gate's
    try:
        for i in range(calls):
            inp = inputs[i % distinct]
            started = clock()
            check(inp)
            timings[i] = (clock() - started) / 1000
    finally:
        gc.enable()
    return timings, outcomes


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    args = parser.parse_args()
    calls = 100_000 if args.quick else 1_000_000
    timings, outcomes = run(calls=calls, distinct=5000, seed=7)
    timings.sort()
    passed = outcomes.pop("passed", 0)
    total = passed + sum(outcomes.values())
    reasons = ", ".join(f"{code} {n}" for code, n in outcomes.most_common())
    print(f"mix of {total} orders: {passed} pass; refused: {reasons}", flush=True)
    print(
        f"{calls} calls: mean {sum(timings) / calls:.2f} µs, max {timings[-1]:.1f} µs",
        flush=True,
    )
    print(
        json.dumps(
            {
                "measure": "gate_check",
                "p50": round(percentile(timings, 0.50), 2),
                "p99": round(percentile(timings, 0.99), 2),
                "unit": "µs",
                "target_p99": 20,
                "n": calls,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
