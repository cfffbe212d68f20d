"""The rules engine's tricky parts, each on a small hand-checked history."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.challenges.rules import Engine
from tests.challenges.test_rules_support import (  # noqa: F401
    _fresh_redis,
    adjust,
    at,
    end,
    engine_after,
    fill,
    fixed,
    funding,
    mark,
    pct,
    run,
    scenario,
)

# A $10,000 account over two UTC days. Equity: 10000 -> 10100 (peak) -> 10020 (closed
# +20) -> 10010 at Monday's close, balance 10020. Tuesday: 10080 (intraday peak), closed
# +30 -> balance 10050, then floating 10030.
TWO_DAYS = [
    fill("01-05 09:00", "buy", "1", "100"),
    mark("01-05 10:00", "200"),
    fill("01-05 11:00", "sell", "1", "120"),
    fill("01-05 12:00", "buy", "1", "100"),
    mark("01-05 13:00", "90"),
    mark("01-06 01:00", "160"),
    fill("01-06 02:00", "sell", "1", "130"),
    fill("01-06 03:00", "buy", "1", "130"),
    mark("01-06 04:00", "110"),
]
ANCHOR_VALUES = {
    "initial": "10000",
    "day_start_balance": "10020",
    "day_start_equity": "10010",
    "day_start_max": "10020",
    "intraday_peak_equity": "10080",
    "peak_eod_balance": "10020",
    "peak_eod_equity": "10010",
    "peak_balance": "10050",
    "peak_equity": "10100",
}


def test_two_day_history_figures():
    engine = engine_after(None, TWO_DAYS)
    assert engine.balance == Decimal("10050")
    assert engine.equity == Decimal("10030")
    assert {k: str(v) for k, v in engine.anchors().items()} == ANCHOR_VALUES


@pytest.mark.parametrize("anchor", list(ANCHOR_VALUES))
def test_daily_loss_floor_for_each_anchor(anchor: str):
    result = run({"daily_loss": {"anchor": anchor, "amount": fixed("1000")}}, TWO_DAYS)
    assert result["daily_floor"] == f"{Decimal(ANCHOR_VALUES[anchor]) - 1000}.00"


@pytest.mark.parametrize(
    "anchor", ["initial", "peak_eod_balance", "peak_eod_equity", "peak_balance", "peak_equity"]
)
def test_max_loss_floor_for_each_allowed_anchor(anchor: str):
    result = run({"max_loss": {"anchor": anchor, "amount": pct("10")}}, TWO_DAYS)
    assert result["max_loss_floor"] == f"{Decimal(ANCHOR_VALUES[anchor]) - 1000}.00"


def test_pct_of_anchor_takes_the_share_of_the_anchor():
    result = run(
        {"max_loss": {"anchor": "peak_equity", "amount": {"pct_of_anchor": "5"}}}, TWO_DAYS
    )
    assert result["max_loss_floor"] == "9595.00"  # 10100 x 0.95


def test_day_start_max_takes_the_larger_of_balance_and_equity():
    # Monday closes with a floating profit: day-start equity 10030 > balance 10020.
    events = [*TWO_DAYS[:4], mark("01-05 13:00", "110"), mark("01-06 01:00", "111")]
    result = run({"daily_loss": {"anchor": "day_start_max", "amount": fixed("100")}}, events)
    assert result["daily_floor"] == "9930.00"


def test_intraday_peak_restarts_from_the_equity_at_the_reset():
    engine = engine_after(
        {"daily_loss": {"anchor": "intraday_peak_equity", "amount": fixed("1000")}},
        [*TWO_DAYS[:5], end("01-06 00:00")],
    )
    assert engine.daily_floor == Decimal("9010")  # Monday's peak 10100 forgotten: 10010


def test_lock_caps_a_trailing_floor():
    rules = {
        "max_loss": {"anchor": "peak_equity", "amount": fixed("50"), "lock_at": fixed("10010")}
    }
    early = engine_after(rules, TWO_DAYS[:1])
    assert early.max_loss_floor == Decimal("9950")  # below the lock: trails
    late = engine_after(rules, TWO_DAYS[:2])
    assert late.max_loss_floor == Decimal("10010")  # 10100 - 50 capped at the lock


def test_lock_in_percent_of_initial_is_measured_from_zero():
    rules = {"max_loss": {"anchor": "peak_equity", "amount": fixed("50"), "lock_at": pct("100")}}
    assert engine_after(rules, TWO_DAYS[:2]).max_loss_floor == Decimal("10000")


@pytest.mark.parametrize(
    ("breach_when", "status"), [("below", "active"), ("at_or_below", "failed")]
)
def test_breach_when_at_exact_equality(breach_when: str, status: str):
    events = [fill("01-05 09:00", "buy", "1", "1000"), mark("01-05 10:00", "900")]
    result = run(
        {"max_loss": {"anchor": "initial", "amount": fixed("100")}}, events, breach_when=breach_when
    )
    assert result["equity"] == result["max_loss_floor"] == "9900.00"
    assert result["status"] == status


def test_max_loss_is_named_before_daily_loss_when_both_breach():
    rules = {
        "daily_loss": {"anchor": "initial", "amount": fixed("50")},
        "max_loss": {"anchor": "initial", "amount": fixed("100")},
    }
    result = run(rules, [fill("01-05 09:00", "buy", "1", "1000"), mark("01-05 10:00", "800")])
    assert result["reason"] == "max_loss"


# --- adjustments -----------------------------------------------------------------------

GAIN = [fill("01-05 09:00", "buy", "1", "1000"), fill("01-05 10:00", "sell", "1", "1400")]


def test_rebase_none_leaves_anchors_and_is_not_pnl():
    rules = {"max_loss": {"anchor": "peak_balance", "amount": fixed("500")}}
    result = run(rules, [*GAIN, adjust("01-05 11:00", "-300", "none")])
    assert result["balance"] == "10100.00"
    assert result["max_loss_floor"] == "9900.00"  # peak balance 10400 stays
    assert result["days"][0]["pnl"] == "400.00"


def test_payout_with_rebase_none_can_breach_a_trailing_floor():
    rules = {"max_loss": {"anchor": "peak_balance", "amount": fixed("500")}}
    result = run(rules, [*GAIN, adjust("01-05 11:00", "-1000", "none")])
    assert (result["status"], result["reason"]) == ("failed", "max_loss")


def test_rebase_anchors_moves_every_anchor_but_initial():
    rules = {
        "daily_loss": {"anchor": "day_start_balance", "amount": fixed("200")},
        "max_loss": {"anchor": "peak_balance", "amount": fixed("500")},
    }
    engine = engine_after(
        rules,
        [*GAIN, mark("01-06 00:00", "1", symbol="Y"), adjust("01-06 11:00", "-1000", "anchors")],
    )
    assert engine.status == "active"
    assert engine.max_loss_floor == Decimal("8900")
    assert engine.daily_floor == Decimal("9200")
    assert engine.anchor_value("initial") == Decimal("10000")
    assert engine.day_pnl == 0


def test_rebase_resize_moves_the_starting_balance_and_percent_figures():
    rules = {
        "profit_target": {"amount": pct("10")},
        "max_loss": {"anchor": "initial", "amount": pct("10")},
    }
    engine = engine_after(rules, [adjust("01-05 09:00", "5000", "resize")])
    assert engine.initial == Decimal("15000")
    assert engine.max_loss_floor == Decimal("13500")
    assert engine.profit_target_amount == Decimal("1500")
    assert engine.status == "active"  # a deposit is not profit


def test_resize_moves_the_profitable_day_bar():
    rules = {
        "min_trading_days": {
            "count": 5,
            "qualifying": {"kind": "profitable_day", "min_pct_of_initial": "3"},
        }
    }
    engine = engine_after(rules, [*GAIN, end("01-06 00:00")])
    assert engine.trading_days == 1  # +400 >= 300
    engine.apply(scenario(None, [adjust("01-06 01:00", "5000", "resize")]).events[0])
    assert engine.trading_days == 0  # the bar is now 450


# --- objectives --------------------------------------------------------------------------


def three_days(second: str = "-200", third: str = "300") -> list[dict]:
    """Days closing +600, then second, then third (each one round trip of 1 unit)."""
    return [
        fill("01-05 09:00", "buy", "1", "1000"),
        fill("01-05 10:00", "sell", "1", "1600"),
        fill("01-06 09:00", "buy", "1", "1000"),
        fill("01-06 10:00", "sell", "1", str(1000 + int(second))),
        fill("01-07 09:00", "buy", "1", "1000"),
        fill("01-07 10:00", "sell", "1", str(1000 + int(third))),
        end("01-07 12:00"),
    ]


@pytest.mark.parametrize(
    ("of", "status", "share"),
    [("net_profit", "active", "85.71"), ("positive_days", "passed", "66.67")],
)
def test_consistency_denominators(of: str, status: str, share: str):
    rules = {
        "profit_target": {"amount": fixed("500")},
        "consistency": {"max_best_day_share_pct": "70", "of": of},
    }
    result = run(rules, three_days())
    assert result["status"] == status
    assert result["best_day_share_pct"] == share  # 600 / 700 or 600 / 900


def test_consistency_compares_the_exact_ratio_inclusively():
    # Best day 400 of 1000 is exactly 40 %.
    rules = {
        "profit_target": {"amount": fixed("1")},
        "consistency": {"max_best_day_share_pct": "40"},
    }
    result = run(rules, _days_of("400", "400", "200"))
    assert result["status"] == "passed"
    assert result["best_day_share_pct"] == "40.00"


def _days_of(*pnls: str) -> list[dict]:
    events = []
    for i, pnl in enumerate(pnls):
        day = f"01-{5 + i:02d}"
        events += [
            fill(f"{day} 09:00", "buy", "1", "1000"),
            fill(f"{day} 10:00", "sell", "1", str(1000 + int(pnl))),
        ]
    return events


@pytest.mark.parametrize("of", ["net_profit", "positive_days"])
def test_consistency_needs_a_positive_denominator(of: str):
    rules = {"consistency": {"max_best_day_share_pct": "100", "of": of}}
    result = run(rules, [*_days_of("-100", "-50"), end("01-07 00:00")])
    assert result["status"] == "active"
    assert result["best_day_share_pct"] is None


def test_best_day_share_without_the_rule_is_over_net_profit():
    result = run(None, three_days())
    assert result["best_day_share_pct"] == "85.71"


def test_profitable_day_counts_closed_days_at_their_close_and_today_while_it_holds():
    rules = {
        "min_trading_days": {
            "count": 3,
            "qualifying": {"kind": "profitable_day", "min_pct_of_initial": "0.5"},
        }
    }
    events = [
        *_days_of("60"),  # Monday +60 >= 50: counts
        fill("01-06 09:00", "buy", "1", "1000"),
        fill("01-06 10:00", "sell", "1", "1070"),  # Tuesday +70 intraday...
        fill("01-06 11:00", "buy", "1", "1000"),
        fill("01-06 12:00", "sell", "1", "970"),  # ...closes +40: does not count
        fill("01-07 09:00", "buy", "1", "1000"),
        fill("01-07 10:00", "sell", "1", "1055"),  # Wednesday +55 so far: counts
    ]
    s = scenario(rules, events)
    engine = Engine(s.rules, s.account)
    counts = []
    for event in s.events:
        engine.apply(event)
        counts.append(engine.trading_days)
    assert counts == [0, 1, 1, 2, 2, 1, 1, 2]
    assert engine.status == "active"


def test_any_trade_counts_days_with_a_fill_and_funding_is_not_a_trade():
    result = run(None, [*_days_of("10"), funding("01-06 08:00", "-1"), end("01-07 00:00")])
    assert result["trading_days"] == 1
    assert [d["traded"] for d in result["days"]] == [True, False, False]


def test_an_account_without_objectives_never_passes():
    result = run({"max_loss": {"anchor": "initial", "amount": pct("10")}}, _days_of("5000"))
    assert result["status"] == "active"
    assert result["profit_target_met"] is None


def test_profit_target_on_equity_counts_floating_profit():
    rules = {"profit_target": {"amount": fixed("500"), "basis": "equity"}}
    result = run(rules, [fill("01-05 09:00", "buy", "1", "1000"), mark("01-05 10:00", "1500")])
    assert (result["status"], result["decided_at"]) == ("passed", at("01-05 10:00"))
    assert result["balance"] == "10000.00"


# --- decisions and moments -------------------------------------------------------------


def test_a_verdict_and_every_figure_freeze_at_the_decision():
    rules = {"max_loss": {"anchor": "initial", "amount": fixed("100")}}
    events = [fill("01-05 09:00", "buy", "1", "1000"), mark("01-05 10:00", "890")]
    decided = run(rules, events)
    later = run(
        rules,
        [
            *events,
            mark("01-05 11:00", "2000"),
            fill("01-06 09:00", "sell", "1", "2000"),
            end("01-09 00:00"),
        ],
    )
    assert decided["status"] == "failed"
    assert later == decided


def test_expiry_and_reset_at_the_same_instant_are_one_moment_reset_first():
    rules = {"profit_target": {"amount": fixed("1000")}, "max_duration_days": 1}
    result = run(rules, [fill("01-05 09:00", "buy", "1", "1000"), end("01-07 00:00")])
    assert (result["status"], result["reason"]) == ("expired", "max_duration")
    assert result["decided_at"] == "2026-01-06T00:00:00Z"
    assert [d["start"] for d in result["days"]] == ["2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"]


def test_a_breach_created_by_the_reset_beats_expiry_at_the_same_instant():
    # Monday closes +400 with a 500 floating loss: the new day's floor (10400 - 200) is
    # above equity 9900 at the very reset that is also the expiry.
    rules = {
        "daily_loss": {"anchor": "day_start_balance", "amount": fixed("200")},
        "max_duration_days": 1,
    }
    events = [
        *GAIN,
        fill("01-05 11:00", "buy", "1", "1000"),
        mark("01-05 12:00", "500"),
        end("01-06 12:00"),
    ]
    result = run(rules, events)
    assert (result["status"], result["reason"]) == ("failed", "daily_loss")
    assert result["decided_at"] == "2026-01-06T00:00:00Z"
    assert result["days"][-1]["start_equity"] == "9900.00"


def test_an_event_at_the_expiry_instant_comes_too_late():
    rules = {"profit_target": {"amount": fixed("100")}, "max_duration_days": 1}
    result = run(
        rules, [fill("01-05 09:00", "buy", "1", "1000"), fill("01-06 00:00", "sell", "1", "2000")]
    )
    assert result["status"] == "expired"
    assert result["balance"] == "10000.00"


def test_a_mark_at_the_reset_instant_belongs_to_the_new_day():
    rules = {"daily_loss": {"anchor": "day_start_equity", "amount": fixed("1000")}}
    result = run(rules, [fill("01-05 09:00", "buy", "1", "1000"), mark("01-06 00:00", "1100")])
    assert result["days"][1]["start_equity"] == "10000.00"  # the reset saw mark 1000
    assert result["daily_floor"] == "9000.00"
    assert result["equity"] == "10100.00"


def test_spec_example_fails_at_the_reset_with_a_floating_loss():
    rules = {
        "profit_target": {"amount": pct("10"), "basis": "balance"},
        "daily_loss": {"anchor": "day_start_balance", "amount": pct("5")},
        "max_loss": {"anchor": "initial", "amount": pct("10"), "lock_at": None},
        "min_trading_days": {"count": 4, "qualifying": {"kind": "any_trade"}},
        "max_duration_days": 30,
        "consistency": {"max_best_day_share_pct": "50", "of": "net_profit"},
    }
    events = [
        fill("03-02 09:00", "buy", "1", "10000"),
        fill("03-02 10:00", "sell", "1", "14000"),
        fill("03-02 11:00", "buy", "1", "10000"),
        mark("03-02 20:00", "1500"),
        end("03-03 12:00"),
    ]
    result = run(
        rules, events, balance="100000", start="2026-03-02T08:00:00Z", timezone="Europe/Prague"
    )
    assert result == {
        "status": "failed",
        "reason": "daily_loss",
        "decided_at": "2026-03-02T23:00:00Z",
        "balance": "104000.00",
        "equity": "95500.00",
        "daily_floor": "99000.00",
        "max_loss_floor": "90000.00",
        "profit_target_met": False,
        "trading_days": 1,
        "best_day_share_pct": "100.00",
        "days": [
            {
                "start": "2026-03-02T08:00:00Z",
                "start_balance": "100000.00",
                "start_equity": "100000.00",
                "pnl": "4000.00",
                "traded": True,
            },
            {
                "start": "2026-03-02T23:00:00Z",
                "start_balance": "104000.00",
                "start_equity": "95500.00",
                "pnl": "0.00",
                "traded": False,
            },
        ],
    }


# --- positions ---------------------------------------------------------------------------


def test_short_position_profits_when_price_falls_and_flips_at_the_fill_price():
    engine = engine_after(
        None,
        [
            fill("01-05 09:00", "sell", "2", "100"),
            fill("01-05 10:00", "buy", "3", "90"),  # covers 2 for +20, opens 1 long at 90
            mark("01-05 11:00", "95"),
        ],
    )
    assert engine.positions == {"X": (Decimal("1"), Decimal("90"))}
    assert engine.balance == Decimal("10020")
    assert engine.equity == Decimal("10025")


def test_averaged_entry_keeps_exact_decimal_arithmetic():
    engine = engine_after(
        None,
        [
            fill("01-05 09:00", "buy", "3", "100"),
            fill("01-05 09:01", "buy", "3", "100.01"),
            fill("01-05 09:02", "sell", "6", "100.005"),
        ],
    )
    assert engine.balance == Decimal("10000")
    assert engine.positions == {}


def test_money_is_rounded_half_away_from_zero_and_never_negative_zero():
    def pnl(fee: str) -> str:
        return run(None, [fill("01-05 09:00", "buy", "1", "1", fee=fee)])["days"][0]["pnl"]

    assert pnl("0.005") == "-0.01"
    assert pnl("0.004") == "0.00"
    assert run(None, [funding("01-05 09:00", "0.125")])["balance"] == "10000.13"
