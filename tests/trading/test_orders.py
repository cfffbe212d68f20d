from decimal import Decimal

import pytest

from apps.trading.models import Fill, LedgerEntry, Order, OutboxMessage, PaperBook, PaperEvent
from apps.trading.outbox import account_sync, outbox_dispatch
from apps.trading.registry import OrderIntent
from apps.trading.selectors import account_valuation, ledger_sum
from apps.trading.services import (
    IdempotencyConflict,
    OrderRefused,
    TradingError,
    account_open,
    order_cancel,
    order_modify,
    order_submit,
)
from apps.trading.venues.paper.venue import paper_frame
from apps.trading.venues.registry import venue_named
from tests.factories import UserFactory
from tests.trading.market import load_instruments, set_prices

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(django_capture_on_commit_callbacks):
    load_instruments()
    set_prices(BTC="60000", ETH="3000")
    with django_capture_on_commit_callbacks(execute=True):
        account = account_open(owner=UserFactory(), starting_balance=Decimal("100000"), key="acc")
    return account


def submit(account, key="k1", **fields):
    intent = OrderIntent(
        **{"coin": "BTC", "side": "buy", "kind": "market", "size": Decimal("0.1"), **fields}
    )
    return order_submit(account=account, intent=intent, origin="trader_api", idempotency_key=key)


def test_a_market_order_goes_through_the_outbox_and_its_fill_is_booked(account):
    order = submit(account)
    assert order.status == "pending"
    assert OutboxMessage.objects.get(order=order).status == "pending"
    assert outbox_dispatch() == 1
    order.refresh_from_db()
    assert order.status == "filled" and order.filled_size == Decimal("0.1")
    fill = Fill.objects.get(order=order)
    # Bought at the mid moved 1 bp against us, on BTC's tick grid; taker fee 0.045%.
    assert fill.price == Decimal("60006")
    assert fill.fee == Decimal("2.700270")
    account.refresh_from_db()
    assert account.balance == Decimal("100000") - Decimal("2.700270") == ledger_sum(account)
    valuation = account_valuation(account)
    assert valuation["positions"][0]["size"] == Decimal("0.1")
    assert valuation["unrealized_pnl"] == Decimal("0.1") * (Decimal("60000") - Decimal("60006"))


def test_closing_a_position_realises_pnl_into_the_ledger(account):
    submit(account, key="open")
    outbox_dispatch()
    set_prices(BTC="61000", ETH="3000")
    submit(account, key="close", side="sell", reduce_only=True)
    outbox_dispatch()
    pnl = LedgerEntry.objects.get(account=account, kind="realized_pnl").amount
    sell = Fill.objects.get(account=account, side="sell")
    assert pnl == (sell.price - Decimal("60006")) * Decimal("0.1")
    account.refresh_from_db()
    assert account.balance == ledger_sum(account)
    assert account_valuation(account)["positions"] == []


def test_a_resting_limit_fills_when_the_price_crosses_it(account):
    order = submit(account, kind="limit", limit_price=Decimal("59000"))
    outbox_dispatch()
    order.refresh_from_db()
    assert order.status == "open" and not Fill.objects.exists()
    frame = set_prices(BTC="58900", ETH="3000")
    venue_named("paper").on_frame(paper_frame(frame))
    assert account_sync(account=account) == 1
    order.refresh_from_db()
    fill = Fill.objects.get(order=order)
    assert (order.status, fill.price, fill.liquidity) == ("filled", Decimal("59000"), "maker")
    assert fill.fee == Decimal("0.885000")  # maker 0.015% of 5,900


def test_cancel_and_modify_reach_the_venue(account):
    order = submit(account, kind="limit", limit_price=Decimal("59000"))
    outbox_dispatch()
    order_modify(order=order, origin="trader_api", limit_price=Decimal("58000"))
    outbox_dispatch()
    order.refresh_from_db()
    assert order.limit_price == Decimal("58000")
    book = PaperBook.objects.get()
    assert book.state["book"]["orders"][0]["limit_price"] == "58000"
    order_cancel(order=order, origin="trader_api")
    outbox_dispatch()
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert PaperBook.objects.get().state["book"]["orders"] == []


def test_a_repeated_idempotency_key_returns_the_first_order(account):
    first = submit(account, key="same")
    second = submit(account, key="same")
    assert first.pk == second.pk and Order.objects.count() == 1


