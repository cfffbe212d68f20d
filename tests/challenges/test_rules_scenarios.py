"""Every shared scenario replays to its `expect`, and every invalid one is refused naming
the field its README (or, failing that, its name) gives. Files dropped into those folders
are picked up on the next run."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest

from apps.challenges.rules import ScenarioError, parse_scenario, replay

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SCENARIOS = SHARED / "scenarios"
INVALID = SCENARIOS / "invalid"
TOLERANCE = Decimal("0.01")


@pytest.fixture(autouse=True)
def _fresh_redis():
    """These tests are pure: they need no Redis, so the project-wide flush is skipped."""
    yield


def _files(folder: Path) -> list[Any]:
    if not folder.is_dir():
        reason = f"{folder} is absent: ../shared is only beside the project on the team's machines"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]
    return [pytest.param(path, id=path.name) for path in sorted(folder.glob("*.json"))]


def _expected_paths() -> dict[str, str]:
    """file name -> field path, from the README table: | `file.json` | ... | `path: ...` |."""
    readme = INVALID / "README.md"
    if not readme.is_file():
        return {}
    found = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        name = cells[0].strip("`")
        expected = re.match(r"`([^`:]+):", cells[-1])
        if name.endswith(".json") and expected:
            found[name] = expected[1].strip()
    return found


def _path_from_name(doc: Any) -> str | None:
    """Fallback for a file the README does not list: its name reads `INVALID: <path> ...`."""
    name = doc.get("name", "") if isinstance(doc, dict) else ""
    match = re.match(r"INVALID:\s*(\S+)", name)
    return match[1].rstrip(":,") if match else None


def _mismatches(expected: Any, actual: Any, where: str) -> list[str]:
    """Only keys present in `expected` are compared; money within a cent."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing from the result")
            else:
                problems += _mismatches(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            count = len(actual) if isinstance(actual, list) else actual
            return [f"{where}: expected {len(expected)} entries, got {count}"]
        problems = []
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            problems += _mismatches(want, got, f"{where}[{i}]")
        return problems
    if _is_number(expected) and _is_number(actual):
        if abs(Decimal(expected) - Decimal(actual)) > TOLERANCE:
            return [f"{where}: expected {expected}, got {actual}"]
        return []
    if expected != actual or type(expected) is not type(actual):
        return [f"{where}: expected {expected!r}, got {actual!r}"]
    return []


def _is_number(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return Decimal(value).is_finite()
    except InvalidOperation:
        return False


@pytest.mark.parametrize("path", _files(SCENARIOS))
def test_scenario_replays_to_its_expected_result(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    expect = json.loads(text).get("expect")
    if expect is None:
        pytest.skip(f"{path.name} has no expect block")
    result = replay(parse_scenario(text))
    assert _mismatches(expect, result, "result") == []


@pytest.mark.parametrize("path", _files(INVALID))
def test_invalid_scenario_is_refused_naming_its_field(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text)
    line = str(caught.value)
    assert "\n" not in line
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    expected = _expected_paths().get(path.name) or _path_from_name(doc)
    if expected is not None:
        assert line.split(": ", 1)[0] == expected, line
