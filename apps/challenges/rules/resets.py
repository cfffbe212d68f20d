"""When trading days begin: day-reset instants in the firm's time zone, and time formatting.

A reset happens at the same wall-clock time every local day. Where daylight saving makes
that wall time not exist (clocks jump forward) the reset is at the first instant after
the gap, i.e. the transition itself; where it exists twice it is at the first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from .model import DayReset

_ONE_DAY = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)


def reset_on(day_reset: DayReset, local_day: date) -> datetime:
    """The UTC instant of the reset on one local calendar day."""
    tz = day_reset.tz
    # fold=0 is the first of two occurrences; in a gap it maps past the transition.
    first = datetime(
        local_day.year,
        local_day.month,
        local_day.day,
        day_reset.hour,
        day_reset.minute,
        tzinfo=tz,
    )
    wall = first.replace(tzinfo=None)
    late = first.astimezone(UTC)
    if late.astimezone(tz).replace(tzinfo=None) == wall:
        return late
    # In a gap: fold=1 maps before the transition. Every instant before the transition
    # shows a wall time before `wall`, every instant from it on a wall time after it,
    # so the transition is the first instant whose wall time passes `wall`.
    early = first.replace(fold=1).astimezone(UTC)
    low, high = min(early, late), max(early, late)
    while high - low > _ONE_SECOND:
        middle = low + (high - low) // 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(tz).replace(tzinfo=None) > wall:
            high = middle
        else:
            low = middle
    return high


def next_reset(day_reset: DayReset, after: datetime) -> datetime:
    """The first reset strictly after `after`."""
    local_day = after.astimezone(day_reset.tz).date() - _ONE_DAY
    while True:
        instant = reset_on(day_reset, local_day)
        if instant > after:
            return instant
        local_day += _ONE_DAY


def format_time(t: datetime) -> str:
    """UTC as `YYYY-MM-DDTHH:MM:SSZ`, with fractional seconds only when not zero."""
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_stored_time(text: str) -> datetime:
    """A time written by `format_time` or `datetime.isoformat()` (checkpoints)."""
    return datetime.fromisoformat(text).astimezone(UTC)
