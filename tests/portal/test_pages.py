"""The dashboard and the trading page's actions, through Django's test client."""

import json
from decimal import Decimal

import pytest

from apps.challenges.evaluation import evaluation_sync
from apps.challenges.rules import parse_scenario, replay
from apps.challenges.selectors import account_rule_view
from apps.portal.selectors import account_snapshot
from apps.trading.models import Order, OutboxMessage, TradingState
from apps.trading.services import account_set_state
from tests.challenges.lifecycle_support import trade
from tests.factories import UserFactory
from tests.pushes import run_and_receive
from tests.trading.market import set_prices

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def ticket(client, account, **fields):
    data = {
        "coin": "BTC",
        "side": "buy",
        "kind": "market",
        "size": "0.5",
        "unit": "coin",
        "leverage": "1",
        "idempotency_key": fields.pop("key", "k1"),
        **fields,
    }
    return client.post(f"/trade/{account.pk}/orders/", data, **HX).content.decode()


def test_the_dashboard_shows_each_account_with_its_objectives(client, trader):
    user, account = trader
    client.force_login(user)
    page = client.get("/dashboard/").content.decode()
    for text in (
        "Phase 1",
        f"account #{account.pk}",
        "Profit target",
        "0.00 of 5,000.00",
        "Daily loss headroom",
        "Max loss headroom",
        "10,000.00 left",
        "Trading days",
        "0 of 1",
        "Days left",
        "30 of 30",
        "Next daily reset in",
        "<polyline",
        "Trade this account",
    ):
        assert text in page, text


def test_a_failed_account_shows_its_breach_report_and_scenario_to_its_owner_only(
    client, trader, run_commits
):
    user, account = trader
    run_commits(trade, account, "buy", "8", "big")
    set_prices(BTC="59200")
    evaluated = run_commits(evaluation_sync, account_id=account.evaluation.pk)
    assert evaluated.status == "failed"
    view = account_rule_view(evaluated)
    client.force_login(user)
    page = client.get("/dashboard/").content.decode()
    assert "Breach report" in page and "the daily loss limit" in page
    assert view["breach"]["hash"] in page
    assert "Try again at 15% off" in page
    response = client.get(f"/dashboard/accounts/{account.pk}/scenario.json")
    assert response["Content-Disposition"].startswith("attachment")
    replayed = replay(parse_scenario(response.content.decode()))
    assert (replayed["status"], replayed["reason"]) == ("failed", "daily_loss")
    client.force_login(UserFactory())
    assert client.get(f"/dashboard/accounts/{account.pk}/scenario.json").status_code == 404


def test_the_ticket_places_a_market_order_through_order_entry_once(client, trader):
    user, account = trader
    client.force_login(user)
    answer = ticket(client, account)
    assert "Order accepted: buy 0.5 BTC market." in answer
    assert 'id="ticket-key"' in answer and 'hx-swap-oob="true"' in answer  # a fresh key
    order = Order.objects.get(account=account)
    assert (order.origin, order.actor, order.idempotency_key) == ("trader_web", user, "web:k1")
    ticket(client, account)  # the same form sent again
    assert Order.objects.filter(account=account).count() == 1


def test_a_size_in_usd_is_margin_times_leverage(client, trader):
    user, account = trader
    client.force_login(user)
    answer = ticket(client, account, size="1000", unit="usd", leverage="5")
    assert "Order accepted: buy 0.08333 BTC market." in answer  # 5,000 / 60,000 on the lot grid
    answer = ticket(client, account, size="1000", unit="usd", leverage="25", key="k2")
    assert "Refused: Leverage must be between 1x and 20x for BTC on this account." in answer


def test_orders_the_gate_refuses_show_the_reason_and_write_nothing(client, trader):
    user, account = trader
    client.force_login(user)
    answer = ticket(client, account, size="0.0001")
    assert "Refused: Order must have minimum value of $10." in answer
    answer = ticket(client, account, kind="limit", size="0.1", key="k3")
    assert "Refused: Limit price: A limit order needs a limit price." in answer
    account_set_state(account=account, state=TradingState.HALTED, reason="Breached the daily loss")
    answer = ticket(client, account, key="k4")
    assert "Refused: Trading is halted: Breached the daily loss" in answer
    assert not Order.objects.filter(account=account).exists()


def test_take_profit_and_stop_loss_ride_along_as_reduce_only_triggers(client, trader):
    user, account = trader
    client.force_login(user)
    answer = ticket(client, account, take_profit="62000", stop_loss="58000")
    assert "Take profit at 62000" in answer and "Stop loss at 58000" in answer
    rows = {o.kind: o for o in Order.objects.filter(account=account)}
    assert rows["take_profit"].side == rows["stop_loss"].side == "sell"
    assert rows["take_profit"].reduce_only and rows["stop_loss"].reduce_only
    assert rows["take_profit"].size == rows["market"].size == Decimal("0.5")
    wrong = ticket(client, account, take_profit="50000", key="k9")
    assert "Refused: The take-profit of a buy must be above 60000." in wrong


