"""People and orders for the integration tests: orders through the real order entry, people
without a password (hashing one costs a quarter of a second a test)."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

from django.contrib.auth.models import Group

from apps.accounts.models import User
from apps.trading.registry import OrderIntent
from apps.trading.services import order_submit

_keys = [0]


def submit(account, *, origin: str = "trader_web", key: str | None = None, **fields):
    """A 1 BTC market buy unless told otherwise, through the real order entry."""
    _keys[0] += 1
    values = {"coin": "BTC", "side": "buy", "kind": "market", "size": Decimal("1")}
    values.update(
        {k: Decimal(v) if k.endswith(("size", "price")) else v for k, v in fields.items()}
    )
    return order_submit(
        account=account,
        intent=OrderIntent(**values),
        origin=origin,
        idempotency_key=key or f"gate-test-{_keys[0]}",
    )


_people = count(1)


def person(role: str | None = None, **fields) -> User:
    user = User.objects.create(email=f"risk-test-{next(_people)}@example.com", **fields)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user
