"""Orders racing a HALTED commit, with real threads and committed transactions.

The property: no order is accepted after the HALTED commit. The account's audit chain orders
both (each audited write takes the account's lock until it commits), so an `order.submit`
event after the halting `account.state` event would be an order accepted after the halt.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.core.models import AuditEvent
from apps.trading import registry
from apps.trading.models import Order, OutboxMessage, TradingAccount
from apps.trading.services import OrderRefused, account_open, account_set_state
from tests.risk.support import person, submit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _nothing_leaves(monkeypatch):
    """These orders commit for real: keep them from reaching a Celery worker another test may
    have started, whose outbox claims would race this test's teardown."""
    monkeypatch.setattr("apps.trading.services._after_commit_dispatch", lambda *a: None)


@pytest.fixture
def account(market):
    return account_open(owner=person(), starting_balance=Decimal("100000"), key="race")


def chain(account) -> list[tuple[int, str]]:
    return list(
        AuditEvent.objects.filter(subject_type="trading.tradingaccount", subject_id=str(account.pk))
        .order_by("seq")
        .values_list("seq", "action")
    )


def accepted_after_the_halt(account) -> list[int]:
    events = chain(account)
    halted = next(
        seq for seq, action in events if action == "account.state"
    )  # the only state change in these tests
    return [seq for seq, action in events if action == "order.submit" and seq > halted]


def in_thread(fn, results: list, errors: list) -> threading.Thread:
    def run():
        try:
            results.append(fn())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_refused_order_commits_nothing(account):
    account_set_state(account=account, state="halted", reason="breach")
    with pytest.raises(OrderRefused) as caught:
        submit(account, size="0.1")
    assert caught.value.code == "account_halted"
    assert not Order.objects.exists() and not OutboxMessage.objects.exists()
    assert [action for _, action in chain(account)] == ["account.open", "account.state"]


def test_once_halted_commits_every_later_order_is_refused(account):
    stale = TradingAccount.objects.get(pk=account.pk)  # loaded before the halt, kept after
    halted = threading.Event()
    results: list = []
    errors: list = []

    def trade_until_refused():
        placed = []
        for n in range(500):
            try:
                placed.append(submit(stale, key=f"loop-{n}", size="0.01"))
            except OrderRefused as exc:
                return placed, exc.code, halted.is_set()
        return placed, None, halted.is_set()

    def halt():
        account_set_state(account=account, state="halted", reason="breach")
        halted.set()

    trader = in_thread(trade_until_refused, results, errors)
    enforcer = in_thread(halt, [], errors)
    trader.join(30)
    enforcer.join(30)
    assert errors == []
    placed, code, _ = results[0]
    assert code == "account_halted"
    assert accepted_after_the_halt(account) == []
    for n in range(5):  # and from the commit on, every order is refused
        with pytest.raises(OrderRefused) as caught:
            submit(stale, key=f"after-{n}", size="0.01")
        assert caught.value.code == "account_halted"
    assert Order.objects.count() == len(placed)


def test_an_order_that_passed_the_gate_is_written_before_a_concurrent_halt_can_commit(
    account, monkeypatch
):
    """The order is held after the gate said yes and before it is written; meanwhile the halt
    tries to commit. The account row locked for the checks makes the halt wait, so the order
    lands before it, never after."""
    gate_passed, release = threading.Event(), threading.Event()

    def hold_after_the_gate(context):
        if context.intent.client_order_id == "held":
            gate_passed.set()
            release.wait(10)
        return None

    # Runs after "risk.gate", which RiskConfig.ready() registered first.
    monkeypatch.setitem(registry._CHECKS, "test.hold", hold_after_the_gate)
    orders: list = []
    halts: list = []
    errors: list = []
    trader = in_thread(
        lambda: submit(account, key="held-order", client_order_id="held", size="0.1"),
        orders,
        errors,
    )
    assert gate_passed.wait(10)
    enforcer = in_thread(
        lambda: account_set_state(account=account, state="halted", reason="breach"),
        halts,
        errors,
    )
    enforcer.join(0.5)
    assert enforcer.is_alive(), "the halt must wait for the order holding the account's row"
    release.set()
    trader.join(10)
    enforcer.join(10)
    assert errors == []
    assert len(orders) == 1 and len(halts) == 1
    assert accepted_after_the_halt(account) == []
    assert [action for _, action in chain(account)][-2:] == ["order.submit", "account.state"]
    with pytest.raises(OrderRefused):
        submit(account, size="0.1")
