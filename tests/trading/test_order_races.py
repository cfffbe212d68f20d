"""Concurrency and crashes, with real threads and a real killed process."""

import subprocess
import sys
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from apps.core import clock
from apps.trading.models import Fill, Order, OutboxMessage, PaperBook, PaperEvent
from apps.trading.outbox import outbox_dispatch
from apps.trading.registry import OrderIntent
from apps.trading.services import account_open, order_submit
from tests.conftest import ROOT
from tests.factories import UserFactory
from tests.trading.market import load_instruments, set_prices

pytestmark = pytest.mark.django_db(transaction=True)

INTENT = OrderIntent(coin="BTC", side="buy", kind="market", size=Decimal("0.1"))


@pytest.fixture
def account():
    load_instruments()
    set_prices(BTC="60000")
    return account_open(owner=UserFactory(), starting_balance=Decimal("100000"), key="race")


def test_two_concurrent_submissions_with_one_key_make_one_order(account, monkeypatch):
    monkeypatch.setattr("apps.trading.services._after_commit_dispatch", lambda *a: None)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def submit():
        try:
            barrier.wait()
            results.append(
                order_submit(
                    account=account, intent=INTENT, origin="trader_api", idempotency_key="once"
                )
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results[0].pk == results[1].pk
    assert Order.objects.count() == 1 and OutboxMessage.objects.count() == 1


CRASH = """
from apps.trading.outbox import _claim, _send
message = _claim()
status = _send(message)          # the venue has the order now...
os._exit(9)                      # ...and the worker dies before recording anything
"""


def test_a_worker_killed_after_sending_leaves_one_order_on_each_side(
    account, service_env, monkeypatch
):
    # Nobody else may pick the order up: the worker this test kills is the only sender.
    monkeypatch.setattr("apps.trading.services._after_commit_dispatch", lambda *a: None)
    order = order_submit(
        account=account, intent=INTENT, origin="trader_api", idempotency_key="crash"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", CRASH],
        cwd=ROOT,
        env=service_env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 9, result.stderr
    message = OutboxMessage.objects.get(order=order)
    assert message.status == "unknown"
    assert PaperEvent.objects.filter(kind="fill").count() == 1  # the venue filled it
    order.refresh_from_db()
    assert order.status == "pending" and not Fill.objects.exists()  # we never recorded it

    assert outbox_dispatch() == 0  # the lease still holds: nobody touches it yet
    clock.advance(timedelta(seconds=31))
    assert outbox_dispatch() == 1  # asks the venue first, does not resend

    book = PaperBook.objects.get()
    assert list(book.state["seen"]) == [order.venue_client_id]
    assert PaperEvent.objects.filter(kind="fill").count() == 1
    order.refresh_from_db()
    assert order.status == "filled" and Fill.objects.count() == 1
    assert OutboxMessage.objects.get(order=order).status == "done"
