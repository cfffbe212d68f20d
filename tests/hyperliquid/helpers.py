"""Building blocks of the venue's tests, made with the real services."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.test import TestCase

from apps.core import clock
from apps.core.redis import get_redis
from apps.market.frames import Frame, Tick
from apps.market.selectors import LATEST_KEY
from apps.market.services import instruments_load
from apps.trading import market_view
from apps.trading.models import Order, OutboxMessage, TradingAccount
from apps.trading.registry import OrderIntent
from apps.trading.services import account_open, order_submit
from apps.trading.venues.hyperliquid.provisioning import provisioning_advance
from tests.factories import UserFactory
from tests.hyperliquid.fake import FakeHyperliquid


def load_market(fake: FakeHyperliquid, coins=("BTC", "ETH", "SOL")) -> None:
    """Our instruments from the recorded meta, and a frame at the recorded mids."""
    instruments_load(payload=fake.meta, source="test")
    market_view.clear_cache()
    frame = Frame(
        seq=1,
        t=clock.now(),
        prices={
            c: Tick(Decimal(fake.mids[c]), Decimal(fake.mids[c]), Decimal(fake.mids[c]), Decimal(0))
            for c in coins
        },
        source="test",
    )
    get_redis().set(LATEST_KEY, frame.to_json())


def open_account(balance: str = "25000", key: str = "acc") -> TradingAccount:
    """A funded account on Hyperliquid, its provisioning requested as account_open does."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        account = account_open(
            owner=UserFactory(), starting_balance=Decimal(balance), key=key, venue="hyperliquid"
        )
    return account


def provision(account: TradingAccount):
    provisioning = account.hyperliquid_provisioning
    result = provisioning_advance(provisioning_id=provisioning.pk)
    account.refresh_from_db()
    return result


def ready_account(balance: str = "25000", key: str = "acc") -> TradingAccount:
    account = open_account(balance, key)
    assert provision(account).status == "ready"
    return account


def submit(account: TradingAccount, key: str = "k1", **fields) -> Order:
    intent = OrderIntent(
        **{"coin": "BTC", "side": "buy", "kind": "market", "size": Decimal("0.01"), **fields}
    )
    return order_submit(account=account, intent=intent, origin="trader_api", idempotency_key=key)


def expire_leases() -> None:
    """As if the lease of every message whose outcome is unknown had run out."""
    OutboxMessage.objects.filter(status="unknown").update(
        lease_until=clock.now() - timedelta(seconds=1)
    )
