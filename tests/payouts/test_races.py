"""Races with real threads on real transactions: two finance people approving one payout at
once, a trader's double click, two workers starting one run. Each pays once.

Without the row lock in `payout_approve` (`_locked`), both approvals read "requested", both
pass, and the high-water mark is raised twice: this test fails that way."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from apps.accounts import roles
from apps.core import clock
from apps.core.models import AuditEvent
from apps.payouts.models import FundedTerms, Payout
from apps.payouts.runs import payout_run
from apps.payouts.services import PayoutError, payout_approve, payout_request
from apps.trading.models import LedgerEntry
from tests.payouts.support import book_profit, funded_from_plan, payout_plan, staff, trader
from tests.trading.market import load_instruments, set_prices

pytestmark = pytest.mark.django_db(transaction=True)


def race(*calls):
    """Run the calls at the same instant, each in its own thread and connection."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def go(n, call):
        try:
            barrier.wait()
            results[n] = call()
        except Exception as exc:
            results[n] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(n, c)) for n, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.fixture
def funded():
    load_instruments()
    set_prices(BTC="60000")
    account = funded_from_plan(payout_plan("race"), trader())
    book_profit(account, "10000", "profit")
    clock.travel(clock.now() + timedelta(days=15))
    return account


def test_two_approvals_racing_pay_once(funded):
    payout = payout_request(account=funded, actor=funded.trader)
    alice, bob = staff(roles.FINANCE), staff(roles.FINANCE)
    results = race(
        lambda: payout_approve(payout=payout, actor=alice),
        lambda: payout_approve(payout=payout, actor=bob),
    )
    approved = [r for r in results if isinstance(r, Payout)]
    refused = [r for r in results if isinstance(r, PayoutError)]
    assert len(approved) == 1 and len(refused) == 1, results
    assert refused[0].code == "not_requested"
    terms = FundedTerms.objects.get(account=funded)
    assert terms.high_water_mark == Decimal("110000") and terms.paid_out_total == Decimal("10000")
    assert LedgerEntry.objects.filter(kind="payout").count() == 1
    assert AuditEvent.objects.filter(action="payout.approve").count() == 1
    funded.trading_account.refresh_from_db()
    assert funded.trading_account.balance == Decimal("100000")


def test_a_double_click_on_request_makes_one_payout(funded):
    results = race(
        lambda: payout_request(account=funded, actor=funded.trader),
        lambda: payout_request(account=funded, actor=funded.trader),
    )
    assert sorted(type(r).__name__ for r in results) == ["Payout", "PayoutError"], results
    assert Payout.objects.count() == 1


def test_two_workers_starting_one_run_make_each_payout_once():
    load_instruments()
    set_prices(BTC="60000")
    plan = payout_plan("runrace", payout_frequency="monthly", first_payout_days=0)
    for n in range(6):
        book_profit(funded_from_plan(plan, trader(), ref=f"b{n}"), "1000", f"p{n}")
    clock.travel(clock.now() + timedelta(days=40))
    results = race(
        lambda: payout_run(frequency="monthly", chunk=2),
        lambda: payout_run(frequency="monthly", chunk=2),
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Payout.objects.count() == 6
    assert Payout.objects.values("account").distinct().count() == 6
