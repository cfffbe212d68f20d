"""The latest frame, read on every order, is parsed once per frame."""

from decimal import Decimal

import pytest

from apps.core.redis import get_redis
from apps.market import selectors
from apps.market.selectors import LATEST_KEY, frame_latest
from apps.trading import market_view
from tests.trading.market import set_prices


def test_the_same_frame_is_parsed_once_and_a_new_one_is_read_at_once(monkeypatch):
    set_prices(BTC="60000")
    first = frame_latest()
    parses = []
    real = selectors.Frame.from_json
    monkeypatch.setattr(selectors.Frame, "from_json", lambda raw: parses.append(raw) or real(raw))
    assert frame_latest() is first and parses == []
    assert market_view.quotes() is market_view.quotes()  # made once for the frame
    set_prices(BTC="61000")
    assert frame_latest().prices["BTC"].mark == Decimal("61000") and len(parses) == 1
    assert market_view.quotes()["BTC"].mark == Decimal("61000")
    get_redis().delete(LATEST_KEY)
    assert frame_latest() is None and market_view.quotes() == {}


def test_quotes_cannot_be_changed_by_a_caller():
    set_prices(BTC="60000")
    with pytest.raises(TypeError):
        market_view.quotes()["ETH"] = market_view.quotes()["BTC"]  # type: ignore[index]
