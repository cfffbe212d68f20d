"""Builders for the rules-engine tests: scenarios written as the JSON a firm would write.

Named test_rules_* to sit with the tests it serves; it holds no tests itself. Scenarios go
through the real parser, so every test also exercises validation.
"""

from __future__ import annotations

from typing import Any

import pytest

from apps.challenges.rules import Engine, Scenario, replay, scenario_from_json

START = "2026-01-05T00:00:00Z"  # a Monday, midnight UTC


@pytest.fixture(autouse=True)
def _fresh_redis():
    """Pure tests need no Redis: the project-wide flush is skipped for them."""
    yield


def at(short: str) -> str:
    """'01-05 09:00' -> '2026-01-05T09:00:00Z'."""
    day, clock = short.split()
    return f"2026-{day}T{clock}:00Z"


def fill(t: str, side: str, qty: str, price: str, fee: str = "0", symbol: str = "X") -> dict:
    return {
        "t": at(t),
        "type": "fill",
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "price": price,
        "fee": fee,
    }


def mark(t: str, price: str, symbol: str = "X") -> dict:
    return {"t": at(t), "type": "mark", "symbol": symbol, "price": price}


def funding(t: str, amount: str, symbol: str = "X") -> dict:
    return {"t": at(t), "type": "funding", "symbol": symbol, "amount": amount}


def adjust(t: str, amount: str, rebase: str) -> dict:
    return {"t": at(t), "type": "adjustment", "amount": amount, "rebase": rebase}


def end(t: str) -> dict:
    return {"t": at(t), "type": "end"}


def fixed(amount: str) -> dict:
    return {"fixed": amount}


def pct(amount: str) -> dict:
    return {"pct_of_initial": amount}


def document(
    rules: dict[str, Any] | None = None,
    events: list[dict] | tuple[dict, ...] = (),
    *,
    balance: str = "10000",
    start: str = START,
    timezone: str = "UTC",
    reset: str = "00:00",
    breach_when: str = "below",
) -> dict[str, Any]:
    return {
        "account": {"currency": "USD", "starting_balance": balance, "start": start},
        "rules": {
            "day_reset": {"timezone": timezone, "time": reset},
            "breach_when": breach_when,
            **(rules or {}),
        },
        "events": list(events),
    }


def scenario(rules: dict[str, Any] | None = None, events: Any = (), **kwargs: Any) -> Scenario:
    return scenario_from_json(document(rules, events, **kwargs))


def run(rules: dict[str, Any] | None = None, events: Any = (), **kwargs: Any) -> dict[str, Any]:
    return replay(scenario(rules, events, **kwargs))


def engine_after(rules: dict[str, Any] | None = None, events: Any = (), **kwargs: Any) -> Engine:
    """An engine that has applied every event (for reading live figures)."""
    s = scenario(rules, events, **kwargs)
    engine = Engine(s.rules, s.account)
    for event in s.events:
        engine.apply(event)
    return engine
