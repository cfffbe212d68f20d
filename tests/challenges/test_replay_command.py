"""`manage.py replay_scenario` run as a real process, as risk managers and CI run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT.parent / "shared" / "scenarios"


@pytest.fixture(autouse=True)
def _fresh_redis():
    """The command reads a file and needs no Redis: the project-wide flush is skipped."""
    yield


def shared(name: str) -> Path:
    path = SCENARIOS / name
    if not path.exists():
        pytest.skip(
            f"{path} is absent: ../shared is only beside the project on the team's machines"
        )
    return path


def replay_scenario(arg: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "manage.py", "replay_scenario", arg],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_a_scenario_file_prints_its_result():
    path = shared("a-static-max-loss-floating-breach.json")
    done = replay_scenario(str(path))
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert (result["status"], result["reason"]) == ("failed", "max_loss")
    assert result["decided_at"] == "2026-04-08T11:00:00Z"
    assert done.stdout.decode() == json.dumps(result, indent=2) + "\n"


def test_a_scenario_on_stdin_prints_its_result():
    path = shared("g-fees-and-funding-miss-target.json")
    done = replay_scenario("-", stdin=path.read_bytes())
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["balance"] == "10476.35"


@pytest.mark.parametrize("via_stdin", [False, True], ids=["path", "stdin"])
def test_an_invalid_scenario_exits_2_with_one_line_naming_the_field(via_stdin: bool):
    path = shared("invalid/float-price.json")
    done = (
        replay_scenario("-", stdin=path.read_bytes()) if via_stdin else replay_scenario(str(path))
    )
    assert done.returncode == 2
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("events[2].price: ")


def test_a_missing_file_exits_2_naming_the_path(tmp_path: Path):
    missing = tmp_path / "no-such-scenario.json"
    done = replay_scenario(str(missing))
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr.decode().splitlines() == [f"{missing}: no such file"]


def test_text_that_is_not_json_exits_2():
    done = replay_scenario("-", stdin=b"{not json\n")
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr.decode().count("\n") == 1
