"""breach_to_halt, breach_to_flatten: one frame breaches 1,000 of 10,000 accounts held by the
live risk engine (ms from the frame's publication to all 1,000 HALTED committed, and to each
account's flattening orders submitted). Also `breach_enforce_each`: one breach's enforcement
(the rules engine's verdict and the lifecycle: cancel, flatten, fail, audit, e-mail), per
account, which is what a plain loop of evaluation_sync calls would cost before the last halt.

The engine runs in this process (a thread, as `run_risk_engine` runs it) against its own
database, created and dropped here; the 10,000 accounts are built with bulk inserts through
the real models, their rule state by the real rules engine. Each round drops one coin 5 %:
the 1,000 accounts long 2.4× their balance in it breach their max-loss floor.

    .venv/bin/python bench/breach.py [--quick] [--rounds 3] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "propfirm_bench_breach"
REDIS_DB = 13
os.environ.update(
    DJANGO_SETTINGS_MODULE="propfirm.settings",
    DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
    CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
    CELERY_RESULT_BACKEND=f"redis://127.0.0.1:6379/{REDIS_DB}",
    STATIC_MANIFEST="false",
    CLOCK_SHARED="false",
    EMAIL_URL="dummymail://",
    DB_POOL_SIZE="20",
)

# Coins dropped one per round, their price, and the size that is 2.4× a $100,000 balance.
BREACH_COINS = [("BTC", "60000", "4"), ("ETH", "3000", "80"), ("SOL", "150", "1600")]
OTHER_COINS = [("AVAX", "30"), ("DOGE", "0.2"), ("LINK", "20"), ("ARB", "1")]
BALANCE = Decimal("100000")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def setup_database() -> None:
    subprocess.run(
        [sys.executable, "manage.py", "ensure_services", "--create-database"],
        cwd=ROOT,
        env=dict(os.environ),
        check=True,
        capture_output=True,
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def make_plan():
    from apps.challenges.services import plan_create, plan_publish, ruleset_create, ruleset_publish
    from apps.core import clock

    # Resets half a day away: no day reset falls inside the run.
    reset = f"{(clock.now().hour + 12) % 24:02d}:00"
    common = {
        "day_reset_timezone": "UTC",
        "day_reset_time": reset,
        "breach_when": "below",
        "daily_loss_anchor": "day_start_balance",
        "daily_loss_kind": "pct_of_initial",
        "daily_loss_value": Decimal("5"),
        "max_loss_anchor": "initial",
        "max_loss_kind": "pct_of_initial",
        "max_loss_value": Decimal("10"),
        "max_leverage": Decimal("20"),
        "allowed_instruments": [],
        "allowed_directions": "both",
        "max_order_notional": Decimal("1000000"),
        "max_position_notional": Decimal("1000000"),
        "max_margin_use_pct": Decimal("100"),
        "price_band_pct": Decimal("10"),
        "max_open_orders": 50,
        "max_orders_per_minute": 600,
    }
    phase = ruleset_publish(
        ruleset=ruleset_create(
            actor=None,
            code="bench-p1",
            name="bench phase 1",
            stage="evaluation",
            profit_target_kind="pct_of_initial",
            profit_target_value=Decimal("10"),
            min_trading_days=1,
            max_duration_days=30,
            **common,
        ),
        actor=None,
    )
    funded = ruleset_publish(
        ruleset=ruleset_create(
            actor=None, code="bench-funded", name="bench funded", stage="funded", **common
        ),
        actor=None,
    )
    plan = plan_create(
        actor=None,
        phases=[phase],
        funded_ruleset=funded,
        code="bench",
        name="Bench plan",
        price=Decimal("100"),
        currency="USD",
        starting_balance=BALANCE,
        profit_split_pct=Decimal("80"),
        payout_frequency="biweekly",
        first_payout_days=14,
        min_payout=Decimal("50"),
        payout_requires_flat=True,
        refund_fee_with_first_payout=True,
        retry_discount_pct=Decimal("15"),
        scaling_plan=[],
        scaling_max_balance=None,
    )
    return plan_publish(plan=plan, actor=None), phase


def build_accounts(total: int, per_round: int, rounds: int) -> dict[str, list[int]]:
    """`total` phase-1 accounts, bulk-inserted; the first per_round × rounds hold a breachable
    long in their round's coin, the others small positions in other coins."""
    import random

    from apps.accounts.models import User
    from apps.challenges.models_lifecycle import Challenge, EvaluatedAccount, JournalEntry
    from apps.challenges.rules import Account, Engine, Fill, rules_from_json
    from apps.core import clock
    from apps.trading.models import Fill as FillRow
    from apps.trading.models import LedgerEntry, Position, TradingAccount

    rng = random.Random(7)
    plan, phase = make_plan()
    rules_json = phase.to_rules_json()
    rules = rules_from_json(rules_json)
    start = clock.now() - timedelta(minutes=5)
    users = User.objects.bulk_create(
        [User(email=f"trader{i}@bench.test", password="!") for i in range(total)], batch_size=2000
    )
    challenges = Challenge.objects.bulk_create(
        [
            Challenge(trader=u, plan=plan, purchase_ref=f"bench-{i}", price_paid=Decimal("100"))
            for i, u in enumerate(users)
        ],
        batch_size=2000,
    )
    accounts = TradingAccount.objects.bulk_create(
        [TradingAccount(owner=u, label="Bench · phase 1", created_at=start) for u in users],
        batch_size=2000,
    )
    for account in accounts:
        account.venue_ref = f"paper-{account.pk}"
    TradingAccount.objects.bulk_update(accounts, ["venue_ref"], batch_size=2000)
    # The database trigger adds each entry to its account's balance, bulk or not.
    capital = LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                account=a,
                key=f"bench:{a.pk}:capital",
                kind=LedgerEntry.Kind.STARTING_CAPITAL,
                amount=BALANCE,
                at=start,
                memo="Starting capital",
            )
            for a in accounts
        ],
        batch_size=2000,
    )
    groups: dict[str, list[int]] = {coin: [] for coin, _p, _s in BREACH_COINS[:rounds]}
    opened = start + timedelta(seconds=1)
    positions_of: dict[int, list[tuple[str, str, Decimal, Decimal]]] = {}
    for i, account in enumerate(accounts):
        if i < per_round * rounds:
            coin, price, size = BREACH_COINS[i // per_round]
            positions_of[account.pk] = [(coin, "buy", Decimal(size), Decimal(price))]
            groups[coin].append(account.pk)
        else:
            held = rng.sample(OTHER_COINS, rng.randint(0, 2))
            positions_of[account.pk] = [
                (coin, rng.choice(("buy", "sell")), Decimal(rng.randint(100, 1000)), Decimal(p))
                for coin, p in held
            ]
    fills = FillRow.objects.bulk_create(
        [
            FillRow(
                account_id=pk,
                venue_fill_id=f"bench-{pk}-{coin}",
                coin=coin,
                side=side,
                size=size,
                price=price,
                fee=Decimal(0),
                liquidity="taker",
                realized_pnl=Decimal(0),
                at=opened,
            )
            for pk, held in positions_of.items()
            for coin, side, size, price in held
        ],
        batch_size=5000,
    )
    last_fill = {f.account_id: f.pk for f in fills}
    Position.objects.bulk_create(
        [
            Position(
                account_id=pk,
                coin=coin,
                size=size if side == "buy" else -size,
                entry_price=price,
                updated_at=opened,
            )
            for pk, held in positions_of.items()
            for coin, side, size, price in held
        ],
        batch_size=5000,
    )
    evaluated, journals = [], []
    capital_of = {e.account_id: e.pk for e in capital}
    for account, user, challenge in zip(accounts, users, challenges, strict=True):
        # The rule state the rules engine itself writes: its checkpoint after the fills.
        engine = Engine(rules, Account("USD", BALANCE, start))
        events = []
        for coin, side, size, price in positions_of[account.pk]:
            event = {
                "t": opened.isoformat(),
                "type": "fill",
                "symbol": coin,
                "side": side,
                "qty": f"{size.normalize():f}",
                "price": f"{price.normalize():f}",
                "fee": "0",
            }
            engine.apply(Fill(opened, coin, side, size, price, Decimal(0)))
            events.append(event)
        row = EvaluatedAccount(
            trader=user,
            challenge=challenge,
            trading_account=account,
            ruleset=phase,
            stage=EvaluatedAccount.Stage.EVALUATION,
            phase=1,
            rules=rules_json,
            starting_balance=BALANCE,
            start=start,
            checkpoint=engine.checkpoint(),
            fed_fills=last_fill.get(account.pk, 0),
            fed_ledger=capital_of[account.pk],
            journal_seq=len(events),
            evaluated_at=opened,
        )
        evaluated.append(row)
        journals.append(events)
    EvaluatedAccount.objects.bulk_create(evaluated, batch_size=1000)
    JournalEntry.objects.bulk_create(
        [
            JournalEntry(account=row, seq=seq, t=opened, event=event)
            for row, events in zip(evaluated, journals, strict=True)
            for seq, event in enumerate(events, start=1)
        ],
        batch_size=5000,
    )
    return groups


def market() -> dict[str, str]:
    from apps.market.services import instruments_load
    from apps.trading import market_view

    coins = [(coin, price) for coin, price, _size in BREACH_COINS] + OTHER_COINS
    universe = [{"name": coin, "szDecimals": 2, "maxLeverage": 20} for coin, _price in coins]
    instruments_load(payload={"universe": universe}, source="bench")
    market_view.clear_cache()
    return dict(coins)


def publish(prices: dict[str, str], seq: int):
    from apps.core import clock
    from apps.core.redis import get_redis
    from apps.market.feed.publisher import FramePublisher
    from apps.market.frames import Frame, Tick

    frame = Frame(
        seq=seq,
        t=clock.now(),
        prices={c: Tick(*(Decimal(p),) * 3, Decimal(0)) for c, p in prices.items()},
        source="bench",
    )
    FramePublisher(get_redis()).publish(frame)


def run(args) -> list[dict]:
    from apps.core.redis import get_redis
    from apps.risk.engine.loop import RiskEngine
    from apps.trading.models import Order, TradingAccount

    get_redis().flushdb()
    prices = market()
    publish(prices, 1)
    started = time.perf_counter()
    groups = build_accounts(args.accounts, args.breached, args.rounds)
    print(f"# built {args.accounts} accounts in {time.perf_counter() - started:.1f} s", flush=True)

    engine = RiskEngine(workers=args.workers, announce=lambda text: print("#", text, flush=True))
    stop = threading.Event()
    loop = threading.Thread(target=engine.run, kwargs={"stop": stop}, daemon=True)
    started = time.perf_counter()
    loop.start()
    while engine.stats.rebuilds == 0 or engine.rebuild_needed:
        time.sleep(0.05)
    print(f"# engine holds {len(engine.held)} in {time.perf_counter() - started:.1f} s")
    time.sleep(1.0)  # a couple of quiet frames' worth: nothing pending

    to_halt, to_flatten = [], []
    seq = 1
    try:
        for coin, price, _size in BREACH_COINS[: args.rounds]:
            accounts = groups[coin]
            seq += 1
            dropped = {**prices, coin: f"{Decimal(price) * Decimal('0.95'):f}"}
            published = time.perf_counter()
            publish(dropped, seq)
            deadline = time.monotonic() + 240
            while not all(a in engine.stats.enforced for a in accounts):
                if time.monotonic() > deadline:
                    raise SystemExit(f"round {coin}: enforcement did not finish in 240 s")
                time.sleep(0.05)
            halts = [h for h in engine.stats.halts if h.seq == seq]
            halted = {a for h in halts for a in h.accounts}
            assert halted == set(accounts), f"{len(halted)} halted of {len(accounts)}"
            to_halt.append((max(h.committed_at for h in halts) - published) * 1000)
            # An account's flattening orders are submitted by the engine's batch, or else by
            # its lifecycle (when the batch had to leave it).
            batch = {a: h.flattened_at for h in halts for a in h.flattened}
            done = [(batch.get(a, engine.stats.enforced[a]) - published) * 1000 for a in accounts]
            to_flatten += done
            print(f"# {coin}: {len(batch)} of {len(accounts)} flattened by the batch")
            states = TradingAccount.objects.filter(pk__in=accounts).values_list("state", flat=True)
            flattens = Order.objects.filter(account_id__in=accounts, origin="system_flatten")
            assert set(states) == {"halted"} and flattens.count() == len(accounts)
            print(
                f"# {coin}: {len(accounts)} halted in {to_halt[-1]:.0f} ms, all flattening "
                f"orders in {max(done):.0f} ms, every lifecycle done in "
                f"{(max(engine.stats.enforced[a] for a in accounts) - published) * 1000:.0f} ms",
                flush=True,
            )
            prices = dropped
            time.sleep(1.0)
    finally:
        stop.set()
        loop.join(60)
    enforce_each = list(engine.stats.enforce_ms)
    target = {"breach_to_halt": 250, "breach_to_flatten": 1000}
    results = [
        {
            "measure": "breach_to_halt",
            "p50": round(percentile(to_halt, 50), 1),
            "p99": round(percentile(to_halt, 99), 1),
            "unit": "ms",
            "target_p99": target["breach_to_halt"],
            "n": len(to_halt),
        },
        {
            "measure": "breach_to_flatten",
            "p50": round(percentile(to_flatten, 50), 1),
            "p99": round(percentile(to_flatten, 99), 1),
            "unit": "ms",
            "target_p99": target["breach_to_flatten"],
            "n": len(to_flatten),
        },
        {
            "measure": "breach_enforce_each",
            "p50": round(percentile(enforce_each, 50), 1),
            "p99": round(percentile(enforce_each, 99), 1),
            "unit": "ms",
            "n": len(enforce_each),
        },
    ]
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    args.accounts = 2_000 if args.quick else 10_000
    args.breached = 200 if args.quick else 1_000
    args.rounds = args.rounds or (1 if args.quick else 3)
    setup_database()
    try:
        results = run(args)
    finally:
        if not args.keep:
            from apps.core.redis import get_redis

            get_redis().flushdb()
            drop_database()
    for result in results:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
