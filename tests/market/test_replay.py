from __future__ import annotations

from decimal import Decimal as D

import pytest

from apps.market.feed.replay import (
    DATA_FILE,
    ReplayError,
    ReplaySource,
    build_replay_lines,
    read_steps,
)
from tests.market.helpers import cassette_answer

LINES = [
    "# a comment line is skipped",
    '{"coin":"BTC","t":1000,"o":"100","h":"110","l":"95","c":"105"}',  # rising: o, l, h, c
    '{"coin":"BTC","t":2000,"o":"105","h":"108","l":"90","c":"92","funding":"-0.00001"}',
    '{"coin":"ETH","t":2000,"mark":"2000","oracle":"2001"}',
]


def marks(steps, coin):
    return [step[coin].mark for step in steps]


def test_replay_walks_each_candle_open_extremes_close():
    steps = read_steps(LINES)
    # Rising candle: open, low, high, close; falling: open, high, low, close.
    assert marks(steps, "BTC") == [
        D(x) for x in ("100", "95", "110", "105", "105", "108", "90", "92")
    ]
    assert steps[0]["BTC"].funding == D("0.0000125")  # the baseline where the file has none
    assert steps[-1]["BTC"].funding == D("-0.00001")


def test_a_coin_holds_its_price_between_its_points_and_from_the_start():
    steps = read_steps(LINES)
    # ETH's one tick is at t=2000; before it, its first price stands in; after, it holds.
    assert marks(steps, "ETH") == [D("2000")] * 8
    assert steps[4]["ETH"].oracle == D("2001") and steps[4]["ETH"].mid == D("2000")


def test_replay_loops_at_the_end():
    source = ReplaySource(read_steps(LINES))
    first_pass = [source.next_prices() for _ in range(len(source))]
    assert source.loops == 1 and source.position == 0
    assert [source.next_prices() for _ in range(len(source))] == first_pass


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 1: not JSON"),
        ('{"coin":"BTC","t":1,"o":"1","h":"2","l":"1"}', "'c'"),
        ('{"coin":"BTC","t":1,"o":"1","h":"0.5","l":"0.4","c":"1"}', "low/high"),
        ('{"coin":"BTC","t":"x","mark":"1"}', "'t'"),
        ('{"coin":"BTC","t":1,"mark":1.5}', "not a decimal string"),
        ('{"coin":"BTC","t":1}', "neither a candle"),
    ],
)
def test_a_malformed_replay_line_is_refused_naming_the_line(line, message):
    with pytest.raises(ReplayError, match=message):
        read_steps([line])


def test_the_shipped_replay_file_walks_the_recorded_candles():
    source = ReplaySource.from_file(DATA_FILE)
    # 24 recorded hourly candles, four points each, for kPEPE and the three derived coins.
    assert len(source) == 96
    first = source.next_prices()
    assert set(first) == {"kPEPE", "BTC", "ETH", "SOL"}
    assert first["kPEPE"].mark == D("0.001601")  # the recording's first open


def test_the_shipped_replay_file_is_what_the_builder_makes_of_the_recording():
    candles = cassette_answer("test_get_candles_snapshot.yaml", "candleSnapshot")
    mids = cassette_answer("test_get_all_mids.yaml", "allMids")
    lines = build_replay_lines(candles, {c: D(mids[c]) for c in ("BTC", "ETH", "SOL")})
    assert DATA_FILE.read_text() == "\n".join(lines) + "\n"
