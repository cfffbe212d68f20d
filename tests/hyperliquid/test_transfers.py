"""Transfers of a ready account (payouts, resizes, closing out) through the venue protocol, and
the budget and the task around them."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from apps.core.redis import get_redis
from apps.trading.models import LedgerEntry
from apps.trading.models_hyperliquid import HyperliquidTransfer
from apps.trading.selectors import ledger_sum
from apps.trading.venues.base import VenueError, VenueTimeout
from apps.trading.venues.hyperliquid.budget import Budget
from apps.trading.venues.registry import venue_named
from tests.hyperliquid.helpers import open_account, ready_account

pytestmark = pytest.mark.django_db


def test_a_payout_leaves_the_sub_account_once_and_the_venue_books_nothing(fake, master):
    account = ready_account("10000")
    venue = venue_named("hyperliquid")
    venue.transfer(account.venue_ref, D("-500"), key="payout:7")
    venue.transfer(account.venue_ref, D("-500"), key="payout:7")  # a repeat: nothing more
    assert fake.subs[account.venue_ref].balance == D("9500")
    assert fake.actions("subAccountTransfer")[-1] == {
        "type": "subAccountTransfer",
        "subAccountUser": account.venue_ref,
        "isDeposit": False,
        "usd": 500_000_000,
    }
    # Payouts book their own ledger entry (apps/payouts), for every venue alike.
    assert not LedgerEntry.objects.filter(account=account, kind="payout").exists()
    account.refresh_from_db()
    assert account.balance == D("10000") == ledger_sum(account)


def test_a_payout_whose_answer_was_lost_is_found_and_sent_once(fake, master):
    account = ready_account("10000")
    venue = venue_named("hyperliquid")
    fake.fail_next("subAccountTransfer", "drop")
    with pytest.raises(VenueTimeout):
        venue.transfer(account.venue_ref, D("-250"), key="payout:8")
    assert not LedgerEntry.objects.filter(kind="payout").exists()  # not confirmed yet
    venue.transfer(account.venue_ref, D("-250"), key="payout:8")
    assert fake.subs[account.venue_ref].balance == D("9750")
    assert HyperliquidTransfer.objects.get(key="payout:8").status == "done"
    assert len([a for a in fake.actions("subAccountTransfer") if not a["isDeposit"]]) == 1


def test_transfers_move_money_at_the_venue_and_book_nothing(fake, master):
    account = ready_account("10000")
    venue = venue_named("hyperliquid")
    venue.transfer(account.venue_ref, D("5000"), key="resize:1")
    venue.transfer(account.venue_ref, D("-100"), key="close:1")
    kinds = list(LedgerEntry.objects.filter(account=account).values_list("kind", "amount"))
    assert kinds == [("starting_capital", D("10000.000000"))]
    assert fake.subs[account.venue_ref].balance == D("14900")


def test_bad_transfers_are_refused_and_nothing_moves(fake, master):
    account = ready_account("10000")
    venue = venue_named("hyperliquid")
    before = len(fake.exchange_log)
    with pytest.raises(VenueError, match="more than 6 decimals"):
        venue.transfer(account.venue_ref, D("0.0000001"), key="payout:x")
    with pytest.raises(VenueError, match="already used for another transfer"):
        venue.transfer(account.venue_ref, D("-1"), key=f"allocation:{account.pk}")
    with pytest.raises(VenueError, match="Insufficient balance"):
        venue.transfer(account.venue_ref, D("-20000"), key="payout:9")
    assert HyperliquidTransfer.objects.get(key="payout:9").status == "failed"
    assert not LedgerEntry.objects.filter(kind="payout").exists()
    assert len(fake.exchange_log) == before + 1  # only the refused one reached the venue


def test_the_budget_takes_up_to_its_share_keeps_a_reserve_and_backs_off(settings):
    settings.HYPERLIQUID_WEIGHT_PER_MINUTE = "125"  # 100 for us, 25 kept for orders
    budget = Budget("test")
    get_redis().delete(budget.key)
    assert budget.take(20, keep_reserve=True) and budget.take(20, keep_reserve=True)
    assert budget.take(20, keep_reserve=True) and not budget.take(20, keep_reserve=True)
    assert budget.take(20)  # an order may use the reserve
    budget.charge(5)  # items learned from an answer
    assert 14 < budget.available() < 16
    budget.drain()
    assert budget.available() < 1 and not budget.take(20)


def test_the_provisioning_task_runs_the_steps(fake, master):
    from apps.trading.tasks_hyperliquid import provisioning_advance_task

    account = open_account()
    result = provisioning_advance_task.apply(args=[account.hyperliquid_provisioning.pk])
    assert result.get() == "ready"
