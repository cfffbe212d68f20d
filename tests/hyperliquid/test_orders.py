"""Orders of a ready account through the outbox to the fake venue: what is sent, what comes
back, and that a timeout, a lost or garbled answer, a rate limit or a fill seen twice neither
loses nor doubles anything."""

from __future__ import annotations

import logging
from decimal import Decimal as D

import pytest

from apps.core.redis import get_redis
from apps.trading.models import Fill, LedgerEntry, Order, OutboxMessage
from apps.trading.models_hyperliquid import HyperliquidOrder
from apps.trading.outbox import account_sync, outbox_dispatch
from apps.trading.selectors import ledger_sum
from apps.trading.services import order_cancel, order_modify
from apps.trading.venues.base import OrderRequest, VenueError
from apps.trading.venues.hyperliquid.budget import Budget
from apps.trading.venues.registry import venue_named
from tests.hyperliquid.helpers import expire_leases, load_market, ready_account, submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _only_the_venue_decides(monkeypatch):
    # The pre-trade gate is risk's and is tested there; here the venue is under test.
    monkeypatch.setattr("apps.trading.services.pre_submit_checks", lambda: [])


@pytest.fixture
def account(fake, master):
    load_market(fake)
    return ready_account("25000")


def orders_sent(fake) -> list[dict]:
    return [o for a in fake.actions("order") for o in a["orders"]]


def test_a_market_order_is_a_bounded_ioc_with_our_cloid_and_its_fill_is_booked(fake, account):
    order = submit(account)
    assert outbox_dispatch() == 1
    order.refresh_from_db()
    assert (order.status, order.filled_size) == ("filled", D("0.01"))
    [sent] = orders_sent(fake)
    # BTC is asset 0 of the recorded meta; mid 30135.0, bounded 5% above, on the tick grid.
    assert sent == {
        "a": 0,
        "b": True,
        "p": "31641",
        "s": "0.01",
        "r": False,
        "t": {"limit": {"tif": "Ioc"}},
        "c": order.venue_client_id,
    }
    assert fake.exchange_log[-1]["vault"] == account.venue_ref
    fill = Fill.objects.get()
    assert fill.order == order and fill.venue_fill_id.startswith("hl-t")
    assert (fill.price, fill.fee, fill.liquidity) == (D("30135"), D("0.135608"), "taker")
    account.refresh_from_db()
    assert account.balance == D("25000") - D("0.135608") == ledger_sum(account)


def test_a_resting_limit_is_open_then_modified_then_cancelled(fake, account):
    order = submit(account, kind="limit", limit_price=D("29000"))
    outbox_dispatch()
    order.refresh_from_db()
    assert order.status == "open" and not Fill.objects.exists()
    order_modify(order=order, origin="trader_api", limit_price=D("28500"))
    outbox_dispatch()
    [modify] = fake.actions("batchModify")
    assert modify["modifies"][0]["oid"] == order.venue_client_id
    assert modify["modifies"][0]["order"]["p"] == "28500"
    order_cancel(order=order, origin="trader_api")
    outbox_dispatch()
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert fake.actions("cancelByCloid") == [
        {"type": "cancelByCloid", "cancels": [{"asset": 0, "cloid": order.venue_client_id}]}
    ]
    assert HyperliquidOrder.objects.get().status == "cancelled"


def test_a_per_order_error_rejects_the_order_with_the_venues_words(fake, account):
    fake.fail_next("order", "error:Insufficient margin to place order.")
    order = submit(account)
    outbox_dispatch()
    order.refresh_from_db()
    assert (order.status, order.reject_reason) == (
        "rejected",
        "Insufficient margin to place order.",
    )
    assert not Fill.objects.exists()


def test_the_ten_dollar_minimum_comes_back_as_a_rejection(fake, account):
    venue = venue_named("hyperliquid")
    request = OrderRequest("0x" + "2" * 32, "BTC", "buy", "limit", D("0.0003"), D("30000"))
    status = venue.place(account.venue_ref, request)
    assert (status.status, status.reason) == ("rejected", "Order must have minimum value of $10.")


def test_a_timeout_is_settled_by_asking_and_the_order_is_placed_once(fake, account):
    fake.fail_next("order", "timeout")  # the request never reaches the venue
    order = submit(account)
    assert outbox_dispatch() == 0
    assert OutboxMessage.objects.get().status == "unknown"
    order.refresh_from_db()
    assert order.status == "pending" and not Fill.objects.exists()

    expire_leases()
    assert outbox_dispatch() == 1  # orderStatus says unknownOid: sent again, once
    order.refresh_from_db()
    assert order.status == "filled"
    assert fake.placed == {order.venue_client_id: 1}
    assert Fill.objects.count() == 1


def test_an_answer_lost_after_the_venue_accepted_is_not_sent_again(fake, account):
    fake.fail_next("order", "drop")  # the venue fills it; the answer is lost
    order = submit(account)
    outbox_dispatch()
    assert OutboxMessage.objects.get().status == "unknown"
    expire_leases()
    outbox_dispatch()
    order.refresh_from_db()
    assert order.status == "filled"
    assert fake.placed == {order.venue_client_id: 1}
    assert Fill.objects.count() == 1
    assert [b["type"] for b in fake.info_log].count("orderStatus") == 1