def test_the_same_key_with_a_different_body_is_refused(account):
    submit(account, key="same")
    with pytest.raises(IdempotencyConflict):
        submit(account, key="same", size=Decimal("0.2"))
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ({"coin": "DOGE"}, "unknown_instrument", "Unknown instrument 'DOGE'"),
        ({"size": Decimal("0.000001")}, "invalid_size", "off the lot grid"),
        ({"size": Decimal("0")}, "invalid_size", "positive"),
        ({"size": Decimal("-1")}, "invalid_size", "positive"),
        ({"size": Decimal("0.0001")}, "below_minimum_value", r"minimum value of \$10"),
        ({"kind": "limit", "limit_price": Decimal("60000.5")}, "invalid_price", "tick grid"),
        ({"kind": "limit"}, "invalid_limit_price", "needs a positive limit price"),
        ({"kind": "market", "tif": "alo"}, "invalid_tif", "post-only"),
    ],
)
def test_bad_orders_are_refused_and_nothing_is_written_or_sent(account, fields, code, message):
    before = PaperBook.objects.get().version
    with pytest.raises(OrderRefused, match=message) as refused:
        submit(account, **fields)
    assert refused.value.code == code
    assert not Order.objects.exists() and not OutboxMessage.objects.exists()
    assert PaperBook.objects.get().version == before


def test_a_filled_order_cannot_be_modified_or_cancelled(account):
    order = submit(account)
    outbox_dispatch()
    order.refresh_from_db()
    with pytest.raises(TradingError, match="only an open order can be modified"):
        order_modify(order=order, origin="trader_api", size=Decimal("0.2"))
    with pytest.raises(TradingError, match="only an open order can be cancelled"):
        order_cancel(order=order, origin="trader_api")


def test_a_venue_rejection_is_kept_with_the_venues_words(account):
    order = submit(account, kind="limit", tif="alo", limit_price=Decimal("61000"))
    outbox_dispatch()
    order.refresh_from_db()
    assert order.status == "rejected"
    assert order.reject_reason.startswith("Post only order would have immediately matched")
    assert not PaperEvent.objects.exists()


def test_a_burst_of_orders_queues_one_outbox_drain_and_a_started_drain_lets_the_next_queue_again():
    import redis as redis_lib
    from django.conf import settings

    from apps.core.redis import get_redis
    from apps.trading.tasks import WAKE_KEY, outbox_dispatch_task, outbox_wake

    redis = get_redis()
    broker = redis_lib.Redis.from_url(settings.CELERY_BROKER_URL)
    queued = broker.llen("celery")
    for _ in range(5):
        outbox_wake()
    assert broker.llen("celery") - queued == 1  # one Celery message on the real broker
    assert redis.ttl(WAKE_KEY) > 0  # a lost drain does not silence the wake for good
    outbox_dispatch_task.apply()  # a worker starts the drain: the flag goes first
    assert not redis.exists(WAKE_KEY)
    outbox_wake()
    assert broker.llen("celery") - queued == 2


def test_an_event_that_cannot_be_added_does_not_keep_the_outbox_drain_from_being_queued(caplog):
    import redis as redis_lib
    from django.conf import settings

    from apps.core.redis import get_redis
    from apps.trading import events
    from apps.trading.tasks import WAKE_KEY, outbox_wake

    redis = get_redis()
    redis.set(events.STREAM, "not a stream")  # XADD on it fails with WRONGTYPE
    broker = redis_lib.Redis.from_url(settings.CELERY_BROKER_URL)
    queued = broker.llen("celery")
    outbox_wake(also=lambda pipe: events.publish_on(pipe, "order.new", order="x"))
    assert broker.llen("celery") - queued == 1  # the drain was queued all the same
    assert redis.ttl(WAKE_KEY) > 0
    assert "WRONGTYPE" in caplog.text


def test_order_entry_reads_in_one_round_trip_and_hands_each_check_its_declared_rows(
    account, django_assert_num_queries
):
    from apps.trading import registry

    seen = []

    def reads(context):
        return [
            (
                "SELECT %s::text, count(*) FROM trading_order WHERE account_id = %s",
                [
                    context.intent.coin,
                    context.account.pk,
                ],
            )
        ]

    def check(context):
        seen.append(context.read["test.counting"])
        return None

    saved_checks, saved_reads = dict(registry._CHECKS), dict(registry._READS)
    registry.register_pre_submit_check("test.counting", check, reads=reads)
    try:
        submit(account, key="warm", kind="limit", limit_price=Decimal("50000"))  # warms caches
        # The lock, the key's order, the audit chain's lock and head, the gate's four reads
        # and this check's one: one round trip; then the order's rows: another.
        with django_assert_num_queries(2) as captured:
            submit(account, key="counted", kind="limit", limit_price=Decimal("50000"))
    finally:
        registry._CHECKS.clear(), registry._READS.clear()
        registry._CHECKS.update(saved_checks), registry._READS.update(saved_reads)
    assert captured.captured_queries[0]["sql"].count("EXECUTE ") == 9
    # The check's rows were read under the account's lock: the warm-up order is counted.
    assert seen == [[[("BTC", 0)]], [[("BTC", 1)]]]
