"""The paper venue as a process: frames from the stream match resting orders and pay
funding on the venue's own books; our side books what the venue reports."""

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.core.redis import get_redis
from apps.market.feed.publisher import FramePublisher
from apps.market.frames import Frame, Tick
from apps.trading.models import Fill, LedgerEntry
from apps.trading.outbox import account_sync, outbox_dispatch
from apps.trading.registry import OrderIntent
from apps.trading.services import account_open, order_submit
from tests.conftest import ROOT
from tests.factories import UserFactory
from tests.trading.market import load_instruments, set_prices

pytestmark = pytest.mark.django_db(transaction=True)


def _frame(seq: int, t: datetime, price: str, funding: str = "0.0001") -> Frame:
    p = Decimal(price)
    return Frame(seq=seq, t=t, prices={"BTC": Tick(p, p, p, Decimal(funding))}, source="test")


def test_run_paper_venue_fills_a_resting_order_and_pays_funding(service_env, monkeypatch):
    monkeypatch.setattr("apps.trading.services._after_commit_dispatch", lambda *a: None)
    load_instruments()
    set_prices(BTC="60000")
    account = account_open(owner=UserFactory(), starting_balance=Decimal("100000"), key="proc")
    long = order_submit(
        account=account,
        origin="trader_api",
        idempotency_key="long",
        intent=OrderIntent(coin="BTC", side="buy", kind="market", size=Decimal("1")),
    )
    resting = order_submit(
        account=account,
        origin="trader_api",
        idempotency_key="rest",
        intent=OrderIntent(
            coin="BTC", side="buy", kind="limit", size=Decimal("0.5"), limit_price=Decimal("59000")
        ),
    )
    outbox_dispatch()
    account_sync(account=account)

    venue = subprocess.Popen(
        [sys.executable, "manage.py", "run_paper_venue", "--max-frames", "2"],
        cwd=ROOT,
        env=service_env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert "waiting for frames" in venue.stdout.readline()
    publisher = FramePublisher(get_redis())
    # Two hours later the price dips through the limit: one frame crosses an hour boundary
    # (funding), the other fills the resting order as maker.
    later = datetime.now(UTC) + timedelta(hours=1)
    publisher.publish(_frame(1000, later, "59500"))
    publisher.publish(_frame(1001, later + timedelta(seconds=1), "58900"))
    assert venue.wait(timeout=30) == 0

    # A Celery worker left running by an earlier test may book the fills first; either way
    # they are booked once.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        account_sync(account=account)
        resting.refresh_from_db()
        if resting.status == "filled" and LedgerEntry.objects.filter(kind="funding").exists():
            break
        time.sleep(0.2)
    assert resting.status == "filled"
    maker = Fill.objects.get(order=resting)
    assert (maker.price, maker.liquidity) == (Decimal("59000"), "maker")
    long.refresh_from_db()
    assert long.status == "filled"
    account.refresh_from_db()
    assert account.balance == sum(
        LedgerEntry.objects.filter(account=account).values_list("amount", flat=True)
    )
    funding = LedgerEntry.objects.get(account=account, kind="funding")
    # Longs pay a positive rate: 1 BTC × oracle 59,500 × 0.0001.
    assert (funding.amount, funding.coin) == (Decimal("-5.95"), "BTC")