def test_a_truncated_answer_counts_as_unknown_and_is_asked_about(fake, account):
    fake.fail_next("order", "truncate")
    order = submit(account)
    outbox_dispatch()
    assert OutboxMessage.objects.get().status == "unknown"
    expire_leases()
    outbox_dispatch()
    order.refresh_from_db()
    assert order.status == "filled" and fake.placed == {order.venue_client_id: 1}


def test_a_place_of_a_cloid_the_venue_has_asks_instead_of_placing(fake, account):
    venue = venue_named("hyperliquid")
    request = OrderRequest("0x" + "3" * 32, "BTC", "buy", "limit", D("0.01"), D("29000"))
    assert venue.place(account.venue_ref, request).status == "open"
    assert venue.place(account.venue_ref, request).status == "open"
    assert fake.placed == {request.client_id: 1}


def test_a_rate_limit_answer_is_retried_after_backing_off_and_places_once(fake, account, caplog):
    caplog.set_level(logging.WARNING, logger="apps.trading.venues.hyperliquid")
    fake.fail_next("order", "429")
    order = submit(account)
    outbox_dispatch()
    order.refresh_from_db()
    message = OutboxMessage.objects.get()
    # The 429 emptied the budget: the resend waited for it to refill, then went through once.
    assert (message.attempts, message.status) == (2, "done")
    assert fake.placed == {order.venue_client_id: 1}
    # Bookkeeping leaves the refilling budget to orders, and reads the fill later: until
    # then the order waits for its fill, which only the venue's fill history confirms.
    assert not Fill.objects.exists() and "request budget" in caplog.text
    assert order.status == "pending"
    get_redis().delete(Budget().key)  # as a minute later
    assert account_sync(account=account) == 1 and Fill.objects.count() == 1
    order.refresh_from_db()
    assert order.status == "filled"


def test_an_unknown_coin_is_refused_before_anything_is_signed(fake, account):
    from apps.market.services import instruments_load

    instruments_load(
        payload={"universe": [{"name": "HYPE", "szDecimals": 2, "maxLeverage": 5}]}, source="t"
    )
    from apps.trading import market_view

    market_view.clear_cache()
    order = submit(account, coin="HYPE", kind="limit", limit_price=D("30"), size=D("1"))
    outbox_dispatch()
    order.refresh_from_db()
    assert order.status == "rejected"
    assert (
        order.reject_reason == "HYPE is not listed on Hyperliquid (no such perpetual in its meta)."
    )
    assert fake.actions("order") == []


def test_a_fill_reported_twice_is_booked_once(fake, account):
    fake.duplicate_fills = True
    order = submit(account)
    outbox_dispatch()
    account_sync(account=account)
    assert Fill.objects.filter(order=order).count() == 1
    assert LedgerEntry.objects.filter(kind="fee").count() == 1


def test_a_garbled_fills_answer_books_nothing_and_says_why(fake, account, caplog):
    caplog.set_level(logging.WARNING, logger="apps.trading.venues.hyperliquid")
    fake.fail_next("userFillsByTime", "truncate")
    order = submit(account)
    outbox_dispatch()
    order.refresh_from_db()
    # The venue said filled, but nothing is booked before the fill itself is read.
    assert order.status == "pending" and order.filled_size == 0
    assert not Fill.objects.exists()
    assert "userFillsByTime" in caplog.text and "malformed" in caplog.text
    assert account_sync(account=account) == 1
    assert Fill.objects.count() == 1
    order.refresh_from_db()
    assert order.status == "filled"


def test_stops_and_take_profits_are_sent_as_trigger_orders(fake, account):
    venue = venue_named("hyperliquid")
    stop = OrderRequest(
        "0x" + "4" * 32, "BTC", "sell", "stop_market", D("0.01"), trigger_price=D("29000")
    )
    take = OrderRequest(
        "0x" + "5" * 32, "BTC", "sell", "take_profit", D("0.01"), D("32900"), D("33000")
    )
    assert venue.place(account.venue_ref, stop).status == "open"
    assert venue.place(account.venue_ref, take).status == "open"
    first, second = orders_sent(fake)
    assert first["t"] == {"trigger": {"isMarket": True, "triggerPx": "29000", "tpsl": "sl"}}
    assert second["t"] == {"trigger": {"isMarket": False, "triggerPx": "33000", "tpsl": "tp"}}
    assert (first["p"], second["p"]) == ("27550", "32900")


def test_leverage_is_set_per_coin(fake, account):
    venue = venue_named("hyperliquid")
    venue.update_leverage(account.venue_ref, "ETH", 10)
    assert fake.actions("updateLeverage") == [
        {"type": "updateLeverage", "asset": 1, "isCross": True, "leverage": 10}
    ]
    with pytest.raises(VenueError, match="not listed"):
        venue.update_leverage(account.venue_ref, "NOPE", 10)


def test_cancelling_an_order_that_already_filled_answers_filled(fake, account):
    venue = venue_named("hyperliquid")
    request = OrderRequest("0x" + "6" * 32, "BTC", "buy", "market", D("0.01"))
    assert venue.place(account.venue_ref, request).status == "filled"
    assert venue.cancel(account.venue_ref, request.client_id).status == "filled"
    assert Order.objects.count() == 0  # the venue's records, not our books
