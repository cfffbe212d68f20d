"""The engine rides out a Redis or PostgreSQL outage: it backs off, rebuilds the shard from
PostgreSQL and goes on screening (here: it still catches the breach that follows)."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from django.db import OperationalError

from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.risk.engine import loop
from apps.risk.engine.loop import RiskEngine
from tests.risk_engine.support import market, open_accounts, publish, trade, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("frames_read", redis.ConnectionError("Connection refused")),
        ("shard_account_ids", OperationalError("server closed the connection unexpectedly")),
    ],
)
def test_after_an_outage_the_engine_rebuilds_from_postgresql_and_screens_on(
    monkeypatch, target, error
):
    market()
    (account,) = open_accounts(1)
    trade(account, "buy", "4")
    real = getattr(loop, target)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first call works, the second finds the service gone
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, target, flaky)
    # The rescan reads PostgreSQL on every turn here, so the outage is met at once.
    engine = RiskEngine(workers=1, push=False, block_ms=50, rescan_interval=0.0)
    stop = threading.Event()
    runner = threading.Thread(target=engine.run, kwargs={"max_frames": 1, "stop": stop})
    runner.start()
    try:
        wait_until(lambda: len(calls) >= 3 and not engine.rebuild_needed, what="a rebuild")
        time.sleep(0.2)
        publish(BTC="57000")
        runner.join(30)
    finally:
        stop.set()
        runner.join(10)
    assert engine.stats.errors >= 1 and engine.stats.rebuilds >= 2
    assert engine.stats.halts and engine.stats.halts[-1].accounts == [account.trading_account_id]
    assert EvaluatedAccount.objects.get(pk=account.pk).status == "failed"
