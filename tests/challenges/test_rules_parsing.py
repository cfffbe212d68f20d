"""Scenario validation: every refusal is one line that starts with the field's path."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from apps.challenges.rules import ScenarioError, parse_scenario, rules_from_json
from tests.challenges.test_rules_support import (  # noqa: F401
    _fresh_redis,
    document,
    end,
    fill,
    mark,
)

RULES = {
    "profit_target": {"amount": {"pct_of_initial": "10"}, "basis": "balance"},
    "daily_loss": {"anchor": "day_start_balance", "amount": {"pct_of_initial": "5"}},
    "max_loss": {"anchor": "initial", "amount": {"pct_of_initial": "10"}, "lock_at": None},
    "min_trading_days": {"count": 4, "qualifying": {"kind": "any_trade"}},
    "max_duration_days": 30,
    "consistency": {"max_best_day_share_pct": "50", "of": "net_profit"},
}
EVENTS = [
    fill("01-05 09:00", "buy", "1", "100"),
    mark("01-05 10:00", "101"),
    {"t": "2026-01-05T11:00:00Z", "type": "funding", "symbol": "X", "amount": "-1"},
    {"t": "2026-01-05T12:00:00Z", "type": "adjustment", "amount": "5", "rebase": "none"},
    end("01-05 13:00"),
]


def valid() -> dict[str, Any]:
    return document(copy.deepcopy(RULES), copy.deepcopy(EVENTS))


def refusal(doc: Any) -> str:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text)
    line = str(caught.value)
    assert "\n" not in line
    return line


def path_of(doc: Any) -> str:
    return refusal(doc).split(": ", 1)[0]


def test_the_full_rule_set_of_the_spec_is_accepted():
    scenario = parse_scenario(json.dumps(valid()))
    assert len(scenario.events) == 5
    assert scenario.rules.max_loss is not None and scenario.rules.max_loss.lock_at is None


def test_every_rule_may_be_null_or_absent():
    doc = valid()
    for key in RULES:
        doc["rules"][key] = None
    parse_scenario(json.dumps(doc))
    doc["rules"] = {"day_reset": {"timezone": "UTC", "time": "00:00"}, "breach_when": "below"}
    assert parse_scenario(json.dumps(doc)).rules.has_objectives is False


def edit(path: str, value: Any, *, delete: bool = False) -> dict[str, Any]:
    """The valid document with one field (dotted path, [i] for lists) set or removed."""
    doc = valid()
    parts = path.replace("[", ".").replace("]", "").split(".")
    node: Any = doc
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
    if delete:
        del node[last]
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("events[1].price", 101.5, "events[1].price"),
        ("events[1].price", 101, "events[1].price"),
        ("events[1].price", "1e5", "events[1].price"),
        ("events[1].price", "+5", "events[1].price"),
        ("events[1].price", ".5", "events[1].price"),
        ("events[1].price", "5.", "events[1].price"),
        ("events[1].price", " 5", "events[1].price"),
        ("events[1].price", "NaN", "events[1].price"),
        ("events[1].price", "0", "events[1].price"),
        ("events[0].qty", "0", "events[0].qty"),
        ("events[0].fee", "-1", "events[0].fee"),
        ("events[0].side", "hold", "events[0].side"),
        ("events[0].type", "trade", "events[0].type"),
        ("events[3].rebase", "all", "events[3].rebase"),
        ("events[2].symbol", "", "events[2].symbol"),
        ("events[1].t", "2026-01-05T10:00:00", "events[1].t"),
        ("events[1].t", "2026-01-05 10:00:00Z", "events[1].t"),
        ("events[1].t", "2026-02-30T10:00:00Z", "events[1].t"),
        ("events[1].t", 1767607200, "events[1].t"),
        ("account.start", "2026-01-05T00:00:00", "account.start"),
        ("account.starting_balance", "0", "account.starting_balance"),
        ("account.starting_balance", 10000, "account.starting_balance"),
        ("rules.breach_when", "under", "rules.breach_when"),
        ("rules.day_reset.time", "25:00", "rules.day_reset.time"),
        ("rules.day_reset.time", "24:00", "rules.day_reset.time"),
        ("rules.day_reset.time", "7:00", "rules.day_reset.time"),
        ("rules.day_reset.timezone", "Mars/Olympus_Mons", "rules.day_reset.timezone"),
        ("rules.day_reset.timezone", "../../etc/passwd", "rules.day_reset.timezone"),
        ("rules.profit_target.basis", "cash", "rules.profit_target.basis"),
        ("rules.profit_target.amount", {"pct_of_anchor": "5"}, "rules.profit_target.amount"),
        ("rules.profit_target.amount", {}, "rules.profit_target.amount"),
        (
            "rules.profit_target.amount",
            {"fixed": "5", "pct_of_initial": "5"},
            "rules.profit_target.amount",
        ),
        ("rules.daily_loss.anchor", "yesterday", "rules.daily_loss.anchor"),
        ("rules.daily_loss.amount", {"pct_of_initial": "-5"}, "rules.daily_loss.amount"),
        ("rules.max_loss.anchor", "day_start_balance", "rules.max_loss.anchor"),
        ("rules.max_loss.anchor", "intraday_peak_equity", "rules.max_loss.anchor"),
        ("rules.max_loss.lock_at", {"pct_of_anchor": "100"}, "rules.max_loss.lock_at"),
        ("rules.min_trading_days.count", -1, "rules.min_trading_days.count"),
        ("rules.min_trading_days.count", "4", "rules.min_trading_days.count"),
        ("rules.min_trading_days.count", 4.0, "rules.min_trading_days.count"),
        ("rules.min_trading_days.count", True, "rules.min_trading_days.count"),
        (
            "rules.min_trading_days.qualifying",
            {"kind": "profitable_day"},
            "rules.min_trading_days.qualifying.min_pct_of_initial",
        ),
        (
            "rules.min_trading_days.qualifying",
            {"kind": "any_trade", "min_pct_of_initial": "1"},
            "rules.min_trading_days.qualifying.min_pct_of_initial",
        ),
        ("rules.max_duration_days", 0, "rules.max_duration_days"),
        ("rules.max_duration_days", "30", "rules.max_duration_days"),
        ("rules.max_duration_days", 10**12, "rules.max_duration_days"),
        ("rules.max_duration_days", 3_000_000, "rules.max_duration_days"),
        ("rules.consistency.of", "gross", "rules.consistency.of"),
        (
            "rules.consistency.max_best_day_share_pct",
            50,
            "rules.consistency.max_best_day_share_pct",
        ),
        ("events", {}, "events"),
        ("events[0]", [], "events[0]"),
        ("name", 7, "name"),
    ],
)
def test_a_bad_field_is_named(field: str, value: Any, expected: str):
    assert path_of(edit(field, value)).startswith(expected)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("account", "account"),
        ("rules.breach_when", "rules.breach_when"),
        ("rules.day_reset", "rules.day_reset"),
        ("events[0].t", "events[0].t"),
        ("events[1].price", "events[1].price"),
        ("events[3].rebase", "events[3].rebase"),
    ],
)
def test_a_missing_required_field_is_named(field: str, expected: str):
    assert path_of(edit(field, None, delete=True)) == expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("lok_at", "rules.max_loss.lok_at"),
        ("events[0].size", "events[0].size"),
        ("account.currnecy", "account.currnecy"),
        ("rules.day_reset.tz", "rules.day_reset.tz"),
        ("extra", "extra"),
    ],
)
def test_an_unknown_key_is_named(field: str, expected: str):
    doc = valid()
    if field == "lok_at":
        doc["rules"]["max_loss"]["lok_at"] = None
    else:
        doc = edit(field, "1")
    assert path_of(doc) == expected


def test_a_funding_event_keeps_to_its_own_keys():
    assert path_of(edit("events[2].rebase", "none")) == "events[2].rebase"


def test_duplicate_keys_are_refused_outside_expect_only():
    text = json.dumps(valid())
    twice = text.replace('"breach_when": "below"', '"breach_when": "below", "breach_when": "below"')
    assert path_of(twice) == "rules.breach_when"
    event = text.replace('"price": "101"', '"price": "101", "price": "99"')
    assert path_of(event) == "events[1].price"
    expect = text[:-1] + ', "expect": {"status": "active", "status": "failed", "x": 1.5}}'
    parse_scenario(expect)


def test_events_out_of_order_or_before_the_start_are_refused():
    doc = valid()
    doc["events"][2]["t"] = "2026-01-05T09:30:00Z"
    assert refusal(doc).startswith("events[2].t: ")
    doc = valid()
    doc["events"][0]["t"] = "2026-01-04T23:59:59Z"
    assert path_of(doc) == "events[0].t"
    # An offset is read: 00:30+01:00 is 23:30Z the day before the start.
    doc = valid()
    doc["events"][0]["t"] = "2026-01-05T00:30:00+01:00"
    assert path_of(doc) == "events[0].t"


def test_events_at_the_same_instant_are_in_order():
    doc = valid()
    doc["events"][1]["t"] = doc["events"][0]["t"]
    parse_scenario(json.dumps(doc))


def test_end_must_be_the_last_event():
    doc = valid()
    doc["events"].insert(2, end("01-05 10:30"))
    assert path_of(doc) == "events[2].type"


def test_not_json_or_not_an_object_is_named_at_the_root():
    assert refusal("{").startswith("$: ")
    assert refusal("[]").startswith("$: ")
    assert refusal('{"account": 1}\n\n').startswith("account: ")


def test_offsets_are_converted_to_utc():
    doc = valid()
    doc["account"]["start"] = "2026-01-05T01:00:00+01:00"
    scenario = parse_scenario(json.dumps(doc))
    assert scenario.account.start.isoformat() == "2026-01-05T00:00:00+00:00"


def test_fee_defaults_to_zero():
    doc = valid()
    del doc["events"][0]["fee"]
    assert parse_scenario(json.dumps(doc)).events[0].fee == 0


def test_rules_can_be_read_on_their_own_for_a_live_rule_set():
    rules = rules_from_json(
        {"day_reset": {"timezone": "Europe/Prague", "time": "00:00"}, "breach_when": "below"}
    )
    assert rules.day_reset.tz.key == "Europe/Prague"
    with pytest.raises(ScenarioError, match=r"^rules\.breach_when: "):
        rules_from_json({"day_reset": {"timezone": "UTC", "time": "00:00"}})
