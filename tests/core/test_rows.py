"""apps/core/rows.py: rows read and written without the ORM's compiler come out as the ORM's."""

from decimal import Decimal

import pytest
from django.db import connection, transaction

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_create
from apps.core import clock, rows
from apps.core.models import AuditEvent
from apps.trading.models import Order, OutboxMessage, TradingAccount
from apps.trading.services import account_open
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


@pytest.fixture
def account():
    account = account_open(owner=UserFactory(), starting_balance=Decimal("1000"), key="rows")
    TradingAccount.objects.filter(pk=account.pk).update(venue_cursor={"fills": 7, "at": None})
    return TradingAccount.objects.get(pk=account.pk)


def test_a_selected_row_equals_the_orms_every_field(account):
    selected = rows.select(TradingAccount, "id = %s", [account.pk])
    assert _values(selected) == _values(account)
    assert selected.venue_cursor == {"fills": 7, "at": None}  # JSON decoded, as the ORM does
    assert isinstance(selected.balance, Decimal) and selected.created_at.tzinfo is not None
    assert selected._state.adding is False and selected.get_deferred_fields() == set()


def test_select_answers_none_when_no_row_matches_and_can_lock(account):
    assert rows.select(TradingAccount, "id = %s", [account.pk + 1000]) is None
    with transaction.atomic():
        locked = rows.select(TradingAccount, "id = %s", [account.pk], for_update=True)
    assert locked.pk == account.pk


def _order(account, *, key: str, side: str, kind: str, size: str, **fields) -> Order:
    """A new, unsaved BTC order placed by API on `account`."""
    return Order(
        account=account,
        origin="trader_api",
        idempotency_key=key,
        request_hash="h" * 64,
        coin="BTC",
        side=side,
        kind=kind,
        size=Decimal(size),
        **fields,
    )


def test_inserted_rows_read_back_as_written(account):
    order = rows.insert(
        _order(
            account, key="k", side="buy", kind="limit", size="0.25", limit_price=Decimal("59000.5")
        )
    )
    message = rows.insert(OutboxMessage(order=order, action="place"))
    assert message.pk is not None  # the database's id, returned
    stored = Order.objects.get(pk=order.pk)
    assert _values(stored) == {
        **_values(order),
        # what the database's numeric(…, 10) columns keep
        "size": Decimal("0.2500000000"),
        "limit_price": Decimal("59000.5000000000"),
        "filled_size": Decimal("0E-10"),
    }
    assert stored.trigger_price is None and stored.status == "pending"
    assert OutboxMessage.objects.get(pk=message.pk).payload == {}


def test_json_and_nulls_survive_an_insert():
    event = rows.insert(
        AuditEvent(
            subject_type="test",
            subject_id="1",
            seq=1,
            action="x",
            actor_label="system",
            before=None,
            after={"a": ["1.5", None]},
            at=clock.now(),
            prev_hash="0" * 64,
            hash="f" * 64,
        )
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.before, stored.after, stored.personal) == (None, {"a": ["1.5", None]}, {})


def test_columns_and_instance_read_a_join():
    user = UserFactory()
    key, _ = api_key_create(user=user, name="bot")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {rows.columns(ApiKey, 'k')}, {rows.columns(User, 'u')} "
            "FROM accounts_apikey k JOIN accounts_user u ON u.id = k.user_id WHERE k.id = %s",
            [key.pk],
        )
        row = cursor.fetchone()
    split = rows.width(ApiKey)
    assert _values(rows.instance(ApiKey, row[:split])) == _values(ApiKey.objects.get(pk=key.pk))
    assert _values(rows.instance(User, row[split:])) == _values(User.objects.get(pk=user.pk))


def test_insert_many_writes_rows_of_several_models_in_one_round_trip(
    account, django_assert_num_queries
):
    from apps.core.services import audit_event_next, audit_verify_chains

    order = _order(account, key="many", side="sell", kind="market", size="1")
    first, second = (
        OutboxMessage(order=order, action="place"),
        OutboxMessage(order=order, action="cancel"),
    )
    with transaction.atomic():
        event = audit_event_next(action="test.many", subject=account, after={"n": 1})
        with django_assert_num_queries(1):
            rows.insert_many([order, first, event, second])
    assert first.pk is not None and second.pk == first.pk + 1 and event.pk is not None
    assert list(OutboxMessage.objects.filter(order=order).values_list("action", flat=True)) == [
        "place",
        "cancel",
    ]
    assert AuditEvent.objects.get(pk=event.pk).action == "test.many"
    assert audit_verify_chains()[1] == []


