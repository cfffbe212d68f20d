"""The challenge rules engine: pure evaluation of an account against a rule set.

No Django here (a checker enforces it): plain dataclasses, `Decimal` and aware UTC
`datetime`, so the live risk engine, Celery sweeps and `manage.py replay_scenario` share
one implementation of ../shared/spec/scenario-format.md.

    scenario = parse_scenario(text)          # or ScenarioError("events[3].price: ...")
    result = replay(scenario)                # the contract's result dict

    engine = Engine(rules, account)          # live: one event at a time
    step = engine.apply(event)               # step.journal / step.moments / step.marks
    engine.advance_to(now)                   # resets and expiry with no event
    state = engine.checkpoint()              # JSON-ready; Engine.restore(rules, account, state)
"""

from __future__ import annotations

from .checkpoint import CheckpointError
from .days import Day
from .engine import Engine, replay
from .model import (
    Account,
    Adjustment,
    Amount,
    Consistency,
    DayReset,
    End,
    Event,
    Fill,
    Funding,
    LossRule,
    Mark,
    MinTradingDays,
    ProfitTarget,
    Rules,
    Scenario,
)
from .resets import format_time, next_reset, reset_on
from .result import headroom, money
from .scenario import (
    ScenarioError,
    account_from_json,
    event_from_json,
    load_json,
    parse_scenario,
    rules_from_json,
    scenario_from_json,
)
from .state import ACTIVE, EXPIRED, FAILED, PASSED, Step

__all__ = [
    "ACTIVE",
    "EXPIRED",
    "FAILED",
    "PASSED",
    "Account",
    "Adjustment",
    "Amount",
    "CheckpointError",
    "Consistency",
    "Day",
    "DayReset",
    "End",
    "Engine",
    "Event",
    "Fill",
    "Funding",
    "LossRule",
    "Mark",
    "MinTradingDays",
    "ProfitTarget",
    "Rules",
    "Scenario",
    "ScenarioError",
    "Step",
    "account_from_json",
    "event_from_json",
    "format_time",
    "headroom",
    "load_json",
    "money",
    "next_reset",
    "parse_scenario",
    "replay",
    "reset_on",
    "rules_from_json",
    "scenario_from_json",
]
