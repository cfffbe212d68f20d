"""The feed keeps its place when Redis drops: the loop runs in-process and publishes through a
TCP proxy that the test cuts and restores, while the clock still reads the real Redis."""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal as D
from urllib.parse import urlparse

import pytest
from django.conf import settings

from apps.market.feed.loop import FeedLoop
from apps.market.feed.publisher import FramePublisher, publisher_client
from apps.market.feed.replay import ReplaySource, read_steps
from apps.market.feed.synthetic import SyntheticInstrument, SyntheticSource
from apps.market.selectors import frames_read
from tests.market.helpers import CuttableProxy

SPECS = [SyntheticInstrument("BTC", D("80868.5"), 5), SyntheticInstrument("SOL", D("94.8775"), 2)]
FRAMES = 40


@pytest.fixture
def proxy():
    target = urlparse(settings.REDIS_URL)
    proxy = CuttableProxy(target.hostname or "127.0.0.1", target.port or 6379)
    yield proxy
    proxy.close()


def run_with_a_cut(proxy: CuttableProxy, source) -> FeedLoop:
    db = urlparse(settings.REDIS_URL).path or "/0"
    client = publisher_client(f"redis://127.0.0.1:{proxy.port}{db}")
    loop = FeedLoop(
        source,
        FramePublisher(client),
        interval=0.01,
        max_frames=FRAMES,
        backoff_initial=0.05,
        backoff_cap=0.2,
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while loop.published < 10 and time.monotonic() < deadline:
        time.sleep(0.005)
    proxy.cut()
    while loop.redis_drops < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    published_while_down = loop.published
    time.sleep(0.2)
    assert loop.published == published_while_down, "frames went out while Redis was cut off"
    proxy.restore()
    thread.join(timeout=15)
    assert not thread.is_alive(), "the feed did not finish after Redis came back"
    return loop


def test_after_redis_drops_synthetic_frames_resume_with_contiguous_numbers_and_path(proxy, caplog):
    caplog.set_level(logging.WARNING, logger="apps.market.feed")
    loop = run_with_a_cut(proxy, SyntheticSource(SPECS, seed=5, interval=0.01))
    assert loop.redis_drops >= 3
    frames = [f for _, f in frames_read(after_id="0", count=1000)]
    assert [f.seq for f in frames] == list(range(1, FRAMES + 1))
    # Not one step of the random walk was lost or repeated across the outage.
    fresh = SyntheticSource(SPECS, seed=5, interval=0.01)
    assert [f.prices for f in frames] == [fresh.next_prices() for _ in range(FRAMES)]
    assert "redis dropped" in caplog.text and "kept, retrying in" in caplog.text


def test_after_redis_drops_replay_resumes_at_its_position(proxy):
    lines = [f'{{"coin":"ETH","t":{i},"mark":"{2000 + i}"}}' for i in range(FRAMES)]
    run_with_a_cut(proxy, ReplaySource(read_steps(lines)))
    frames = [f for _, f in frames_read(after_id="0", count=1000)]
    assert [f.seq for f in frames] == list(range(1, FRAMES + 1))
    assert [f.prices["ETH"].mark for f in frames] == [D(2000 + i) for i in range(FRAMES)]
