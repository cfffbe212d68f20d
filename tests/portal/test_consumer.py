"""The trading page's socket through the real daphne: owner only, the initial snapshot, the
risk engine's snapshots forwarded, prices pushed from the latest frame."""

import json
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apps.trading.services import account_set_state
from tests.factories import UserFactory
from tests.trading.market import set_prices

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _socket(live_server_url: str, account_id: int, user=None, coin: str = "BTC"):
    headers = {"Origin": live_server_url}
    if user is not None:
        client = Client()
        client.force_login(user)
        headers["Cookie"] = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
    return connect(
        f"{live_server_url.replace('http', 'ws')}/ws/accounts/{account_id}/?coin={coin}",
        additional_headers=headers,
        open_timeout=10,
    )


def _next(ws, kind: str, timeout: float = 8.0, source: str | None = "any") -> dict:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message["type"] == kind and source in ("any", message.get("source")):
            return message


def test_someone_elses_account_is_refused_with_4403(live_server_url, trader):
    _, account = trader
    with (
        _socket(live_server_url, account.pk, UserFactory()) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=5)
    assert closed.value.rcvd.code == 4403


def test_an_anonymous_socket_is_refused_with_4401(live_server_url, trader):
    _, account = trader
    with _socket(live_server_url, account.pk) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd.code == 4401


def test_the_owner_gets_a_snapshot_then_prices_and_the_engines_snapshots(live_server_url, trader):
    user, account = trader
    with _socket(live_server_url, account.pk, user) as ws:
        first = _next(ws, "account.snapshot")
        assert (first["account"], first["state"], first["balance"]) == (
            account.pk,
            "active",
            "100000.00",
        )
        assert first["floors"] == {"daily": "95000.00", "max_loss": "90000.00"}
        set_prices(BTC="61234.5", ETH="3000")
        price = _next(ws, "price")
        if price["mark"] == "60000":  # the loop may still be sending the fixture's frame
            price = _next(ws, "price")
        assert (price["coin"], price["mark"]) == ("BTC", "61234.5")
        engine = {
            "type": "account.snapshot",
            "account": account.pk,
            "t": "2026-03-02T08:00:00+00:00",
            "state": "halted",
            "balance": "94000.00",
            "equity": "94000.00",
            "unrealized_pnl": "0.00",
            "day_pnl": "-6000.00",
            "floors": {"daily": "95000.00", "max_loss": "90000.00"},
            "headroom": {},
            "positions": [],
            "verdict": "failed",
        }
        account_set_state(account=account, state="halted", reason="Breached the daily loss limit.")
        async_to_sync(get_channel_layer().group_send)(f"account.{account.pk}", engine)
        # forwarded as the engine sent it, with the state's reason added for the page
        assert _next(ws, "account.snapshot", source=None) == {
            **engine,
            "state_reason": "Breached the daily loss limit.",
        }
        ws.send(json.dumps({"type": "watch", "coin": "ETH"}))
        assert _next(ws, "price")["coin"] == "ETH"
