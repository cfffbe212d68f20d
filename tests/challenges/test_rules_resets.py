"""Day resets in the firm's time zone, across daylight-saving gaps and overlaps."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from apps.challenges.rules import DayReset, format_time, next_reset, reset_on
from tests.challenges.test_rules_support import (  # noqa: F401
    _fresh_redis,
    at,
    end,
    fill,
    mark,
    run,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "clock", "day", "expected"),
    [
        # Berlin leaves winter time on 29 March 2026 at 02:00 local (01:00Z).
        ("Europe/Berlin", "00:00", date(2026, 3, 29), "2026-03-28T23:00:00Z"),
        ("Europe/Berlin", "00:00", date(2026, 3, 30), "2026-03-29T22:00:00Z"),
        # 02:00-02:59 never happens that night: the reset is the first instant after the
        # gap, 03:00 CEST, whatever minute inside the gap was asked for.
        ("Europe/Berlin", "02:00", date(2026, 3, 29), "2026-03-29T01:00:00Z"),
        ("Europe/Berlin", "02:30", date(2026, 3, 29), "2026-03-29T01:00:00Z"),
        ("Europe/Berlin", "03:00", date(2026, 3, 29), "2026-03-29T01:00:00Z"),
        ("Europe/Berlin", "01:59", date(2026, 3, 29), "2026-03-29T00:59:00Z"),
        # 25 October 2026: 02:00-02:59 happens twice; the first (summer time) counts.
        ("Europe/Berlin", "02:30", date(2026, 10, 25), "2026-10-25T00:30:00Z"),
        ("Europe/Berlin", "03:00", date(2026, 10, 25), "2026-10-25T02:00:00Z"),
        # New York: the gap is 02:00-03:00 on 8 March 2026 (07:00Z), the overlap 01:00-02:00
        # on 1 November 2026.
        ("America/New_York", "02:30", date(2026, 3, 8), "2026-03-08T07:00:00Z"),
        ("America/New_York", "17:00", date(2026, 3, 8), "2026-03-08T21:00:00Z"),
        ("America/New_York", "17:00", date(2026, 3, 6), "2026-03-06T22:00:00Z"),
        ("America/New_York", "01:30", date(2026, 11, 1), "2026-11-01T05:30:00Z"),
        ("America/New_York", "01:00", date(2026, 11, 1), "2026-11-01T05:00:00Z"),
        # Lord Howe moves by half an hour (02:00 -> 02:30 on 4 October 2026, 15:30Z).
        ("Australia/Lord_Howe", "02:15", date(2026, 10, 4), "2026-10-03T15:30:00Z"),
        ("Asia/Kolkata", "00:00", date(2026, 1, 1), "2025-12-31T18:30:00Z"),
        ("UTC", "23:59", date(2026, 1, 1), "2026-01-01T23:59:00Z"),
    ],
)
def test_reset_instant_follows_local_time(zone: str, clock: str, day: date, expected: str):
    hour, minute = map(int, clock.split(":"))
    assert format_time(reset_on(DayReset(zone, hour, minute), day)) == expected


def test_next_reset_is_strictly_after_the_given_instant():
    berlin = DayReset("Europe/Berlin", 0, 0)
    assert next_reset(berlin, utc("2026-03-28T22:59:59Z")) == utc("2026-03-28T23:00:00Z")
    assert next_reset(berlin, utc("2026-03-28T23:00:00Z")) == utc("2026-03-29T22:00:00Z")


def test_next_reset_in_a_gap_night_never_repeats_or_skips_a_day():
    reset = DayReset("America/New_York", 2, 30)
    t = utc("2026-03-06T00:00:00Z")
    seen = []
    for _ in range(4):
        t = next_reset(reset, t)
        seen.append(format_time(t))
    assert seen == [
        "2026-03-06T07:30:00Z",
        "2026-03-07T07:30:00Z",
        "2026-03-08T07:00:00Z",  # the gap night: 03:00 EDT
        "2026-03-09T06:30:00Z",
    ]


def test_days_follow_a_reset_inside_the_berlin_gap():
    result = run(
        events=[end("03-30 12:00")],
        start="2026-03-27T12:00:00Z",
        timezone="Europe/Berlin",
        reset="02:30",
    )
    assert [d["start"] for d in result["days"]] == [
        "2026-03-27T12:00:00Z",
        "2026-03-28T01:30:00Z",
        "2026-03-29T01:00:00Z",
        "2026-03-30T00:30:00Z",
    ]


def test_days_follow_the_first_of_a_repeated_new_york_hour():
    result = run(
        events=[end("11-02 12:00")],
        start="2026-10-31T00:00:00Z",
        timezone="America/New_York",
        reset="01:30",
    )
    assert [d["start"] for d in result["days"]] == [
        "2026-10-31T00:00:00Z",
        "2026-10-31T05:30:00Z",
        "2026-11-01T05:30:00Z",  # 01:30 EDT, not the second 01:30 (EST, 06:30Z)
        "2026-11-02T06:30:00Z",
    ]


def test_a_reset_at_the_account_start_is_not_a_new_day():
    result = run(events=[fill("01-05 09:00", "buy", "1", "100"), end("01-05 10:00")])
    assert [d["start"] for d in result["days"]] == [at("01-05 00:00")]


def test_daily_floor_changes_at_the_local_reset_not_the_utc_one():
    # Reset 00:00 Berlin = 22:00Z in summer: a loss taken at 22:30Z belongs to the new day.
    rules = {"daily_loss": {"anchor": "day_start_balance", "amount": {"fixed": "100"}}}
    result = run(
        rules,
        [
            fill("06-01 10:00", "buy", "1", "1000"),
            fill("06-01 21:00", "sell", "1", "1200"),  # +200 on Monday (Berlin)
            fill("06-01 22:10", "buy", "1", "1000"),
            mark("06-01 22:30", "880"),  # Tuesday: equity 10080 < 10200 - 100
        ],
        start="2026-06-01T06:00:00Z",
        timezone="Europe/Berlin",
    )
    assert (result["status"], result["reason"]) == ("failed", "daily_loss")
    assert result["decided_at"] == "2026-06-01T22:30:00Z"
    assert result["daily_floor"] == "10100.00"


def test_times_print_in_utc_with_fractions_only_when_present():
    assert format_time(utc("2026-01-05T01:00:00+01:00")) == "2026-01-05T00:00:00Z"
    assert format_time(utc("2026-01-05T00:00:00.250Z")) == "2026-01-05T00:00:00.25Z"