def test_cancel_and_close_from_the_trading_page(client, trader, run_commits):
    user, account = trader
    client.force_login(user)
    ticket(client, account, kind="limit", limit_price="59000", size="0.2", key="rest")
    resting = Order.objects.get(account=account)
    answer = client.post(f"/trade/{account.pk}/orders/{resting.pk}/cancel/", **HX)
    assert "Cancelling buy BTC order." in answer.content.decode()
    assert OutboxMessage.objects.filter(order=resting, action="cancel").exists()
    run_commits(trade, account, "buy", "0.3", "open")
    answer = client.post(
        f"/trade/{account.pk}/positions/BTC/close/", {"idempotency_key": "close-1"}, **HX
    ).content.decode()
    assert "Closing BTC: sell 0.3 BTC market (reduce-only)." in answer
    close = Order.objects.get(account=account, idempotency_key="web:close-1")
    assert close.reduce_only and close.size == Decimal("0.3")


def test_another_traders_account_is_not_found(client, trader):
    _, account = trader
    client.force_login(UserFactory())
    assert client.get(f"/trade/{account.pk}/").status_code == 404
    assert "Order accepted" not in ticket(client, account)
    assert not Order.objects.exists()


def test_an_expired_session_is_told_in_the_ticket_not_redirected_into_it(client, trader):
    _, account = trader
    answer = ticket(client, account)
    assert "Your session has expired: nothing was sent." in answer
    assert client.post(f"/trade/{account.pk}/orders/", {}).status_code == 302
    assert not Order.objects.exists()


def test_the_trading_page_renders_the_account_for_its_owner(client, trader):
    user, account = trader
    client.force_login(user)
    page = client.get(f"/trade/{account.pk}/").content.decode()
    assert 'id="initial-snapshot"' in page and f'data-ws="/ws/accounts/{account.pk}/"' in page
    assert "vendor/lightweight-charts/lightweight-charts.standalone.production.js" in page
    assert "vendor/htmx/htmx.min.js" in page
    assert client.get("/trade/").url == f"/trade/{account.pk}/"


def test_the_snapshot_has_the_shape_the_risk_engine_pushes(trader, run_commits):
    _, account = trader
    run_commits(trade, account, "buy", "1", "open")
    set_prices(BTC="60300")
    snapshot = account_snapshot(account.pk)
    for key in (
        "type",
        "account",
        "t",
        "state",
        "balance",
        "equity",
        "unrealized_pnl",
        "day_pnl",
        "floors",
        "headroom",
        "positions",
        "verdict",
    ):
        assert key in snapshot, key
    assert snapshot["type"] == "account.snapshot" and snapshot["account"] == account.pk
    assert set(snapshot["floors"]) == {"daily", "max_loss"}
    assert snapshot["positions"][0]["coin"] == "BTC"
    position = snapshot["positions"][0]
    expected = Decimal(position["size"]) * (Decimal("60300") - Decimal(position["entry_price"]))
    assert Decimal(snapshot["unrealized_pnl"]) == expected.quantize(Decimal("0.01")) > 0
    assert Decimal(snapshot["equity"]) == Decimal(snapshot["balance"]) + expected.quantize(
        Decimal("0.01")
    )
    daily = snapshot["headroom"]["daily_loss"]
    assert Decimal(daily["headroom"]) == Decimal(snapshot["equity"]) - Decimal(daily["threshold"])
    json.dumps(snapshot)  # plain JSON all through


def test_a_booked_fill_pushes_a_fresh_snapshot_to_the_accounts_group(trader, run_commits):
    _, account = trader
    _, message = run_and_receive(
        [f"account.{account.pk}"],
        lambda: run_commits(trade, account, "buy", "0.5", "open"),
        until=lambda message: bool(message.get("positions")),
    )
    assert message["type"] == "account.snapshot" and message["source"] == "portal"
    assert message["positions"][0]["size"] == "0.5"


def test_a_venue_rejection_reaches_the_page_with_its_reason(client, trader):
    from apps.trading.services import order_apply_status
    from apps.trading.venues.base import OrderStatus

    user, account = trader
    client.force_login(user)
    ticket(client, account, kind="limit", limit_price="59000", size="0.2", key="rej")
    order = Order.objects.get(account=account)
    order_apply_status(
        order=order,
        status=OrderStatus(order.venue_client_id, "rejected", reason="Insufficient margin"),
    )
    shown = next(o for o in account_snapshot(account.pk)["orders"] if o["id"] == str(order.pk))
    assert (shown["status"], shown["reason"], shown["live"]) == (
        "rejected",
        "Insufficient margin",
        False,
    )
