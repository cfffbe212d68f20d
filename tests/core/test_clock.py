import json
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from apps.core import clock
from tests.conftest import ROOT


def test_clock_is_aware_utc_and_follows_the_machine_by_default():
    before = datetime.now(UTC)
    now = clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(UTC)


def test_freeze_and_advance():
    at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    clock.freeze(at)
    assert clock.now() == at
    clock.advance(timedelta(days=3))
    assert clock.now() == at + timedelta(days=3)
    clock.reset()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_travel_keeps_time_flowing_from_the_new_instant():
    target = datetime(2030, 1, 1, tzinfo=UTC)
    clock.travel(target)
    first = clock.now()
    assert timedelta(0) <= first - target < timedelta(seconds=5)


def test_naive_time_is_refused():
    with pytest.raises(clock.ClockError, match="time zone"):
        clock.freeze(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_moving_the_clock_moves_it_in_another_process():
    clock.freeze(datetime(2027, 6, 1, 12, 0, tzinfo=UTC))
    out = subprocess.run(
        [sys.executable, "manage.py", "clock", "show"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("2027-06-01T12:00:00+00:00")


@pytest.mark.django_db(transaction=True)
def test_moving_the_clock_moves_it_for_the_web_server(live_server_url):
    clock.travel(datetime(2031, 5, 4, 3, 2, tzinfo=UTC))
    with urllib.request.urlopen(f"{live_server_url}/healthz") as response:
        served = datetime.fromisoformat(json.load(response)["time"])
    assert datetime(2031, 5, 4, 3, 2, tzinfo=UTC) <= served < datetime(2031, 5, 4, 3, 3, tzinfo=UTC)


def test_clock_command_refuses_a_bad_amount():
    result = subprocess.run(
        [sys.executable, "manage.py", "clock", "advance", "soon"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "90s, 15m, 6h or 3d" in result.stderr