@pytest.mark.django_db(transaction=True)
def test_the_next_audit_event_needs_a_transaction(account):
    from apps.core.services import audit_event_next

    with pytest.raises(RuntimeError, match="needs a transaction"):
        audit_event_next(action="x", subject=account)


def _sent(captured) -> str:
    (query,) = captured.captured_queries
    return query["sql"]


def test_run_prepares_a_statement_once_per_connection_then_only_executes_it(
    account, django_assert_num_queries
):
    sql = "SELECT balance, %s::text FROM trading_tradingaccount WHERE id = %s"
    with django_assert_num_queries(1) as first:
        assert rows.run([(sql, ["one", account.pk])]) == [[(account.balance, "one")]]
    with django_assert_num_queries(1) as second:
        assert rows.run([(sql, ["two", account.pk]), (sql, ["three", account.pk + 1000])]) == [
            [(account.balance, "two")],
            [],
        ]
    assert _sent(first).count("PREPARE ") == 1 and _sent(first).count("EXECUTE ") == 1
    assert "PREPARE " not in _sent(second) and _sent(second).count("EXECUTE ") == 2


def test_run_recovers_from_a_failed_batch_whose_prepares_may_or_may_not_have_run(account):
    good = "SELECT id FROM trading_tradingaccount WHERE id = %s AND %s <> 'rows-recovery'"
    failing = "SELECT 1 / %s"
    with pytest.raises(Exception, match="division by zero"), transaction.atomic():
        rows.run([(good, [account.pk, "x"]), (failing, [0])])  # `good` was prepared, then failed
    # The next batch neither trips on a statement already prepared nor on one never prepared.
    assert rows.run([(good, [account.pk, "y"]), (failing, [1])]) == [[(account.pk,)], [(1,)]]
    assert rows.run([(good, [account.pk, "z"])]) == [[(account.pk,)]]


def test_run_refuses_a_wrong_parameter_count_or_other_placeholders_and_sends_nothing(
    account, django_assert_num_queries
):
    with django_assert_num_queries(0):
        with pytest.raises(ValueError, match="2 parameters expected, 1 given"):
            rows.run([("SELECT %s, %s", [1])])
        with pytest.raises(ValueError, match="Only %s placeholders"):
            rows.run([("SELECT %(name)s", [1])])


def test_write_behind_holds_writes_back_for_the_next_round_trip(account, django_assert_num_queries):
    order = _order(account, key="held", side="buy", kind="market", size="1")
    message = OutboxMessage(order=order, action="place")
    sql = "SELECT count(*) FROM trading_outboxmessage WHERE order_id = %s"
    with transaction.atomic(), rows.write_behind():
        with django_assert_num_queries(0):
            rows.insert_many([order, message], later=True)
        assert message.pk is None and order._state.adding is False
        with django_assert_num_queries(1) as captured:
            assert rows.run([(sql, [order.pk])]) == [[(1,)]]  # sent first, in the same trip
    assert _sent(captured).count("EXECUTE ") == 3
    assert message.pk is not None  # the database's id, once sent
    assert OutboxMessage.objects.get(pk=message.pk).order_id == order.pk


def test_any_other_statement_sends_the_held_writes_first_so_every_read_sees_them(
    account, django_assert_num_queries
):
    order = _order(account, key="orm", side="buy", kind="market", size="1")
    with transaction.atomic(), rows.write_behind():
        rows.insert_many([order], later=True)
        with django_assert_num_queries(2):  # the held insert, then the ORM's read
            assert Order.objects.filter(pk=order.pk).count() == 1
        with django_assert_num_queries(1):  # nothing held now
            assert Order.objects.filter(pk=order.pk).count() == 1


def test_leaving_write_behind_sends_what_is_held_unless_the_transaction_rolls_back(account):
    kept = _order(account, key="kept", side="buy", kind="market", size="1")
    with transaction.atomic(), rows.write_behind():
        rows.insert_many([kept], later=True)
    assert Order.objects.filter(pk=kept.pk).exists()

    marked = _order(account, key="marked", side="buy", kind="market", size="1")
    with transaction.atomic(), rows.write_behind():
        rows.insert_many([marked], later=True)
        transaction.set_rollback(True)
    failed = _order(account, key="failed", side="buy", kind="market", size="1")
    with pytest.raises(ZeroDivisionError), transaction.atomic(), rows.write_behind():
        rows.insert_many([failed], later=True)
        1 / 0  # noqa: B018
    assert not Order.objects.filter(pk__in=[marked.pk, failed.pk]).exists()


