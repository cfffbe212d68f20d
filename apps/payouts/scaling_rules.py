"""Scaling plans as data: which step shapes are accepted, and which step is due. Pure.

A scaling plan is a list of steps of three shapes:

- grow on a schedule (the plan's contract): ``{"every_months": 4, "min_net_profit_pct": "10",
  "min_payouts": 2, "increase_pct_of_initial": "25", "profit_split_pct": "85"}`` — after
  `every_months` since the previous step (or funding), with at least `min_net_profit_pct` % of
  the initial balance made and `min_payouts` payouts approved in that time, the account grows
  by `increase_pct_of_initial` % of its initial balance;
- grow on a return: ``{"after_return_pct": "10", "multiply": "2"}`` — once the account has
  made `after_return_pct` % of its size since the previous step without a breach (a breach
  ends a funded account, so an active account has none), its size is multiplied;
- cut after a drawdown: ``{"after_drawdown_pct": "5", "cut_pct_of_initial": "25"}`` — once
  the account has lost `after_drawdown_pct` % of its size since the previous step, it shrinks
  by `cut_pct_of_initial` % of its initial balance.

Growth steps apply in order, the last one repeating, never past the plan's maximum balance;
`profit_split_pct` (optional on growth steps) raises the trader's split. A cut applies
whenever its drawdown is reached and starts a new measuring window, as every step does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.core.money import round_money
from apps.payouts.calc import add_months

ZERO, HUNDRED = Decimal("0"), Decimal("100")
SPLIT_RANGE = (Decimal("50"), Decimal("90"))

SHAPES: dict[str, dict[str, str]] = {
    # shape -> key -> "int" | "pct" | "factor"; the first key names the shape
    "every": {
        "every_months": "int",
        "min_net_profit_pct": "pct",
        "min_payouts": "int",
        "increase_pct_of_initial": "pct",
    },
    "return": {"after_return_pct": "pct", "multiply": "factor"},
    "cut": {"after_drawdown_pct": "pct", "cut_pct_of_initial": "pct"},
}
OPTIONAL = {"every": {"profit_split_pct"}, "return": {"profit_split_pct"}, "cut": set()}
EXAMPLES = (
    '{"every_months": 4, "min_net_profit_pct": "10", "min_payouts": 2, '
    '"increase_pct_of_initial": "25"}',
    '{"after_return_pct": "10", "multiply": "2"}',
    '{"after_drawdown_pct": "5", "cut_pct_of_initial": "25"}',
)


def step_shape(step: dict[str, Any]) -> str | None:
    for shape, keys in SHAPES.items():
        if next(iter(keys)) in step:
            return shape
    return None


def _number(value: Any) -> Decimal | None:
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _value_problem(shape: str, key: str, kind: str, value: Any) -> str:
    if kind == "int":
        low = 1 if key == "every_months" else 0
        if type(value) is not int or value < low:
            return f"“{key}” must be a whole number, at least {low}."
        return ""
    number = _number(value)
    if number is None:
        return f'“{key}” must be a decimal in quotes, like "10".'
    if kind == "factor":
        if not Decimal("1") < number <= Decimal("10"):
            return f"“{key}” must be above 1 and at most 10 (2 doubles the account)."
        return ""
    if key == "min_net_profit_pct" and not ZERO <= number <= HUNDRED:
        return "the net profit must be between 0% and 100%."
    if key in ("increase_pct_of_initial", "after_return_pct") and not ZERO < number <= HUNDRED:
        return f"“{key}” must be above 0% and at most 100%."
    if key in ("after_drawdown_pct", "cut_pct_of_initial") and not ZERO < number < HUNDRED:
        return f"“{key}” must be above 0% and below 100%."
    return ""


def scaling_problems(steps: Any, profit_split_pct: Decimal | None) -> list[str]:
    """What is wrong with a scaling plan, in words a person can act on (empty: accepted)."""
    shapes = " or ".join(EXAMPLES)
    if not isinstance(steps, list):
        return [f"The scaling plan is a list of steps, each like {shapes}."]
    problems: list[str] = []
    split = profit_split_pct
    cuts = 0
    for n, step in enumerate(steps, start=1):
        where = f"Step {n}"
        shape = step_shape(step) if isinstance(step, dict) else None
        if shape is None:
            problems.append(f"{where} is not a scaling step this platform knows: use {shapes}.")
            continue
        allowed = {**SHAPES[shape], **dict.fromkeys(OPTIONAL[shape], "pct")}
        for key in step:
            if key not in allowed:
                problems.append(
                    f"{where}: unknown key “{key}” for this kind of step "
                    f"(expected {', '.join(allowed)})."
                )
        for key, kind in SHAPES[shape].items():
            if key not in step:
                problems.append(f"{where}: “{key}” is missing.")
            elif message := _value_problem(shape, key, kind, step[key]):
                problems.append(f"{where}: {message}")
        if "profit_split_pct" in step and shape != "cut":
            number = _number(step["profit_split_pct"])
            if number is None:
                problems.append(f"{where}: “profit_split_pct” must be a decimal in quotes.")
            elif not SPLIT_RANGE[0] <= number <= SPLIT_RANGE[1]:
                problems.append(f"{where}: the profit split must be between 50% and 90%.")
            elif split is not None and number < split:
                problems.append(
                    f"{where}: the profit split ({number.normalize():f}%) may not fall below "
                    f"the split before it ({split.normalize():f}%)."
                )
            else:
                split = number
        if shape == "cut":
            cuts += 1
            if cuts == 2:
                problems.append(f"{where}: one drawdown cut per plan; merge the two.")
    return problems


# --- deciding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalingState:
    """One funded account's figures, as the scaling decision reads them."""

    now: datetime
    initial: Decimal  # the balance it was funded with
    size: Decimal  # its size now (initial + every resize)
    max_balance: Decimal | None
    split_pct: Decimal
    growth_applied: int  # growth steps applied so far
    balance: Decimal
    gross: Decimal  # balance + everything paid out
    window_started_at: datetime  # the previous step (or funding)
    window_size: Decimal
    window_gross: Decimal
    window_payouts: int  # payouts approved since the window started


