from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.market.frames import Frame, FrameError, Tick

T0 = datetime(2026, 3, 2, 8, 0, 0, 250000, tzinfo=UTC)

decimals = st.decimals(allow_nan=False, allow_infinity=False, places=12).filter(
    lambda d: abs(d) < Decimal("1e15")
)
ticks = st.builds(Tick, mark=decimals, oracle=decimals, mid=decimals, funding=decimals)


@given(st.dictionaries(st.text(min_size=1, max_size=8), ticks, max_size=5), st.integers(1, 2**62))
def test_a_frame_survives_json_with_every_decimal_exact(prices, seq):
    frame = Frame(seq=seq, t=T0, prices=prices, source="synthetic")
    back = Frame.from_json(frame.to_json())
    assert back == frame
    for coin, tick in prices.items():
        for name in ("mark", "oracle", "mid", "funding"):
            assert str(getattr(back.prices[coin], name)) == str(getattr(tick, name))


def test_frame_json_carries_prices_as_strings_never_floats():
    tick = Tick(Decimal("80868"), Decimal("80871.0"), Decimal("80868.5"), Decimal("0.0000125"))
    data = json.loads(Frame(seq=7, t=T0, prices={"BTC": tick}).to_json())
    assert data["seq"] == 7 and data["t"] == "2026-03-02T08:00:00.250000+00:00"
    assert data["prices"]["BTC"] == {
        "mark": "80868",
        "oracle": "80871.0",
        "mid": "80868.5",
        "funding": "0.0000125",
    }


def test_a_tiny_rate_is_written_without_exponent():
    tick = Tick(Decimal("1"), Decimal("1"), Decimal("1"), Decimal("1E-10"))
    raw = Frame(seq=1, t=T0, prices={"X": tick}).to_json()
    assert '"funding":"0.0000000001"' in raw


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["prices"]["BTC"].update(mark=80868.5), "not a decimal string"),
        (lambda d: d["prices"]["BTC"].pop("oracle"), "oracle is missing"),
        (lambda d: d.update(seq=0), "seq 0"),
        (lambda d: d.update(t="2026-03-02T08:00:00"), "not UTC"),
        (lambda d: d.update(v=2), "version"),
        (lambda d: d["prices"]["BTC"].update(mid="NaN"), "finite"),
    ],
)
def test_a_malformed_frame_is_refused_naming_the_part(mutate, message):
    tick = Tick(Decimal("1"), Decimal("1"), Decimal("1"), Decimal("0"))
    data = json.loads(Frame(seq=1, t=T0, prices={"BTC": tick}).to_json())
    mutate(data)
    with pytest.raises(FrameError, match=message):
        Frame.from_json(json.dumps(data))


def test_a_frame_needs_an_aware_time():
    with pytest.raises(FrameError, match="naive"):
        Frame(seq=1, t=datetime(2026, 1, 1), prices={})  # noqa: DTZ001 - the point of the test