def test_later_outside_write_behind_writes_at_once(account, django_assert_num_queries):
    order = _order(account, key="now", side="buy", kind="market", size="1")
    with django_assert_num_queries(1):
        rows.insert_many([order], later=True)
    assert Order.objects.filter(pk=order.pk).exists()


def test_commit_refuses_to_end_a_transaction_nested_in_another_and_sends_nothing(
    account, django_assert_num_queries
):
    order = _order(account, key="nested", side="buy", kind="market", size="1")
    # This test runs inside the test's own transaction: a COMMIT would end that one.
    with transaction.atomic(), rows.write_behind():
        rows.insert_many([order], later=True)
        with django_assert_num_queries(0), pytest.raises(RuntimeError, match="outermost"):
            rows.run([], commit=True)
        assert rows.can_commit() is False
    assert Order.objects.filter(pk=order.pk).exists()  # still held, sent on the way out


@pytest.mark.django_db(transaction=True)
def test_commit_ends_the_outermost_transaction_in_the_same_round_trip(
    account, django_assert_num_queries
):
    import psycopg
    from django.conf import settings
    from psycopg import pq

    order = _order(account, key="commit", side="buy", kind="market", size="1")
    db = settings.DATABASES["default"]
    other = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=connection.settings_dict["NAME"]
    )
    try:
        with transaction.atomic(), rows.write_behind():
            assert rows.can_commit() is True
            rows.insert_many([order], later=True)
            with django_assert_num_queries(1) as captured:
                rows.run([("SELECT %s::text", ["last"])], commit=True)
            # Committed already: another connection sees the order, and the block's own commit
            # has nothing to send (psycopg sends no COMMIT outside a transaction).
            assert connection.connection.pgconn.transaction_status == pq.TransactionStatus.IDLE
            seen = other.execute("SELECT count(*) FROM trading_order WHERE id = %s", [order.pk])
            assert seen.fetchone() == (1,)
        assert _sent(captured).endswith("; COMMIT")
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_starts_a_transaction_carries_its_begin(account, round_trips):
    sql = "UPDATE trading_tradingaccount SET label = %s WHERE id = %s"
    with round_trips() as sent, pytest.raises(ZeroDivisionError), transaction.atomic():
        rows.run([(sql, ["rolled back", account.pk])])
        rows.run([(sql, ["still inside", account.pk])])
        1 / 0  # noqa: B018
    assert len(sent) == 3 and sent[0].startswith("BEGIN; PREPARE ") and sent[2] == "ROLLBACK"
    assert "BEGIN" not in sent[1]  # the transaction was open: nothing more to begin
    assert TradingAccount.objects.get(pk=account.pk).label != "rolled back"  # undone whole
    assert connection.connection.autocommit is True  # psycopg's own state, as Django left it

    with pytest.raises(Exception, match="division by zero"), transaction.atomic():
        rows.run([(sql, ["failed", account.pk]), ("SELECT 1 / %s", [0])])
    with transaction.atomic():  # the next transaction starts cleanly
        rows.run([(sql, ["kept", account.pk])])
    assert TradingAccount.objects.get(pk=account.pk).label == "kept"


def test_a_batch_that_fails_before_reaching_the_server_rolls_the_held_writes_back(account):
    order = _order(account, key="unsent", side="buy", kind="market", size="1")
    with transaction.atomic(), rows.write_behind():
        rows.insert_many([order], later=True)
        with pytest.raises(ValueError, match="2 parameters expected"):
            rows.run([("SELECT %s, %s", [1])])  # refused before anything is sent
        assert connection.needs_rollback is True  # the block cannot commit without the order
    assert not Order.objects.filter(pk=order.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_nothing_may_run_in_a_block_after_its_batch_committed(account):
    with transaction.atomic(), rows.write_behind():
        rows.run([("SELECT %s::text", ["last"])], commit=True)
        with pytest.raises(RuntimeError, match="committed with its last batch"):
            TradingAccount.objects.count()
        with pytest.raises(RuntimeError, match="committed with its last batch"):
            rows.run([("SELECT %s::text", ["after"])])
    assert TradingAccount.objects.filter(pk=account.pk).exists()  # and after the block, all is well
