"""Reading what happened at the venue into our books: the recorded 2023 history of a real
account (fills without `tid`, funding), polling round-robin within the budget, the
reconciliation source, and that nothing reaches a real host."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from apps.core.redis import get_redis
from apps.trading.models import Fill, LedgerEntry, TradingAccount
from apps.trading.models_hyperliquid import HyperliquidMaster, SubAccount
from apps.trading.outbox import account_sync
from apps.trading.selectors import ledger_sum
from apps.trading.venues.base import VenueError
from apps.trading.venues.hyperliquid.budget import Budget
from apps.trading.venues.hyperliquid.config import MAINNET_URL, base_url_of
from apps.trading.venues.hyperliquid.polling import POINTER, poll_round
from apps.trading.venues.hyperliquid.reconciliation import positions_and_balances
from tests.factories import UserFactory
from tests.hyperliquid.helpers import ready_account
from tests.hyperliquid.test_wire import FILLS_USER

pytestmark = pytest.mark.django_db


def recorded_account(master) -> TradingAccount:
    """An account whose sub-account is the recorded user of the 2023 cassettes."""
    account = TradingAccount.objects.create(
        owner=UserFactory(), venue="hyperliquid", venue_ref=FILLS_USER
    )
    SubAccount.objects.create(
        master=master,
        address=FILLS_USER,
        name="recorded",
        status="assigned",
        trading_account=account,
    )
    return account


def test_the_recorded_history_is_booked_once_however_often_it_is_read(fake, master):
    account = recorded_account(master)
    booked = account_sync(account=account)
    assert booked == 500 + 218  # every recorded fill, every funding payment
    assert Fill.objects.filter(account=account).count() == 500
    assert account.__class__.objects.get(pk=account.pk).venue_cursor == {
        "fills": 1683245884863,
        "funding": 1683244800000,
    }
    funding = LedgerEntry.objects.filter(account=account, kind="funding")
    assert funding.count() == 218
    again = account_sync(account=account)  # the last millisecond is read again, booked once
    assert Fill.objects.filter(account=account).count() == 500
    assert funding.count() == 218 and again >= 1
    account.refresh_from_db()
    assert account.balance == ledger_sum(account)


def test_a_reused_sub_account_reads_nothing_from_before_it_was_ours(fake, master):
    account = recorded_account(master)
    SubAccount.objects.filter(address=FILLS_USER).update(history_from_ms=1683245800000)
    account_sync(account=account)
    fills = Fill.objects.filter(account=account)
    assert fills.count() > 0
    assert min(f.at for f in fills).timestamp() * 1000 >= 1683245800000
    assert not LedgerEntry.objects.filter(account=account, kind="funding").exists()


def test_funding_paid_at_the_venue_enters_the_ledger_once(fake, master):
    account = ready_account()
    now = int(time.time() * 1000)
    fake.add_funding(account.venue_ref, "BTC", "-1.25", "0.0000125", now)
    account_sync(account=account)
    account_sync(account=account)
    [entry] = LedgerEntry.objects.filter(account=account, kind="funding")
    assert entry.amount == D("-1.250000")


def test_polling_goes_round_robin_and_stops_at_the_budgets_reserve(fake, master, settings):
    accounts = [ready_account(key=f"a{i}") for i in range(3)]
    for account in accounts:
        fake.add_funding(account.venue_ref, "ETH", "0.5", "-0.0001", int(time.time() * 1000))
    get_redis().delete(Budget().key)
    # 100 a minute, 25 kept for orders: each sub-account costs 40, so one pass reads one.
    settings.HYPERLIQUID_WEIGHT_PER_MINUTE = "125"
    assert poll_round() == 1
    first = int(get_redis().get(POINTER))
    get_redis().delete(Budget().key)
    assert poll_round() == 1
    assert int(get_redis().get(POINTER)) > first  # the next pass starts after the last one
    settings.HYPERLIQUID_WEIGHT_PER_MINUTE = "1200"
    get_redis().delete(Budget().key)
    assert poll_round() == 3
    assert LedgerEntry.objects.filter(kind="funding").count() == 3


def test_one_sub_accounts_call_reconciles_every_sub_account_of_a_master(fake, master):
    first = ready_account("10000", key="one")
    second = ready_account("20000", key="two")
    fake.subs[second.venue_ref].positions["ETH"] = [D("1.5"), D("1800")]
    fake.legacy_state = True  # the 2023 shape: no time, no newer fields
    before = len(fake.info_log)
    found = positions_and_balances(master)
    assert [b["type"] for b in fake.info_log[before:]] == ["subAccounts"]
    assert found[first.venue_ref].balance == D("10000") and found[first.venue_ref].positions == []
    held = found[second.venue_ref]
    assert held.balance == D("20000")  # cash: account value less unrealised P&L
    assert [(p.coin, p.size, p.entry_price) for p in held.positions] == [
        ("ETH", D("1.5"), D("1800"))
    ]


def test_a_master_without_a_network_talks_to_mainnet_which_the_tests_never_reach(
    network_guard, monkeypatch, db
):
    monkeypatch.setenv("HL_TEST_AGENT_KEY", "0x" + "1" * 64)
    master = HyperliquidMaster.objects.create(
        label="No network", address="0x" + "6b" * 20, agent_key_env="HL_TEST_AGENT_KEY"
    )
    assert base_url_of(master) == MAINNET_URL
    with pytest.raises(VenueError, match="Hyperliquid did not answer subAccounts"):
        positions_and_balances(master)
    assert network_guard == ["api.hyperliquid.xyz"]
    network_guard.clear()


def test_a_missing_agent_key_is_a_clear_error_that_never_shows_a_key(fake, master, monkeypatch):
    from apps.trading.venues.hyperliquid.config import agent_wallet

    monkeypatch.setenv("HL_TEST_AGENT_KEY", "not-a-key-but-secret")
    with pytest.raises(VenueError, match="malformed") as refused:
        agent_wallet(master)
    assert "secret" not in refused.value.reason
    monkeypatch.delenv("HL_TEST_AGENT_KEY")
    with pytest.raises(VenueError, match="HL_TEST_AGENT_KEY is empty or unset"):
        agent_wallet(master)