@dataclass(frozen=True)
class Decision:
    step_index: int  # in the plan's list
    shape: str
    amount: Decimal  # the resize: positive grows the account, negative cuts it
    new_size: Decimal
    split_pct: Decimal
    reason: str


def _d(step: dict[str, Any], key: str) -> Decimal:
    return Decimal(step[key])


def decide(steps: list[dict[str, Any]], state: ScalingState) -> Decision | None:
    """The step due now, or None. A cut is looked at first: a drawdown outranks growth."""
    made = state.gross - state.window_gross
    for index, step in enumerate(steps):
        if step_shape(step) != "cut":
            continue
        drawdown_pct = _d(step, "after_drawdown_pct")
        if -made >= state.window_size * drawdown_pct / HUNDRED:
            cut = round_money(state.initial * _d(step, "cut_pct_of_initial") / HUNDRED)
            if cut >= state.size or cut >= state.balance:
                return None  # nothing left to cut from; risk management's business now
            return Decision(
                step_index=index,
                shape="cut",
                amount=-cut,
                new_size=state.size - cut,
                split_pct=state.split_pct,
                reason=(
                    f"a drawdown of {round_money(-made):,} since "
                    f"{state.window_started_at:%Y-%m-%d} (at least {drawdown_pct.normalize():f}%"
                    f" of {round_money(state.window_size):,})"
                ),
            )
    growth = [(i, s) for i, s in enumerate(steps) if step_shape(s) != "cut"]
    if not growth:
        return None
    index, step = growth[min(state.growth_applied, len(growth) - 1)]
    shape = step_shape(step)
    if shape == "every":
        due = add_months(state.window_started_at, step["every_months"])
        needed = state.initial * _d(step, "min_net_profit_pct") / HUNDRED
        if state.now < due or made < needed or state.window_payouts < step["min_payouts"]:
            return None
        increase = state.initial * _d(step, "increase_pct_of_initial") / HUNDRED
        reason = (
            f"{step['every_months']} months since {state.window_started_at:%Y-%m-%d} with "
            f"{round_money(made):,} net profit and {state.window_payouts} payout(s)"
        )
    else:
        needed = state.window_size * _d(step, "after_return_pct") / HUNDRED
        if made < needed or made <= 0:
            return None
        increase = state.size * (_d(step, "multiply") - 1)
        reason = (
            f"a return of {round_money(made):,} since {state.window_started_at:%Y-%m-%d} "
            f"(at least {_d(step, 'after_return_pct').normalize():f}%) without a breach"
        )
    new_size = round_money(state.size + increase)
    if state.max_balance is not None:
        new_size = min(new_size, state.max_balance)
    if new_size <= state.size:
        return None  # at the plan's maximum balance
    split_pct = state.split_pct
    if "profit_split_pct" in step:
        split_pct = max(split_pct, _d(step, "profit_split_pct"))
    return Decision(
        step_index=index,
        shape=shape,
        amount=new_size - state.size,
        new_size=new_size,
        split_pct=split_pct,
        reason=reason,
    )
