"""Provisioning a funded account's sub-account at the fake venue: the happy path with the exact
actions sent, venue refusals, retries after a crash at each step, and the pool's reuse."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from apps.trading.models import LedgerEntry
from apps.trading.models_hyperliquid import HyperliquidTransfer, Provisioning, SubAccount
from apps.trading.selectors import ledger_sum
from apps.trading.venues.base import OrderRequest, VenueError, VenueTimeout
from apps.trading.venues.hyperliquid.provisioning import (
    provisioning_advance,
    provisioning_retry,
    sub_account_release,
)
from apps.trading.venues.hyperliquid.selectors import hyperliquid_ready
from apps.trading.venues.registry import venue_named
from tests.hyperliquid.helpers import open_account, provision, ready_account

pytestmark = pytest.mark.django_db


def test_a_funded_account_gets_a_created_and_funded_sub_account(fake, master, enqueued):
    account = open_account("25000")
    provisioning = account.hyperliquid_provisioning
    assert provisioning.status == "requested" and enqueued == [provisioning.pk]
    assert not hyperliquid_ready(account)

    assert provision(account).status == "ready"

    sub = SubAccount.objects.get()
    assert fake.actions("createSubAccount") == [
        {"type": "createSubAccount", "name": f"pf-{account.pk}"}
    ]
    assert fake.actions("subAccountTransfer") == [
        {
            "type": "subAccountTransfer",
            "subAccountUser": sub.address,
            "isDeposit": True,
            "usd": 25_000_000_000,
        }
    ]
    # Read back with subAccounts before and after the create.
    assert [e["type"] for e in fake.info_log].count("subAccounts") == 2
    assert (sub.status, sub.trading_account, account.venue_ref) == (
        "assigned",
        account,
        sub.address,
    )
    assert hyperliquid_ready(account)
    assert fake.subs[sub.address].balance == D("25000")
    # The deposit is the starting capital account_open booked: not booked again.
    assert list(LedgerEntry.objects.filter(account=account).values_list("kind", "amount")) == [
        ("starting_capital", D("25000.000000"))
    ]
    assert HyperliquidTransfer.objects.get().status == "done"


def test_an_account_cannot_trade_before_its_sub_account_is_ready(fake, master):
    account = open_account()
    venue = venue_named("hyperliquid")
    request = OrderRequest("0x" + "1" * 32, "BTC", "buy", "market", D("0.01"))
    with pytest.raises(VenueError, match=r"not ready \(provisioning: requested\)"):
        venue.place(f"hyperliquid-{account.pk}", request)
    assert fake.exchange_log == []


def test_a_venue_refusal_stops_at_failed_with_the_venues_words(fake, master):
    account = open_account()
    fake.fail_next("createSubAccount", "refuse:Cannot create sub-accounts until enough volume.")
    result = provision(account)
    assert (result.status, result.failed_step) == ("failed", "requested")
    assert result.reason == "Cannot create sub-accounts until enough volume."
    assert not SubAccount.objects.exists() and not hyperliquid_ready(account)

    provisioning_retry(provisioning=result)
    assert provision(account).status == "ready"
    assert len(fake.actions("createSubAccount")) == 2  # the refused one and the one that worked


def test_a_create_whose_answer_was_lost_is_found_again_not_repeated(fake, master):
    account = open_account()
    fake.fail_next("createSubAccount", "drop")  # the venue creates it; the answer never comes
    with pytest.raises(VenueTimeout):
        provision(account)
    assert Provisioning.objects.get().status == "requested"

    assert provision(account).status == "ready"
    assert len(fake.actions("createSubAccount")) == 1
    assert len(fake.subs) == 1 and SubAccount.objects.count() == 1


def test_a_crash_between_create_and_transfer_neither_creates_nor_transfers_twice(fake, master):
    account = open_account("10000")
    fake.fail_next("subAccountTransfer", "drop")  # done at the venue, the answer lost
    with pytest.raises(VenueTimeout):
        provision(account)
    provisioning = Provisioning.objects.get()
    assert provisioning.status == "created"
    assert HyperliquidTransfer.objects.get().status == "sent"

    assert provision(account).status == "ready"  # the retry finds it in the venue's ledger
    assert len(fake.actions("createSubAccount")) == 1
    assert len(fake.actions("subAccountTransfer")) == 1
    sub = SubAccount.objects.get()
    assert fake.subs[sub.address].balance == D("10000")
    transfer = HyperliquidTransfer.objects.get()
    assert transfer.status == "done" and transfer.venue_hash.startswith("0x")


def test_a_transfer_that_never_left_is_sent_on_retry(fake, master):
    account = open_account("10000")
    fake.fail_next("subAccountTransfer", "timeout")  # never reaches the venue
    with pytest.raises(VenueTimeout):
        provision(account)
    assert provision(account).status == "ready"
    sub = SubAccount.objects.get()
    assert fake.subs[sub.address].balance == D("10000")
    assert len(fake.actions("subAccountTransfer")) == 1


def test_a_refused_transfer_fails_and_a_retry_after_the_fix_funds_once(fake, master):
    fake.masters[master.address]["balance"] = D("100")
    account = open_account("10000")
    result = provision(account)
    assert (result.status, result.failed_step) == ("failed", "created")
    assert result.reason == "Insufficient balance for transfer."
    assert HyperliquidTransfer.objects.get().status == "failed"

    fake.masters[master.address]["balance"] = D("50000")
    provisioning_retry(provisioning=result)
    provisioning_retry(provisioning=result)  # twice: still one transfer
    assert provision(account).status == "ready"
    sub = SubAccount.objects.get()
    assert fake.subs[sub.address].balance == D("10000")
    # The refused request and one that moved money: never a second deposit.
    assert len(fake.actions("subAccountTransfer")) == 2
    assert len(fake.subs[sub.address].ledger) == 1


def test_no_master_with_room_fails_saying_so(fake, master):
    master.max_sub_accounts = 0
    master.save()
    result = provision(open_account())
    assert result.status == "failed" and "max_sub_accounts" in result.reason
    assert fake.exchange_log == []


def test_a_freed_sub_account_is_reused_with_none_of_its_past(fake, master):
    first = ready_account("10000", key="first")
    sub = SubAccount.objects.get()
    first.status = "closed"
    first.save(update_fields=["status"])
    sub_account_release(sub=sub)
    sub.refresh_from_db()
    assert (sub.status, sub.trading_account) == ("free", None)
    assert fake.subs[sub.address].balance == D("0")  # withdrawn to the master
    assert fake.actions("subAccountTransfer")[-1]["isDeposit"] is False
    assert sub.history_from_ms > 0 and not hyperliquid_ready(first)
    first.refresh_from_db()
    assert first.venue_ref == ""  # the closed account no longer reads the sub-account
    assert ledger_sum(first) == D("10000")  # a closed account's books are final

    second = ready_account("20000", key="second")
    sub.refresh_from_db()
    assert (sub.status, sub.trading_account, second.venue_ref) == ("assigned", second, sub.address)
    assert len(fake.actions("createSubAccount")) == 1
    assert fake.subs[sub.address].balance == D("20000")


def test_a_sub_account_with_positions_is_not_released(fake, master):
    account = ready_account()
    sub = SubAccount.objects.get()
    fake.subs[sub.address].positions["BTC"] = [D("0.01"), D("30000")]
    with pytest.raises(VenueError, match=r"still holds positions \(BTC\)"):
        sub_account_release(sub=sub)
    sub.refresh_from_db()
    assert sub.status == "assigned" and hyperliquid_ready(account)


def test_advancing_a_ready_provisioning_does_nothing(fake, master):
    account = ready_account()
    before = len(fake.exchange_log)
    assert (
        provisioning_advance(provisioning_id=account.hyperliquid_provisioning.pk).status == "ready"
    )
    assert len(fake.exchange_log) == before
