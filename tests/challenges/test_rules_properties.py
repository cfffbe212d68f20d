"""Properties of the rules engine over generated histories and rule sets (hypothesis)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.challenges.rules import (
    Account,
    Adjustment,
    Amount,
    Consistency,
    DayReset,
    End,
    Engine,
    Fill,
    Funding,
    LossRule,
    Mark,
    MinTradingDays,
    ProfitTarget,
    Rules,
    Scenario,
    replay,
)
from apps.challenges.rules.model import ANCHORS, MAX_LOSS_ANCHORS
from tests.challenges.test_rules_support import _fresh_redis  # noqa: F401

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Early March: New York's clocks jump on the 8th, so resets cross a gap.
START = datetime(2026, 3, 5, 0, 0, tzinfo=UTC)
BALANCE = Decimal(10000)
SYMBOLS = ("BTC", "ETH")
QUARTER_HOUR = timedelta(minutes=15)
TINY = Fraction(1, 10**20)

prices = st.integers(500, 1500).map(lambda n: Decimal(n) / 10)
quantities = st.integers(1, 200).map(lambda n: Decimal(n) / 10)
cents = st.integers(-5000, 5000).map(lambda n: Decimal(n) / 100)


def amounts(kinds: tuple[str, ...] = ("fixed", "pct_of_initial", "pct_of_anchor")):
    return st.one_of(
        *(
            st.builds(
                Amount, st.just(kind), st.integers(0, 3000 if kind == "fixed" else 30).map(Decimal)
            )
            for kind in kinds
        )
    )


def optional(strategy):
    return st.none() | strategy


rule_sets = st.builds(
    Rules,
    day_reset=st.builds(
        DayReset,
        st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
        st.sampled_from([0, 2, 17]),
        st.sampled_from([0, 30]),
    ),
    breach_when=st.sampled_from(["below", "at_or_below"]),
    profit_target=optional(
        st.builds(
            ProfitTarget,
            amounts(("fixed", "pct_of_initial")),
            st.sampled_from(["balance", "equity"]),
        )
    ),
    daily_loss=optional(st.builds(LossRule, st.sampled_from(ANCHORS), amounts())),
    max_loss=optional(
        st.builds(
            LossRule,
            st.sampled_from(MAX_LOSS_ANCHORS),
            amounts(),
            optional(amounts(("fixed", "pct_of_initial"))),
        )
    ),
    min_trading_days=optional(
        st.builds(MinTradingDays, st.integers(0, 4), st.just("any_trade"))
        | st.builds(
            MinTradingDays,
            st.integers(0, 4),
            st.just("profitable_day"),
            st.integers(0, 100).map(lambda n: Decimal(n) / 100),
        )
    ),
    max_duration_days=optional(st.integers(1, 20)),
    consistency=optional(
        st.builds(
            Consistency,
            st.integers(10, 100).map(Decimal),
            st.sampled_from(["net_profit", "positive_days"]),
        )
    ),
)

steps = st.one_of(
    st.tuples(st.just("mark"), st.sampled_from(SYMBOLS), prices),
    st.tuples(st.just("mark"), st.sampled_from(SYMBOLS), prices),
    st.tuples(
        st.just("fill"),
        st.sampled_from(SYMBOLS),
        st.sampled_from(["buy", "sell"]),
        quantities,
        prices,
        st.integers(0, 300).map(lambda n: Decimal(n) / 100),
    ),
    st.tuples(st.just("funding"), st.sampled_from(SYMBOLS), cents),
    st.tuples(st.just("adjustment"), cents, st.sampled_from(["none", "anchors", "resize"])),
)


@st.composite
def histories(draw, ending: bool = True):
    """Events 0 to 24 h apart on quarter hours, so many land exactly on a reset."""
    t = START
    events = []
    for step in draw(st.lists(steps, min_size=10, max_size=60)):
        t += QUARTER_HOUR * draw(st.integers(0, 96))
        kind, *args = step
        if kind == "mark":
            events.append(Mark(t, args[0], args[1]))
        elif kind == "fill":
            events.append(Fill(t, *args))
        elif kind == "funding":
            events.append(Funding(t, *args))
        else:
            events.append(Adjustment(t, *args))
    if ending and draw(st.booleans()):
        events.append(End(t + QUARTER_HOUR * draw(st.integers(0, 200))))
    return tuple(events)


locks = amounts(("fixed", "pct_of_initial"))
trailing_max_loss = st.builds(
    LossRule, st.sampled_from(MAX_LOSS_ANCHORS[1:]), amounts(), optional(locks)
)
locked_max_loss = st.builds(LossRule, st.sampled_from(MAX_LOSS_ANCHORS), amounts(), locks)
intraday_daily_loss = st.builds(LossRule, st.just("intraday_peak_equity"), amounts())


def scenarios_with(**rules) -> st.SearchStrategy[Scenario]:
    """Scenarios whose rule set has the given rules (strategies) in place of random ones."""
    chosen = st.builds(replace, rule_sets, **rules) if rules else rule_sets
    return st.builds(Scenario, st.just(Account("USD", BALANCE, START)), chosen, histories())


scenarios = scenarios_with()


def frozen(engine: Engine) -> tuple:
    return (engine.status, engine.reason, engine.decided_at)


def lock_level(engine: Engine) -> Decimal:
    rule = engine.rules.max_loss
    assert rule is not None and rule.lock_at is not None
    return rule.lock_at.money(engine.initial)


@PROPERTY
@given(scenarios_with(max_loss=trailing_max_loss))
def test_trailing_floors_never_fall_except_by_a_rebasing_adjustment(scenario: Scenario):
    engine = Engine(scenario.rules, scenario.account)
    before = engine.max_loss_floor
    for event in scenario.events:
        engine.apply(event)
        after = engine.max_loss_floor
        rebased = isinstance(event, Adjustment) and event.rebase != "none"
        if not rebased:
            assert after >= before, event
        before = after


@PROPERTY
@given(scenarios_with(daily_loss=intraday_daily_loss))
def test_intraday_peak_floor_never_falls_within_a_day(scenario: Scenario):
    engine = Engine(scenario.rules, scenario.account)
    before, day = engine.daily_floor, len(engine.days)
    for event in scenario.events:
        engine.apply(event)
        rebased = isinstance(event, Adjustment) and event.rebase != "none"
        if len(engine.days) == day and not rebased:
            assert engine.daily_floor >= before
        before, day = engine.daily_floor, len(engine.days)


@PROPERTY
@given(scenarios_with(max_loss=locked_max_loss))
def test_a_lock_is_never_exceeded(scenario: Scenario):
    engine = Engine(scenario.rules, scenario.account)
    for event in scenario.events:
        engine.apply(event)
        assert engine.max_loss_floor <= lock_level(engine)


@PROPERTY
@given(scenarios, st.data())
def test_one_call_event_by_event_sweeps_and_checkpoints_agree(scenario: Scenario, data):
    whole = replay(scenario)

    stepwise = Engine(scenario.rules, scenario.account)
    for event in scenario.events:
        stepwise.apply(event)
    assert stepwise.result() == whole

    # Sweeps between events (as Celery runs them for quiet accounts) change nothing.
    swept = Engine(scenario.rules, scenario.account)
    for event in scenario.events:
        if data.draw(st.booleans()):
            swept.advance_to(
                swept.t + (event.t - swept.t) * data.draw(st.sampled_from([0, 0.5, 1]))
            )
        swept.apply(event)
    assert swept.result() == whole

    cut = data.draw(st.integers(0, len(scenario.events)))
    first = Engine(scenario.rules, scenario.account)
    for event in scenario.events[:cut]:
        first.apply(event)
    saved = json.loads(json.dumps(first.checkpoint()))
    resumed = Engine.restore(scenario.rules, scenario.account, saved)
    for event in scenario.events[cut:]:
        resumed.apply(event)
    assert resumed.result() == whole


@PROPERTY
@given(scenarios)
def test_the_journal_of_steps_replays_to_the_live_result(scenario: Scenario):
    """What a live caller journals (marks handed over, journaled events) is enough."""
    live = Engine(scenario.rules, scenario.account)
    journal: list = []
    for event in scenario.events:
        step = live.apply(event)
        journal += step.marks
        if isinstance(event, End):
            journal += live.flush_marks()
        if step.journal or isinstance(event, End):
            journal.append(event)
    if not journal or not isinstance(journal[-1], End):
        journal += live.flush_marks()
        journal.append(End(live.t))  # the live engine's time: resets up to it are in
    assert replay(replace(scenario, events=tuple(journal))) == live.result()


@PROPERTY
@given(scenarios)
def test_a_verdict_never_changes_once_decided(scenario: Scenario):
    engine = Engine(scenario.rules, scenario.account)
    decided = None
    for event in scenario.events:
        engine.apply(event)
        if decided is not None:
            assert (frozen(engine), engine.result()) == decided
        elif engine.status != "active":
            decided = (frozen(engine), engine.result())
            assert engine.decided_at is not None and engine.decided_at <= event.t


@PROPERTY
@given(histories(ending=False))
def test_balance_is_start_plus_realised_minus_fees_plus_funding_and_adjustments(events):
    rules = Rules(day_reset=DayReset("UTC", 0, 0))  # no loss rule: nothing stops the count
    engine = Engine(rules, Account("USD", BALANCE, START))
    realised, fees, funding, adjustments = reference_ledger(events)
    for event in events:
        engine.apply(event)
    # Exact but for an averaged entry price, which the engine keeps to 40 digits.
    ledger = Fraction(BALANCE) + realised - Fraction(fees) + Fraction(funding + adjustments)
    assert abs(Fraction(engine.balance) - ledger) < TINY
    own = [Fraction(x) for x in (engine.realised, engine.fees, engine.funding, engine.adjustments)]
    assert (
        abs(Fraction(engine.balance) - Fraction(BALANCE) - own[0] + own[1] - own[2] - own[3]) < TINY
    )
    assert abs(Fraction(engine.realised) - realised) < TINY
    assert (engine.fees, engine.funding, engine.adjustments) == (fees, funding, adjustments)
    day_pnls = sum(Fraction(engine.day_pnl if d.pnl is None else d.pnl) for d in engine.days)
    assert abs(day_pnls - (realised - Fraction(fees) + Fraction(funding))) < TINY


def reference_ledger(events) -> tuple[Fraction, Decimal, Decimal, Decimal]:
    """Average-cost netting in exact fractions: the contract's words, written plainly."""
    held: dict[str, tuple[Fraction, Fraction]] = {}
    realised = Fraction(0)
    fees = funding = adjustments = Decimal(0)
    for event in events:
        if isinstance(event, Fill):
            qty = Fraction(event.qty) * (1 if event.side == "buy" else -1)
            price = Fraction(event.price)
            position, entry = held.get(event.symbol, (Fraction(0), Fraction(0)))
            if position == 0 or (position > 0) == (qty > 0):
                entry = (position * entry + qty * price) / (position + qty)
            else:
                closed = min(abs(qty), abs(position))
                realised += closed * (price - entry) * (1 if position > 0 else -1)
                if abs(qty) > abs(position):
                    entry = price
            held[event.symbol] = (position + qty, entry)
            fees += event.fee
        elif isinstance(event, Funding):
            funding += event.amount
        elif isinstance(event, Adjustment):
            adjustments += event.amount
    return realised, fees, funding, adjustments
