from __future__ import annotations

from decimal import Decimal as D
from io import StringIO

import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.market.feed.loop import FeedLoop
from apps.market.feed.publisher import FramePublisher, publisher_client
from apps.market.feed.synthetic import SyntheticInstrument, SyntheticSource
from apps.market.models import Candle
from apps.market.selectors import FRAMES_STREAM, LATEST_KEY, frame_latest, frames_read
from apps.market.services import instrument_mids_record, instruments_load
from tests.market.helpers import BUILT_IN_META

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_instruments():
    instruments_load(payload=BUILT_IN_META, source="test")
    instrument_mids_record(mids={"BTC": "80868.5", "ETH": "2296.45", "SOL": "94.8775"})


def stream() -> list[tuple[str, dict]]:
    return [(i, f) for i, f in frames_read(after_id="0", count=10_000)]


def run(*args: str) -> str:
    out = StringIO()
    call_command("run_market_feed", *args, stdout=out)
    return out.getvalue()


def test_the_command_publishes_n_frames_on_the_stream_and_keeps_the_latest(demo_instruments):
    output = run("--max-frames", "5", "--interval", "0.02", "--seed", "42")
    assert "published 5 frames from the synthetic source" in output
    frames = [frame for _, frame in stream()]
    assert [f.seq for f in frames] == [1, 2, 3, 4, 5]
    assert all(set(f.prices) == {"BTC", "ETH", "SOL"} for f in frames)
    assert all(a.t <= b.t for a, b in zip(frames, frames[1:], strict=False))
    assert frame_latest() == frames[-1]
    # The prices are the synthetic market's for seed 42, starting at the recorded mids.
    specs = [
        SyntheticInstrument("BTC", D("80868.5"), 5),
        SyntheticInstrument("ETH", D("2296.45"), 4),
        SyntheticInstrument("SOL", D("94.8775"), 2),
    ]
    expected = SyntheticSource(specs, seed=42, interval=0.02)
    assert [f.prices for f in frames] == [expected.next_prices() for _ in range(5)]
    # The stream is capped: MAXLEN ~ 10000.
    info = redis.Redis.from_url(settings.REDIS_URL).xinfo_stream(FRAMES_STREAM)
    assert info["length"] == 5


def test_a_restarted_feed_continues_the_sequence_numbers(demo_instruments):
    run("--max-frames", "3", "--interval", "0.01", "--seed", "1")
    run("--max-frames", "2", "--interval", "0.01", "--seed", "1", "--source", "replay")
    frames = [frame for _, frame in stream()]
    assert [f.seq for f in frames] == [1, 2, 3, 4, 5]
    assert [f.source for f in frames] == ["synthetic"] * 3 + ["replay"] * 2


def test_the_feed_writes_candles_of_the_marks(demo_instruments):
    run("--max-frames", "4", "--interval", "0.01", "--seed", "9")
    marks = [f.prices["BTC"].mark for _, f in stream()]
    minute = Candle.objects.filter(instrument__coin="BTC", interval="1m").order_by("start")
    # Four frames within 0.05 s usually share one minute; across a minute boundary, two.
    assert 1 <= minute.count() <= 2
    assert minute.first().open == marks[0] and minute.last().close == marks[-1]
    assert max(c.high for c in minute) == max(marks) and min(c.low for c in minute) == min(marks)
    assert set(Candle.objects.values_list("interval", flat=True)) == {
        "1m",
        "5m",
        "15m",
        "1h",
        "4h",
        "1d",
    }


def test_frames_read_continues_from_the_last_id_a_consumer_saw(demo_instruments):
    run("--max-frames", "4", "--interval", "0.01", "--seed", "2")
    first_two = frames_read(after_id="0", count=2)
    rest = frames_read(after_id=first_two[-1][0])
    assert [f.seq for _, f in first_two + rest] == [1, 2, 3, 4]
    assert frames_read(after_id=rest[-1][0], block_ms=50) == []
    with pytest.raises(ValueError, match="block_ms"):
        frames_read(block_ms=0)


def test_without_instruments_the_command_says_what_to_run():
    with pytest.raises(CommandError, match="seed_demo"):
        run("--max-frames", "1")


def test_an_unreadable_replay_file_is_named(demo_instruments, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"coin":"BTC","t":1,"o":"1"}\n')
    with pytest.raises(CommandError, match="bad.jsonl line 1"):
        run("--source", "replay", "--file", str(bad), "--max-frames", "1")


class LosesTheAnswerOnce(FramePublisher):
    """The connection breaks after Redis ran the MULTI/EXEC but before the answer came back."""

    failed = False

    def publish(self, frame):
        entry = super().publish(frame)
        if frame.seq == 3 and not self.failed:
            self.failed = True
            raise redis.ConnectionError("connection reset after EXEC")
        return entry


def test_a_frame_whose_answer_was_lost_is_not_published_twice():
    source = SyntheticSource([SyntheticInstrument("BTC", D("80000"), 5)], seed=1, interval=0.01)
    publisher = LosesTheAnswerOnce(publisher_client(settings.REDIS_URL))
    loop = FeedLoop(source, publisher, interval=0.01, max_frames=6, backoff_initial=0.01)
    assert loop.run() == 6
    assert publisher.failed and loop.redis_drops == 1
    assert [f.seq for _, f in stream()] == [1, 2, 3, 4, 5, 6]
    assert source.steps == 6  # the source never moved on for the retried frame
    assert redis.Redis.from_url(settings.REDIS_URL).exists(LATEST_KEY)
