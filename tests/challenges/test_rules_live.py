"""The engine as the live risk engine drives it: steps to journal, sweeps, checkpoints."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.challenges.rules import CheckpointError, Engine, Mark, Step, replay
from tests.challenges.test_rules_support import (  # noqa: F401
    _fresh_redis,
    adjust,
    end,
    fill,
    fixed,
    funding,
    mark,
    pct,
    scenario,
)

TRAILING = {
    "profit_target": {"amount": fixed("5000")},
    "max_loss": {"anchor": "peak_equity", "amount": fixed("500")},
}


def feed(rules, events):
    s = scenario(rules, events)
    engine = Engine(s.rules, s.account)
    return engine, [engine.apply(e) for e in s.events]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_fills_funding_and_adjustments_are_always_journaled():
    _, steps = feed(
        None,
        [
            fill("01-05 09:00", "buy", "1", "100"),
            funding("01-05 10:00", "-1"),
            adjust("01-05 11:00", "0", "none"),
        ],
    )
    assert [s.journal for s in steps] == [True, True, True]


def test_a_mark_is_journaled_only_when_it_moves_a_used_anchor_or_decides():
    engine, steps = feed(
        TRAILING,
        [
            fill("01-05 09:00", "buy", "1", "1000"),
            mark("01-05 09:01", "1100"),  # new peak equity: the floor trails up
            mark("01-05 09:02", "1050"),  # nothing a rule reads moved
            mark("01-05 09:03", "7", symbol="Y"),  # no position in Y
            mark("01-05 09:04", "590"),  # equity 9590 < 10100 - 500: decides
            mark("01-05 09:05", "2000"),  # after the verdict: read, changes nothing
        ],
    )
    assert [s.journal for s in steps] == [True, True, False, False, True, False]
    assert steps[2] is steps[3] is steps[5]  # the shared quiet step
    assert steps[4].decided and engine.status == "failed"


def test_peaks_of_anchors_no_rule_uses_are_not_journaled():
    _, steps = feed(
        {"max_loss": {"anchor": "initial", "amount": fixed("500")}},
        [fill("01-05 09:00", "buy", "1", "1000"), mark("01-05 09:01", "1100")],
    )
    assert steps[1] == Step()


def test_the_mark_in_force_is_handed_over_with_the_next_journaled_step():
    _, steps = feed(
        TRAILING,
        [
            fill("01-05 09:00", "buy", "1", "1000"),
            mark("01-05 09:01", "990"),
            mark("01-05 09:02", "5", symbol="Y"),  # no position in Y: never needed
            mark("01-05 09:03", "980"),
            funding("01-05 09:04", "-1"),
        ],
    )
    assert [s.marks for s in steps[1:4]] == [(), (), ()]
    assert [(m.symbol, m.price) for m in steps[-1].marks] == [("X", Decimal("980"))]


def test_a_mark_on_another_open_position_hands_over_the_held_back_one():
    engine, steps = feed(
        TRAILING,
        [
            fill("01-05 09:00", "buy", "1", "1000", symbol="X"),
            fill("01-05 09:00", "buy", "1", "1000", symbol="Y"),
            mark("01-05 09:01", "960", symbol="X"),
            mark("01-05 09:02", "1030", symbol="Y"),
            mark("01-05 09:03", "940", symbol="X"),
        ],
    )
    assert [s.journal for s in steps[2:]] == [False, False, False]
    assert [[(m.symbol, m.price) for m in s.marks] for s in steps[2:]] == [
        [],
        [("X", Decimal("960"))],
        [("Y", Decimal("1030"))],
    ]
    assert [(m.symbol, m.price) for m in engine.flush_marks()] == [("X", Decimal("940"))]
    assert engine.flush_marks() == ()


def test_a_journal_of_steps_replays_to_the_live_result():
    # Had Y's 1030 been journaled without X's 960 before it, a replay would have seen
    # equity 10030 (X still at 1000): a peak this account never reached.
    s = scenario(
        TRAILING,
        [
            fill("01-05 09:00", "buy", "1", "1000", symbol="X"),
            fill("01-05 09:00", "buy", "1", "1000", symbol="Y"),
            mark("01-05 09:01", "960", symbol="X"),
            mark("01-05 09:02", "1030", symbol="Y"),
            mark("01-05 09:03", "940", symbol="X"),
            funding("01-05 09:04", "-1"),
            mark("01-05 23:00", "1100", symbol="Y"),
            mark("01-06 01:00", "1000", symbol="X"),
        ],
    )
    live = Engine(s.rules, s.account)
    journal: list = []
    for event in s.events:
        step = live.apply(event)
        journal += step.marks
        if step.journal:
            journal.append(event)
    journal += live.flush_marks()
    assert len(journal) < len(s.events) + 1
    assert replay(replace(s, events=tuple(journal))) == live.result()


def test_a_reset_is_a_moment_and_hands_over_the_marks_it_used():
    engine, steps = feed(
        TRAILING,
        [
            fill("01-05 09:00", "buy", "1", "1000"),
            mark("01-05 23:00", "990"),
            mark("01-06 01:00", "995"),
        ],
    )
    last = steps[-1]
    assert last.moments == (utc("2026-01-06T00:00:00Z"),)
    assert [m.price for m in last.marks] == [Decimal("990")]
    assert not last.journal and last.changed
    assert engine.days[-1].start_equity == Decimal("9990")


def test_advance_to_runs_resets_and_expiry_without_an_event():
    s = scenario({"profit_target": {"amount": fixed("100")}, "max_duration_days": 3})
    engine = Engine(s.rules, s.account)
    assert engine.next_moment() == utc("2026-01-06T00:00:00Z")
    step = engine.advance_to(utc("2026-01-07T00:00:00Z"))
    assert step.moments == (utc("2026-01-06T00:00:00Z"), utc("2026-01-07T00:00:00Z"))
    assert len(engine.days) == 3
    assert engine.advance_to(utc("2026-01-07T00:00:00Z")) == Step()  # nothing new
    step = engine.advance_to(utc("2026-01-09T00:00:00Z"))
    assert step.decided and engine.status == "expired"
    assert engine.decided_at == utc("2026-01-08T00:00:00Z")
    assert engine.next_moment() is None


def test_an_event_before_the_engines_time_is_refused():
    s = scenario(None, [fill("01-05 09:00", "buy", "1", "100")])
    engine = Engine(s.rules, s.account)
    engine.advance_to(utc("2026-01-05T10:00:00Z"))
    with pytest.raises(ValueError, match="before the engine's time"):
        engine.apply(s.events[0])


def test_live_figures():
    engine, _ = feed(
        {
            "daily_loss": {"anchor": "day_start_balance", "amount": pct("5")},
            "max_loss": {"anchor": "initial", "amount": pct("10")},
        },
        [fill("01-05 09:00", "buy", "2", "100"), mark("01-05 10:00", "90")],
    )
    assert (engine.balance, engine.equity, engine.unrealised) == (10000, 9980, -20)
    assert (engine.daily_floor, engine.max_loss_floor) == (9500, 9000)
    assert engine.positions == {"X": (Decimal("2"), Decimal("100"))}
    assert engine.marks == {"X": Decimal("90")}


def test_headroom_for_each_present_rule():
    engine, _ = feed(
        {
            "profit_target": {"amount": pct("10")},
            "daily_loss": {"anchor": "day_start_balance", "amount": pct("5")},
            "max_loss": {"anchor": "initial", "amount": pct("10")},
            "min_trading_days": {"count": 3, "qualifying": {"kind": "any_trade"}},
            "consistency": {"max_best_day_share_pct": "50"},
            "max_duration_days": 30,
        },
        [fill("01-05 09:00", "buy", "2", "100"), mark("01-05 10:00", "90")],
    )
    room = engine.headroom()
    assert room["daily_loss"] == {
        "value": "9980.00",
        "threshold": "9500.00",
        "headroom": "480.00",
        "headroom_pct": "4.80",
    }
    assert room["max_loss"]["headroom"] == "980.00"
    assert room["profit_target"] == {
        "value": "0.00",
        "threshold": "1000.00",
        "remaining": "1000.00",
        "met": False,
    }
    assert room["min_trading_days"] == {"value": 1, "threshold": 3, "remaining": 2, "met": False}
    assert room["consistency"] == {"value": None, "threshold": "50.00", "met": False}
    assert room["max_duration_days"]["expires_at"] == "2026-02-04T00:00:00Z"
    json.dumps(room)


def test_headroom_leaves_out_absent_rules():
    engine, _ = feed(None, [])
    assert engine.headroom() == {}


def test_checkpoint_round_trips_through_json_and_resumes_exactly():
    rules = {
        "daily_loss": {"anchor": "intraday_peak_equity", "amount": pct("3")},
        "max_loss": {"anchor": "peak_eod_equity", "amount": pct("6")},
        "min_trading_days": {
            "count": 3,
            "qualifying": {"kind": "profitable_day", "min_pct_of_initial": "0.1"},
        },
        "profit_target": {"amount": pct("2")},
        "consistency": {"max_best_day_share_pct": "60", "of": "positive_days"},
    }
    events = [
        fill("01-05 09:00", "buy", "3", "100"),
        fill("01-05 09:30", "buy", "3", "100.01"),  # averaged entry: many digits
        mark("01-05 10:00", "104"),
        fill("01-05 11:00", "sell", "2", "105"),
        mark("01-06 09:00", "101", symbol="Y"),
        funding("01-06 10:00", "-2.5"),
        adjust("01-06 11:00", "-10", "anchors"),
        fill("01-07 09:00", "sell", "4", "106"),
        fill("01-08 09:00", "buy", "1", "50", symbol="Y"),
        mark("01-08 10:00", "60", symbol="Y"),
        end("01-09 12:00"),
    ]
    s = scenario(rules, events)
    whole = replay(s)
    for cut in range(len(s.events) + 1):
        first = Engine(s.rules, s.account)
        for event in s.events[:cut]:
            first.apply(event)
        saved = json.loads(json.dumps(first.checkpoint()))
        resumed = Engine.restore(s.rules, s.account, saved)
        assert resumed.checkpoint() == first.checkpoint()
        for event in s.events[cut:]:
            resumed.apply(event)
        assert resumed.result() == whole, cut


def test_a_checkpoint_from_another_account_or_version_is_refused():
    s = scenario(None, [])
    engine = Engine(s.rules, s.account)
    state = engine.checkpoint()
    with pytest.raises(CheckpointError):
        Engine.restore(s.rules, s.account, {**state, "version": 99})
    other = scenario(None, [], start="2026-02-01T00:00:00Z")
    with pytest.raises(CheckpointError):
        Engine.restore(other.rules, other.account, state)


def test_the_same_instant_mark_replaces_a_pending_one():
    engine, steps = feed(TRAILING, [fill("01-05 09:00", "buy", "1", "1000")])
    engine.apply(Mark(utc("2026-01-05T09:01:00Z"), "X", Decimal("999")))
    step = engine.apply(Mark(utc("2026-01-05T09:01:00Z"), "X", Decimal("1200")))
    assert step.journal and step.marks == ()
