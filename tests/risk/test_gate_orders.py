"""The gate through the real order entry on PostgreSQL: a refused order writes nothing and
says why; the rule set's limits and the risk managers' overrides hold from the next order."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from apps.challenges.lifecycle import challenge_start
from apps.core import clock
from apps.core.models import AuditEvent
from apps.risk.checks import gate_check
from apps.risk.models import LimitOverride
from apps.risk.services import RiskError, limit_override_clear, limit_override_set
from apps.trading.models import Order, OutboxMessage, Position, TradingAccount
from apps.trading.registry import OrderIntent, SubmitContext
from apps.trading.services import OrderRefused, account_open, account_set_state
from tests.challenges.lifecycle_support import make_plan
from tests.risk.support import person, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(market):
    """A phase-1 challenge account of 100,000: leverage 20, 1,000,000 per order and per position,
    margin 100 %, a 10 % band, 50 open orders, 600 orders a minute."""
    challenge = challenge_start(
        trader=person(), plan=make_plan("gate"), purchase_ref="gate-1", price_paid=Decimal(1)
    )
    return challenge.accounts.get().trading_account


def written(account) -> tuple[int, int, int]:
    return (
        Order.objects.filter(account=account).count(),
        OutboxMessage.objects.filter(order__account=account).count(),
        AuditEvent.objects.filter(action="order.submit", subject_id=str(account.pk)).count(),
    )


def refused(account, **fields) -> OrderRefused:
    """The refusal of an order, checking it wrote nothing.

    The savepoint keeps the test's own transaction usable: order_submit raises the refusal from
    inside its atomic block, which (without a savepoint of its own) marks an enclosing
    transaction as failed. test_gate_races.py shows the same on a real, committed transaction.
    """
    before = written(account)
    with pytest.raises(OrderRefused) as caught, transaction.atomic():
        submit(account, **fields)
    assert written(account) == before, "a refused order must write nothing"
    return caught.value


def test_an_ordinary_order_passes_the_gate_and_is_written(account):
    order = submit(account)
    assert order.status == "pending" and written(account) == (1, 1, 1)


def test_a_halted_account_refuses_a_trader_order_and_writes_nothing(account):
    account_set_state(account=account, state="halted", reason="daily loss breached")
    error = refused(account)
    assert error.code == "account_halted" and error.message.endswith("daily loss breached")


@pytest.mark.parametrize(
    ("field", "value", "order", "code"),
    [
        ("max_order_qty", "0.5", {}, "order_too_large"),
        ("max_order_notional", "50000", {}, "order_notional_too_large"),
        ("allowed_instruments", ["ETH", "SOL"], {}, "instrument_not_allowed"),
        ("allowed_directions", "short_only", {}, "direction_not_allowed"),
        ("price_band_pct", "1", {"kind": "limit", "limit_price": "61000"}, "price_outside_band"),
        ("max_open_orders", 0, {}, "too_many_open_orders"),
        ("max_orders_per_minute", 0, {}, "order_rate_limit"),
        ("max_position_notional", "50000", {}, "position_notional_too_large"),
        ("max_leverage", "0.5", {}, "leverage_too_high"),
        ("max_margin_use_pct", "1", {}, "margin_use_too_high"),  # 60,000 / 40x = 1.5 %
    ],
)
def test_each_limit_refuses_through_order_entry(account, risk_manager, field, value, order, code):
    limit_override_set(account=account, field=field, value=value, reason="test", actor=risk_manager)
    error = refused(account, **order)
    assert error.code == code and error.message


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"size": "0.000001"}, "invalid_size"),  # BTC sizes have 5 decimals
        ({"kind": "limit", "limit_price": "60000.5"}, "invalid_price"),  # 6 significant figures
        ({"size": "0.0001"}, "below_minimum_value"),  # $6
        ({"coin": "DOGE"}, "unknown_instrument"),
    ],
)
def test_malformed_orders_are_refused_by_trading_before_the_gate(account, fields, code):
    # The gate relies on trading's intent_validate for the grid and the $10 minimum.
    assert refused(account, **fields).code == code


def test_a_limit_price_within_the_rule_sets_band_passes_and_beyond_it_is_refused(account):
    submit(account, kind="limit", limit_price="66000", size="0.1")  # 10 % above
    error = refused(account, kind="limit", limit_price="66001", size="0.1")
    assert (error.code, error.field) == ("price_outside_band", "limit_price")


def test_the_rule_sets_order_notional_holds(account):
    submit(account, size="16.66666")  # 999,999.60
    assert refused(account, size="16.66667").code == "order_notional_too_large"


def test_a_client_order_id_used_before_is_refused_by_the_gate_with_a_clear_message(account):
    submit(account, client_order_id="my-1", size="0.1")
    error = refused(account, client_order_id="my-1", size="0.1")
    assert (error.code, error.field) == ("duplicate_client_order_id", "client_order_id")
    submit(account, client_order_id="my-2", size="0.1")


def test_the_order_rate_counts_the_last_60_seconds_of_the_clock(account, risk_manager):
    limit_override_set(
        account=account, field="max_orders_per_minute", value=2, reason="test", actor=risk_manager
    )
    submit(account, size="0.1")
    submit(account, size="0.1")
    assert refused(account, size="0.1").code == "order_rate_limit"
    clock.advance(timedelta(seconds=61))
    submit(account, size="0.1")


def test_the_open_order_limit_counts_live_orders_only(account, risk_manager):
    limit_override_set(
        account=account, field="max_open_orders", value=2, reason="test", actor=risk_manager
    )
    first = submit(account, kind="limit", limit_price="59000", size="0.1")
    submit(account, kind="limit", limit_price="59000", size="0.1")
    assert refused(account, kind="limit", limit_price="59000", size="0.1").code == (
        "too_many_open_orders"
    )
    Order.objects.filter(pk=first.pk).update(status=Order.Status.CANCELLED)
    submit(account, kind="limit", limit_price="59000", size="0.1")


def test_an_override_holds_from_the_next_order_and_clearing_it_restores_the_rule_set(
    account, risk_manager
):
    submit(account, size="1")
    limit_override_set(
        account=account,
        field="max_order_qty",
        value="0.5",
        reason="Trader asked for a cap after a bad week",
        actor=risk_manager,
    )
    assert refused(account, size="1").code == "order_too_large"
    submit(account, size="0.5")
    limit_override_clear(
        account=account, field="max_order_qty", reason="Cap no longer wanted", actor=risk_manager
    )
    submit(account, size="1")
    set_event, clear_event = AuditEvent.objects.filter(
        subject_id=str(account.pk), action__startswith="risk.limit_override"
    ).order_by("seq")
    assert set_event.actor_id == risk_manager.pk
    assert set_event.before == {"field": "max_order_qty", "value": None, "from": "rule set"}
    assert set_event.after == {
        "field": "max_order_qty",
        "value": "0.5",
        "reason": "Trader asked for a cap after a bad week",
    }
    assert clear_event.before == {"field": "max_order_qty", "value": "0.5", "from": "override"}
    assert clear_event.after["value"] is None and clear_event.after["from"] == "rule set"


def test_a_looser_override_lets_through_what_the_rule_set_refused(account, risk_manager):
    assert refused(account, kind="limit", limit_price="75000", size="0.1").code == (
        "price_outside_band"
    )
    limit_override_set(
        account=account, field="price_band_pct", value="30", reason="news", actor=risk_manager
    )
    submit(account, kind="limit", limit_price="75000", size="0.1")
    event = AuditEvent.objects.filter(action="risk.limit_override.set").get()
    assert event.before["value"] == "10" and event.after["value"] == "30"


def test_changing_an_override_records_the_value_it_replaced(account, risk_manager):
    for value in ("2", "1.5"):
        limit_override_set(
            account=account,
            field="max_order_qty",
            value=value,
            reason="tighter",
            actor=risk_manager,
        )
    last = AuditEvent.objects.filter(action="risk.limit_override.set").order_by("-seq").first()
    assert (last.before["value"], last.before["from"], last.after["value"]) == (
        "2",
        "override",
        "1.5",
    )
    assert LimitOverride.objects.get(account=account).value == "1.5"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"reason": "  "}, "reason_required"),
        ({"value": "abc"}, "invalid"),
        ({"value": "-1"}, "invalid"),
        ({"field": "max_cookies"}, "invalid"),
        ({"field": "allowed_directions", "value": "sideways"}, "invalid"),
        ({"field": "max_open_orders", "value": "-2"}, "invalid"),
        ({"field": "max_leverage", "value": "150"}, "invalid"),
        ({"field": "allowed_instruments", "value": ["BTC", "no way"]}, "invalid"),
    ],
)
def test_a_bad_override_is_refused_and_changes_nothing(account, risk_manager, changes, code):
    request = {"field": "max_order_qty", "value": "1", "reason": "test", **changes}
    with pytest.raises(RiskError) as caught:
        limit_override_set(account=account, actor=risk_manager, **request)
    assert caught.value.code == code and caught.value.message
    assert not LimitOverride.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="risk.").exists()


@pytest.mark.parametrize("who", ["trader", "nobody", "finance"])
def test_only_a_risk_manager_may_override_limits(account, who):
    from apps.accounts import roles

    actor = {
        "trader": account.owner,
        "nobody": None,
        "finance": person(roles.FINANCE, is_staff=True),
    }[who]
    with pytest.raises(RiskError) as caught:
        limit_override_set(
            account=account, field="max_order_qty", value="9", reason="x", actor=actor
        )
    assert caught.value.code == "permission_denied"
    assert not LimitOverride.objects.exists()


def test_clearing_a_limit_that_has_no_override_says_so(account, risk_manager):
    with pytest.raises(RiskError) as caught:
        limit_override_clear(
            account=account, field="max_leverage", reason="tidy", actor=risk_manager
        )
    assert caught.value.code == "no_override"


def test_overrides_accept_the_admins_text_forms(account, risk_manager):
    limit_override_set(
        account=account,
        field="allowed_instruments",
        value="ETH, SOL",
        reason="x",
        actor=risk_manager,
    )
    assert LimitOverride.objects.get().value == ["ETH", "SOL"]
    assert refused(account).code == "instrument_not_allowed"
    submit(account, coin="ETH", size="1")


# --- states on a real account -------------------------------------------------------------------


@pytest.fixture
def long_btc(account):
    Position.objects.create(account=account, coin="BTC", size=Decimal("1"), entry_price=60000)
    return account


def test_a_halted_account_takes_the_firms_reduce_only_flatten_at_any_price(long_btc):
    account_set_state(account=long_btc, state="halted", reason="breach")
    assert refused(long_btc, side="sell", reduce_only=True).code == "account_halted"
    submit(long_btc, origin="system_flatten", side="sell", reduce_only=True)
    submit(
        long_btc,
        origin="system_flatten",
        side="sell",
        reduce_only=True,
        kind="limit",
        limit_price="30000",
    )


def test_a_suspended_account_takes_a_risk_managers_reduce_only_order(long_btc):
    account_set_state(account=long_btc, state="suspended", reason="review")
    assert refused(long_btc, side="sell", size="0.5").code == "account_suspended"
    submit(long_btc, origin="risk_manager", side="sell", size="0.5", reduce_only=True)
    error = refused(long_btc, origin="risk_manager", side="buy", size="0.5")
    assert error.code == "account_suspended"


def test_a_reducing_account_takes_a_reduction_and_refuses_an_increase_or_a_reversal(long_btc):
    account_set_state(account=long_btc, state="reducing", reason="near the daily floor")
    assert refused(long_btc, side="buy", size="0.1").code == "account_reducing"
    assert refused(long_btc, side="sell", size="1.5").code == "account_reducing"
    submit(long_btc, side="sell", size="0.5")
    # The resting 0.5 and another 0.6 could together reverse the position.
    assert refused(long_btc, side="sell", size="0.6").code == "account_reducing"
    submit(long_btc, side="sell", size="0.5", reduce_only=True)


def test_a_closed_account_refuses_everything_but_the_system_flatten(long_btc):
    TradingAccount.objects.filter(pk=long_btc.pk).update(status="closed")
    assert refused(long_btc, origin="risk_manager", side="sell", reduce_only=True).code == (
        "account_closed"
    )
    submit(long_btc, origin="system_flatten", side="sell", reduce_only=True)


def test_the_gate_reads_the_state_from_the_database_not_the_callers_copy(account):
    stale = TradingAccount.objects.get(pk=account.pk)
    account_set_state(account=account, state="halted", reason="breach")
    assert stale.state == "active"
    assert refused(stale).code == "account_halted"


# --- accounts no rule set governs --------------------------------------------------------------


@pytest.fixture
def unruled(market):
    return account_open(owner=person(), starting_balance=Decimal("1000"), key="unruled")


def test_an_account_without_a_rule_set_gets_only_the_state_checks(unruled):
    submit(unruled, size="100")  # 6,000,000 on 1,000 of equity: the venue's margin decides
    submit(unruled, kind="limit", limit_price="120000", size="0.1")  # no band
    account_set_state(account=unruled, state="suspended", reason="review")
    assert refused(unruled).code == "account_suspended"


def test_an_override_on_an_account_without_a_rule_set_applies(unruled, risk_manager):
    limit_override_set(
        account=unruled, field="max_order_qty", value="1", reason="cap", actor=risk_manager
    )
    assert refused(unruled, size="2").code == "order_too_large"
    submit(unruled, kind="limit", limit_price="120000", size="0.1")  # still no band


# --- what it costs ------------------------------------------------------------------------------


def test_the_gate_reads_in_one_round_trip_per_order(
    long_btc, risk_manager, django_assert_num_queries
):
    limit_override_set(
        account=long_btc, field="max_order_qty", value="5", reason="cap", actor=risk_manager
    )
    context = SubmitContext(
        account=TradingAccount.objects.get(pk=long_btc.pk),
        intent=OrderIntent(
            coin="BTC",
            side="buy",
            kind="limit",
            size=Decimal("1"),
            limit_price=Decimal("60000"),
            client_order_id="abc",
        ),
        origin="trader_api",
        now=clock.now(),
    )
    assert gate_check(context) is None  # warms trading's instrument cache (30 s)
    # Four queries in one round trip: order counts, positions, overrides, the rule set's limits.
    with django_assert_num_queries(1) as captured:
        assert gate_check(context) is None
    assert captured.captured_queries[0]["sql"].count("EXECUTE ") == 4  # prepared (core.rows)
