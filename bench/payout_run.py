"""payout_run, payout_rerun: a monthly payout run over 10,000 funded accounts (seconds), then
the same run passed over every account again (nothing new to pay). Uses its own database,
removed at the end; the accounts are bulk-built through the real models.

    .venv/bin/python bench/payout_run.py [--quick] [--accounts 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "propfirm_bench_payouts"
REDIS_DB = 12
os.environ.update(
    DJANGO_SETTINGS_MODULE="propfirm.settings",
    DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
    CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
    CELERY_RESULT_BACKEND=f"redis://127.0.0.1:6379/{REDIS_DB}",
    STATIC_MANIFEST="false",
    CLOCK_SHARED="false",
)
RUN_AT = datetime(2026, 4, 1, 1, 5, tzinfo=UTC)
FUNDED_AT = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)


def setup() -> None:
    import django
    from django.core.management import call_command

    subprocess.run(
        [sys.executable, "manage.py", "ensure_services", "--create-database"],
        cwd=ROOT,
        env=dict(os.environ),
        check=True,
        capture_output=True,
    )
    django.setup()
    call_command("migrate", verbosity=0)
    from apps.core.redis import get_redis

    get_redis().flushdb()


def build(n: int) -> None:
    """N traders with a funded account each on one monthly plan: most in profit, some below
    the minimum or in a loss, a few with an open position (held) or KYC pending (held)."""
    from django.db import transaction

    from apps.accounts.models import TraderProfile, User
    from apps.challenges.models_lifecycle import Challenge, EvaluatedAccount
    from apps.challenges.services import (
        plan_create,
        plan_publish,
        ruleset_create,
        ruleset_publish,
    )
    from apps.trading.models import LedgerEntry, Position, TradingAccount

    rng = random.Random(7)
    common = {
        "day_reset_timezone": "UTC",
        "day_reset_time": "00:00",
        "breach_when": "below",
        "daily_loss_anchor": "day_start_balance",
        "daily_loss_kind": "pct_of_initial",
        "daily_loss_value": Decimal("5"),
        "max_loss_anchor": "initial",
        "max_loss_kind": "pct_of_initial",
        "max_loss_value": Decimal("10"),
        "max_order_notional": Decimal("250000"),
        "max_position_notional": Decimal("500000"),
    }

    def ruleset(code: str, stage: str, **extra):
        made = ruleset_create(actor=None, code=code, name=code, stage=stage, **common, **extra)
        return ruleset_publish(ruleset=made, actor=None)

    phase = ruleset(
        "bench-p1",
        "evaluation",
        profit_target_kind="pct_of_initial",
        profit_target_value=Decimal("8"),
    )
    funded = ruleset("bench-funded", "funded")
    plan = plan_publish(
        plan=plan_create(
            actor=None,
            phases=[phase],
            funded_ruleset=funded,
            code="bench",
            name="Bench plan",
            price=Decimal("549"),
            currency="USD",
            starting_balance=Decimal("100000"),
            profit_split_pct=Decimal("80"),
            payout_frequency="monthly",
            first_payout_days=14,
            min_payout=Decimal("50"),
            payout_requires_flat=True,
            refund_fee_with_first_payout=True,
        ),
        actor=None,
    )
    rules = funded.to_rules_json()
    with transaction.atomic():
        users = User.objects.bulk_create(
            User(email=f"bench{i}@bench.test", name=f"Bench {i}", password="!") for i in range(n)
        )
        TraderProfile.objects.bulk_create(
            TraderProfile(
                user=u,
                legal_name=u.name,
                country="DE",
                tax_id=f"DE{u.pk}",
                payout_method="usdc",
                payout_usdc_address="0x" + "b" * 40,
                kyc_status="pending" if i % 97 == 0 else "approved",
                kyc_reason="",
            )
            for i, u in enumerate(users)
        )
        challenges = Challenge.objects.bulk_create(
            Challenge(
                trader=u,
                plan=plan,
                purchase_ref=f"bench-{u.pk}",
                price_paid=plan.price,
                status="funded",
                created_at=FUNDED_AT - timedelta(days=30),
            )
            for u in users
        )
        accounts = TradingAccount.objects.bulk_create(
            TradingAccount(owner=u, label="bench funded", venue_ref=f"paper-bench-{u.pk}")
            for u in users
        )
        entries = []
        for account in accounts:
            entries.append(
                LedgerEntry(
                    account=account,
                    key=f"bench:{account.pk}:capital",
                    kind="starting_capital",
                    amount=Decimal("100000"),
                    at=FUNDED_AT,
                )
            )
            profit = Decimal(rng.randint(-300_000, 900_000)) / 100
            if profit:
                entries.append(
                    LedgerEntry(
                        account=account,
                        key=f"bench:{account.pk}:pnl",
                        kind="realized_pnl",
                        amount=profit,
                        at=FUNDED_AT + timedelta(days=20),
                    )
                )
        LedgerEntry.objects.bulk_create(entries, batch_size=5000)  # the trigger sets balances
        EvaluatedAccount.objects.bulk_create(
            EvaluatedAccount(
                trader=u,
                challenge=c,
                trading_account=a,
                ruleset=funded,
                stage="funded",
                rules=rules,
                starting_balance=Decimal("100000"),
                start=FUNDED_AT,
            )
            for u, c, a in zip(users, challenges, accounts, strict=True)
        )
        Position.objects.bulk_create(
            Position(account=a, coin="BTC", size=Decimal("0.1"), entry_price=Decimal("60000"))
            for a in accounts[::113]
        )


def measure(n: int) -> list[dict]:
    from apps.payouts.models import Payout
    from apps.payouts.runs import payout_run

    started = time.perf_counter()
    run = payout_run(frequency="monthly", now=RUN_AT)
    first = time.perf_counter() - started
    made = Payout.objects.count()
    assert run.status == "done" and run.processed == n, run
    started = time.perf_counter()
    again = payout_run(frequency="monthly", now=RUN_AT, force=True)
    second = time.perf_counter() - started
    assert again.status == "done" and Payout.objects.count() == made, "the re-run paid again"
    print(
        f"{n} accounts: {run.requested} payouts requested, {run.held} held; "
        f"re-run made {Payout.objects.count() - made}",
        file=sys.stderr,
    )
    return [
        {
            "measure": "payout_run",
            "value": round(first, 2),
            "unit": "s",
            "target_value": 30,
            "n": n,
        },
        {
            "measure": "payout_rerun",
            "value": round(second, 2),
            "unit": "s",
            "target_value": 10,
            "n": n,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--accounts", type=int, default=10_000)
    args = parser.parse_args()
    n = 1_000 if args.quick else args.accounts
    try:
        setup()
        build(n)
        results = measure(n)
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", DB_NAME],
            check=False,
        )
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
