from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from apps.market.candles import Bar, aggregate, bucket_start, merge
from apps.market.models import Candle
from apps.market.selectors import candles
from apps.market.services import candles_upsert, instruments_load
from tests.market.helpers import BUILT_IN_META


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("interval", "moment", "start"),
    [
        ("1m", at(9, 7, 59), at(9, 7)),
        ("5m", at(9, 7, 59), at(9, 5)),
        ("15m", at(9, 14, 59), at(9, 0)),
        ("15m", at(9, 15, 0), at(9, 15)),
        ("1h", at(9, 59, 59), at(9, 0)),
        ("4h", at(9, 7), at(8, 0)),  # 4h bars start at 00, 04, 08 ... UTC
        ("4h", at(3, 59, 59), at(0, 0)),
        ("1d", at(23, 59, 59), at(0, 0)),
    ],
)
def test_a_moment_falls_in_the_bucket_starting_on_the_utc_grid(interval, moment, start):
    assert bucket_start(moment, interval) == start


def test_a_bucket_of_a_non_utc_time_is_on_the_utc_grid():
    paris = datetime(2026, 3, 2, 10, 30, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Paris")
    )
    assert bucket_start(paris, "1d") == datetime(2026, 3, 2, tzinfo=UTC)


def test_candles_aggregate_marks_by_hand():
    # 09:00:10 100, 09:00:40 103, 09:00:50 99, 09:01:05 101, 09:04:59 104, 09:05:00 102
    points = [
        (at(9, 0, 10), {"BTC": D("100")}),
        (at(9, 0, 40), {"BTC": D("103")}),
        (at(9, 0, 50), {"BTC": D("99")}),
        (at(9, 1, 5), {"BTC": D("101")}),
        (at(9, 4, 59), {"BTC": D("104")}),
        (at(9, 5, 0), {"BTC": D("102")}),
    ]
    bars = {(b.interval, b.start): (b.open, b.high, b.low, b.close) for b in aggregate(points)}
    assert bars[("1m", at(9, 0))] == (D("100"), D("103"), D("99"), D("99"))
    assert bars[("1m", at(9, 1))] == (D("101"), D("101"), D("101"), D("101"))
    assert bars[("1m", at(9, 4))] == (D("104"), D("104"), D("104"), D("104"))
    assert bars[("1m", at(9, 5))] == (D("102"), D("102"), D("102"), D("102"))
    assert bars[("5m", at(9, 0))] == (D("100"), D("104"), D("99"), D("104"))
    assert bars[("5m", at(9, 5))] == (D("102"), D("102"), D("102"), D("102"))
    for interval in ("15m", "1h", "4h", "1d"):
        start = bucket_start(at(9, 0), interval)
        assert bars[(interval, start)] == (D("100"), D("104"), D("99"), D("102"))
    assert len(bars) == 4 + 2 + 4


def test_a_later_part_of_a_candle_widens_it_and_keeps_its_open():
    stored = Bar("BTC", "1m", at(9, 0), D("100"), D("103"), D("99"), D("101"))
    later = Bar("BTC", "1m", at(9, 0), D("102"), D("105"), D("100"), D("104"))
    assert merge(stored, later) == Bar("BTC", "1m", at(9, 0), D("100"), D("105"), D("99"), D("104"))


@pytest.mark.django_db
def test_candle_upsert_merges_with_the_stored_candle_as_a_restart_would():
    instruments_load(payload=BUILT_IN_META, source="test")
    from apps.market.models import Instrument

    ids = dict(Instrument.objects.values_list("coin", "pk"))
    first = aggregate([(at(9, 0, 10), {"BTC": D("100")}), (at(9, 0, 20), {"BTC": D("103")})])
    candles_upsert(bars=first, instrument_ids=ids)
    # The feed restarts mid-minute: its new bar opens at 101 but the stored open (100) stays.
    second = aggregate([(at(9, 0, 30), {"BTC": D("101")}), (at(9, 0, 40), {"BTC": D("98")})])
    candles_upsert(bars=second, instrument_ids=ids)
    candle = Candle.objects.get(instrument__coin="BTC", interval="1m", start=at(9, 0))
    assert (candle.open, candle.high, candle.low, candle.close) == (
        D("100"),
        D("103"),
        D("98"),
        D("98"),
    )
    assert Candle.objects.filter(instrument__coin="BTC").count() == 6


@pytest.mark.django_db
def test_candles_selector_gives_the_latest_or_those_since_oldest_first():
    instruments_load(payload=BUILT_IN_META, source="test")
    from apps.market.models import Instrument

    ids = dict(Instrument.objects.values_list("coin", "pk"))
    points = [(at(9, 0) + timedelta(minutes=m), {"ETH": D(2000 + m)}) for m in range(10)]
    candles_upsert(bars=aggregate(points, ["1m"]), instrument_ids=ids)
    latest = candles("ETH", "1m", limit=3)
    assert [c.start for c in latest] == [at(9, 7), at(9, 8), at(9, 9)]
    since = candles("ETH", "1m", since=at(9, 2), limit=2)
    assert [(c.start, c.close) for c in since] == [(at(9, 2), D("2002")), (at(9, 3), D("2003"))]
    with pytest.raises(ValueError, match="unknown interval"):
        candles("ETH", "2m")
