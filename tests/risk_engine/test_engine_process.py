"""`manage.py run_risk_engine` as a process against PostgreSQL and Redis, fed frames the way the
feed publishes them: breaches enforced, floors resumed after a restart, shards that split the
accounts between them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.core import clock
from apps.core.models import AuditEvent
from apps.core.services import audit_verify_chains
from apps.risk.engine.aggregate import firm_aggregate_latest, firm_partials_latest
from apps.trading.models import Order, Position, TradingAccount
from apps.trading.outbox import outbox_dispatch
from tests.risk_engine.support import EngineProcess, market, open_accounts, publish, trade
from tests.trading.market import set_prices

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def test_a_frame_below_the_floor_halts_the_account_cancels_its_orders_and_flattens_it(
    service_env, mailbox
):
    market()
    breached, safe = open_accounts(2)
    trade(breached, "buy", "4")  # 240,000 of BTC on 100,000
    resting = trade(breached, "buy", "0.5", kind="limit", limit_price=Decimal("58000"))
    trade(safe, "buy", "0.1")
    assert resting.status == "open"

    engine = EngineProcess(service_env, "--max-frames", "2").ready()
    publish(BTC="59500")  # −2,000: inside every floor
    publish(BTC="57000")  # −12,000 and fees: below the max-loss floor (90,000)
    summary = engine.wait()

    assert summary["halted"] == [breached.trading_account_id]
    # Cancels and flattening orders were committed by the engine's batch too …
    assert summary["flattened"] == [breached.trading_account_id]
    account = EvaluatedAccount.objects.get(pk=breached.pk)
    assert (account.status, account.reason) == ("failed", "max_loss")
    trading = TradingAccount.objects.get(pk=breached.trading_account_id)
    assert trading.state == "halted"
    # HALTED was committed by the engine's batch, before the lifecycle ran, and audited.
    halt = AuditEvent.objects.get(
        subject_id=str(trading.pk), action="account.state", actor_label="risk engine"
    )
    assert halt.after == {"state": "halted", "reason": "Breached the maximum loss limit."}
    assert audit_verify_chains()[1] == []  # the batch's rows extend each account's chain
    # … under the key the lifecycle flattens with, so its own pass found them: one order.
    flatten = Order.objects.get(account=trading, origin="system_flatten")
    assert (flatten.side, flatten.size, flatten.reduce_only) == ("sell", Decimal("4"), True)
    assert flatten.idempotency_key == f"flatten:{account.pk}:BTC:{account.journal_seq}"
    assert resting.outbox.filter(action="cancel").exists()
    assert "Your account has stopped" in mailbox.wait_for(breached.trader.email)["Subject"]

    outbox_dispatch()  # what a worker does next: the cancel and the flatten reach the venue
    resting.refresh_from_db()
    flatten.refresh_from_db()
    assert (resting.status, flatten.status) == ("cancelled", "filled")
    assert not Position.objects.filter(account=trading).exclude(size=0).exists()
    # The other account was screened and left alone.
    assert TradingAccount.objects.get(pk=safe.trading_account_id).state == "active"
    assert EvaluatedAccount.objects.get(pk=safe.pk).status == "active"


def test_a_restarted_engine_resumes_mid_day_with_the_same_floors(service_env):
    market()
    (account,) = open_accounts(1)
    trade(account, "buy", "2")
    set_prices(BTC="59000")
    trade(account, "sell", "2")  # −2,000 realised, and fees
    trade(account, "buy", "1")
    # The next trading day: its daily floor is 5 % of the initial balance under the balance
    # it started with (no longer 95,000). The first engine evaluates the reset and stops.
    clock.travel(clock.now() + timedelta(days=1))
    first = EngineProcess(service_env, "--max-frames", "1").ready()
    publish(BTC="59000")
    assert first.wait()["evaluated"] == [account.trading_account_id]
    before = firm_partials_latest()[0]["closest"]
    balance = TradingAccount.objects.get(pk=account.trading_account_id).balance
    assert before[0]["floor"] == f"{balance - Decimal(5000):.2f}" != "95000.00"

    second = EngineProcess(service_env, "--max-frames", "1").ready()
    publish(BTC="59000")
    assert second.wait()["evaluated"] == []  # nothing due: it holds what the first left
    assert firm_partials_latest()[0]["closest"] == before


def test_two_shards_split_the_accounts_and_their_aggregates_sum_to_the_firm(service_env):
    market()
    accounts = open_accounts(4, code="shards")
    breached, safe = accounts[:2], accounts[2:]  # consecutive ids: one of each shard in each
    for account in breached:
        trade(account, "buy", "4")
    for account in safe:
        trade(account, "buy", "0.1")
    ids = sorted(a.trading_account_id for a in accounts)
    shard0 = EngineProcess(service_env, "--shard", "0/2", "--max-frames", "1")
    shard1 = EngineProcess(service_env, "--shard", "1/2", "--max-frames", "1")
    shard0.ready()
    shard1.ready()
    publish(BTC="57000")  # the two large longs breach their max-loss floor
    summaries = [shard0.wait(), shard1.wait()]

    # Each account is held by exactly one shard: its id modulo 2.
    held = [set(s["holding"]) for s in summaries]
    assert held[0].isdisjoint(held[1]) and held[0] | held[1] == set(ids)
    assert all(a % 2 == 0 for a in held[0]) and all(a % 2 == 1 for a in held[1])
    # Each breach was evaluated and halted by its own shard only.
    evaluated = [set(s["evaluated"]) for s in summaries]
    assert evaluated[0].isdisjoint(evaluated[1])
    assert evaluated[0] | evaluated[1] == {a.trading_account_id for a in breached}
    assert sorted(summaries[0]["halted"] + summaries[1]["halted"]) == sorted(
        a.trading_account_id for a in breached
    )
    assert {EvaluatedAccount.objects.get(pk=a.pk).status for a in breached} == {"failed"}
    assert {EvaluatedAccount.objects.get(pk=a.pk).status for a in safe} == {"active"}

    # The sum of the two partials is the firm: both open accounts, one from each shard.
    partials = firm_partials_latest()
    assert sorted(p["shard"] for p in partials) == ["0/2", "1/2"]
    assert [p["accounts"] for p in sorted(partials, key=lambda p: p["shard"])] == [1, 1]
    total = firm_aggregate_latest()
    assert total["complete"] and total["shards"] == ["0/2", "1/2"]
    assert total["accounts"] == 2
    assert {row["account"] for row in total["closest"]} == {a.trading_account_id for a in safe}
    # 2 × 0.1 BTC at 57,000, on paper: simulated, not the firm's real exposure.
    btc = total["instruments"]["BTC"]
    assert btc["simulated"] == {
        "long": "11400.00",
        "short": "0.00",
        "net": "11400.00",
        "accounts": 2,
    }
    assert btc["real"]["net"] == "0.00"
