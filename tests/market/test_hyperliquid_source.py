"""The hyperliquid source against a local fake of the venue's websocket that replays recorded
messages (samples/ws_allmids.json and the recorded asset contexts)."""

from __future__ import annotations

import logging
import time
from decimal import Decimal as D
from io import StringIO

import pytest
from django.core.management import call_command

from apps.market.feed.hyperliquid import HyperliquidSource
from apps.market.selectors import frames_read
from apps.market.services import instruments_load
from tests.market.helpers import BUILT_IN_META, FakeHyperliquid, recorded_ctxs, sample

COINS = ["BTC", "ETH", "SOL"]
EXPECTED_SUBSCRIPTIONS = [{"type": "allMids"}] + [
    {"type": "activeAssetCtx", "coin": coin} for coin in COINS
]


@pytest.fixture
def venue():
    fake = FakeHyperliquid(recorded_ctxs(), sample("ws_allmids.json"))
    yield fake
    fake.close()


def wait_for(check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_the_source_subscribes_and_turns_recorded_messages_into_prices(venue):
    source = HyperliquidSource(venue.url, COINS, backoff_initial=0.05)
    source.start()
    try:
        prices = wait_for(lambda: (p := source.next_prices()) and len(p) == 3 and p)
    finally:
        source.close()
    assert venue.subscriptions == [EXPECTED_SUBSCRIPTIONS]
    btc = prices["BTC"]
    # Recorded context of BTC: markPx 77562.0, oraclePx 77605.0, funding -0.0000015186; its
    # midPx (77558.5) arrived after allMids' 80868.5, so it is the mid in force.
    assert (btc.mark, btc.oracle, btc.funding) == (D("77562.0"), D("77605.0"), D("-0.0000015186"))
    assert btc.mid == D("77558.5")
    assert prices["SOL"].mark == D("86.148")


def test_after_the_venue_drops_the_source_reconnects_and_resubscribes(venue, caplog):
    caplog.set_level(logging.WARNING, logger="apps.market.feed.hyperliquid")
    source = HyperliquidSource(venue.url, COINS, backoff_initial=0.05)
    source.start()
    try:
        wait_for(lambda: source.next_prices())
        venue.drop()
        wait_for(lambda: source.drops == 1)
        wait_for(lambda: source.connections == 2 and len(venue.subscriptions[-1]) == 4)
        prices = wait_for(lambda: source.next_prices())
    finally:
        source.close()
    assert venue.subscriptions == [EXPECTED_SUBSCRIPTIONS, EXPECTED_SUBSCRIPTIONS]
    assert set(prices) == set(COINS)
    assert "hyperliquid websocket dropped" in caplog.text


def test_no_prices_while_the_venue_is_unreachable():
    # Nothing listens on port 9 of this machine: the source keeps trying and says nothing.
    source = HyperliquidSource("ws://127.0.0.1:9", COINS, backoff_initial=0.05, backoff_cap=0.1)
    source.start()
    try:
        wait_for(lambda: source.drops >= 2)
        assert source.next_prices() is None and source.connections == 0
    finally:
        source.close()


def test_a_malformed_message_is_skipped():
    source = HyperliquidSource("ws://unused", COINS)
    source.handle('{"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {"markPx": 1}}}')
    source.handle("not json")
    source.handle('{"channel": "allMids", "data": {"mids": {"BTC": "80868.5", "@142": "1"}}}')
    assert source._prices == {"BTC": {"mid": D("80868.5")}}


@pytest.mark.django_db
def test_the_command_publishes_frames_from_the_venue(venue):
    instruments_load(payload=BUILT_IN_META, source="test")
    out = StringIO()
    call_command(
        "run_market_feed",
        "--source",
        "hyperliquid",
        "--url",
        venue.url,
        "--max-frames",
        "3",
        "--interval",
        "0.02",
        stdout=out,
    )
    assert "published 3 frames from the hyperliquid source" in out.getvalue()
    frames = [f for _, f in frames_read(after_id="0")]
    assert [f.seq for f in frames] == [1, 2, 3]
    assert all(f.source == "hyperliquid" for f in frames)
    assert frames[-1].prices["ETH"].mark == D("2123.7")
