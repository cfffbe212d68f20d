"""Reads of rule sets and plans, with their related rows fetched up front, and their
plain-language descriptions (what the portal shows a candidate before they buy)."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet

from apps.challenges.models import (
    AmountKind,
    Anchor,
    BreachWhen,
    ConsistencyOf,
    Directions,
    LevelKind,
    Plan,
    PlanPhase,
    Qualifying,
    RuleSet,
    Status,
    pct,
)
from apps.core import rows

_PHASES = Prefetch(
    "phases", queryset=PlanPhase.objects.select_related("ruleset").order_by("number")
)


def plans_on_sale() -> QuerySet[Plan]:
    """Published plans whose rule sets are all still published, phases and rule sets fetched.

    Retiring a rule set stops new sales of every plan that uses it.
    """
    return (
        Plan.objects.filter(status=Status.PUBLISHED, funded_ruleset__status=Status.PUBLISHED)
        .exclude(phases__ruleset__status__in=[Status.DRAFT, Status.RETIRED])
        .select_related("funded_ruleset")
        .prefetch_related(_PHASES)
        .order_by("starting_balance", "price", "code")
    )


def plan_on_sale(code: str) -> Plan | None:
    """The version of a plan family on sale now, or None."""
    return plans_on_sale().filter(code=code).first()


def plans_using(ruleset: RuleSet) -> QuerySet[Plan]:
    """Plans (any status) whose phases or funded stage use this rule set version."""
    return (
        Plan.objects.filter(Q(phases__ruleset=ruleset) | Q(funded_ruleset=ruleset))
        .distinct()
        .order_by("code", "version")
    )


def ruleset_versions(code: str) -> QuerySet[RuleSet]:
    return RuleSet.objects.filter(code=code).order_by("-version")


# --- descriptions ------------------------------------------------------------------------

_ANCHOR_PHRASES = {
    Anchor.INITIAL: "the starting balance (a fixed floor)",
    Anchor.DAY_START_BALANCE: "the balance at the day's start",
    Anchor.DAY_START_EQUITY: "the equity at the day's start",
    Anchor.DAY_START_MAX: "the higher of the balance and the equity at the day's start",
    Anchor.INTRADAY_PEAK_EQUITY: "the highest equity since the day's start",
    Anchor.PEAK_EOD_BALANCE: "the highest end-of-day balance (it trails your closed profit)",
    Anchor.PEAK_EOD_EQUITY: "the highest end-of-day equity (it trails your profit)",
    Anchor.PEAK_BALANCE: "the highest balance reached (it trails your closed profit)",
    Anchor.PEAK_EQUITY: "the highest equity reached, open profit included (it trails it)",
}


def _money(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def _amount(kind: str, value: Decimal, currency: str, anchor: str = "") -> str:
    if kind == AmountKind.FIXED:
        return _money(value, currency)
    if kind == AmountKind.PCT_OF_ANCHOR:
        return f"{pct(value)}% of {_ANCHOR_PHRASES[Anchor(anchor)].split(' (')[0]}"
    return f"{pct(value)}% of the starting balance"


def _day_start(ruleset: RuleSet) -> str:
    return f"{ruleset.day_reset_time} {ruleset.day_reset_timezone}"


def _objective_lines(ruleset: RuleSet, currency: str) -> list[str]:
    lines = []
    if ruleset.profit_target_kind:
        basis = "balance" if ruleset.profit_target_basis == "balance" else "equity"
        target = _amount(ruleset.profit_target_kind, ruleset.profit_target_value, currency)
        lines.append(f"Profit target: {target}, counted on your {basis}")
    if ruleset.min_trading_days is not None:
        if ruleset.min_trading_days_qualifying == Qualifying.PROFITABLE_DAY:
            how = (
                f"days closing at least {pct(ruleset.min_trading_days_min_pct)}% of the "
                "starting balance in profit"
            )
        else:
            how = "days with at least one trade"
        lines.append(f"Minimum trading days: {ruleset.min_trading_days} ({how})")
    if ruleset.consistency_max_best_day_share_pct is not None:
        of = (
            "your net profit"
            if ruleset.consistency_of == ConsistencyOf.NET_PROFIT
            else "the sum of your profitable days"
        )
        lines.append(
            f"Consistency: your best day may be at most "
            f"{pct(ruleset.consistency_max_best_day_share_pct)}% of {of}"
        )
    return lines


def _loss_lines(ruleset: RuleSet, currency: str) -> list[str]:
    lines = []
    if ruleset.daily_loss_anchor:
        amount = _amount(
            ruleset.daily_loss_kind, ruleset.daily_loss_value, currency, ruleset.daily_loss_anchor
        )
        anchor = _ANCHOR_PHRASES[Anchor(ruleset.daily_loss_anchor)]
        lines.append(f"Daily loss: {amount}, measured from {anchor} ({_day_start(ruleset)})")
    if ruleset.max_loss_anchor:
        amount = _amount(ruleset.max_loss_kind, ruleset.max_loss_value, currency)
        anchor = _ANCHOR_PHRASES[Anchor(ruleset.max_loss_anchor)]
        line = f"Max loss: {amount}, measured from {anchor}"
        if ruleset.max_loss_lock_kind:
            value = ruleset.max_loss_lock_value
            if ruleset.max_loss_lock_kind == LevelKind.PCT_OF_INITIAL and value == 100:
                level = "the starting balance"
            elif ruleset.max_loss_lock_kind == LevelKind.PCT_OF_INITIAL:
                level = f"{pct(value)}% of the starting balance"
            else:
                level = _money(value, currency)
            line += f"; the floor stops rising once it reaches {level}"
        lines.append(line)
    if lines:
        at = "goes below" if ruleset.breach_when == BreachWhen.BELOW else "reaches or goes below"
        lines.append(f"A loss limit is breached when your equity {at} its floor")
    return lines


def _limit_lines(ruleset: RuleSet, currency: str) -> list[str]:
    instruments = ", ".join(ruleset.allowed_instruments) or "all listed instruments"
    directions = {
        Directions.BOTH: "long and short",
        Directions.LONG_ONLY: "long only",
        Directions.SHORT_ONLY: "short only",
    }[Directions(ruleset.allowed_directions)]
    order = f"Order size: at most {_money(ruleset.max_order_notional, currency)} notional"
    if ruleset.max_order_qty is not None:
        order += f" and {pct(ruleset.max_order_qty)} coins"
    return [
        f"Leverage: up to {pct(ruleset.max_leverage)}x",
        f"Instruments: {instruments}; {directions}",
        order,
        f"Position size: at most {_money(ruleset.max_position_notional, currency)} "
        "notional per instrument",
        f"Margin use: at most {pct(ruleset.max_margin_use_pct)}% of equity",
        f"Price band: orders within {pct(ruleset.price_band_pct)}% of the mark price",
        f"Open orders: at most {ruleset.max_open_orders}; "
        f"at most {ruleset.max_orders_per_minute} orders a minute",
    ]


def ruleset_describe(ruleset: RuleSet, *, currency: str = "USD") -> list[str]:
    """The rule set in plain-language lines, objectives first, then losses, then limits."""
    lines = _objective_lines(ruleset, currency)
    lines += _loss_lines(ruleset, currency)
    if ruleset.max_duration_days is not None:
        lines.append(f"Time limit: {ruleset.max_duration_days} days")
    elif ruleset.has_objectives:
        lines.append("Time limit: none")
    lines.append(f"Trading days start at {_day_start(ruleset)}")
    return lines + _limit_lines(ruleset, currency)


def plan_describe(plan: Plan) -> list[str]:
    """A plan's price, stages and funded terms in plain-language lines."""
    currency = plan.currency
    phases = sorted(plan.phases.all(), key=lambda p: p.number)
    lines = [
        f"Price: {_money(plan.price, currency)}",
        f"Account: {_money(plan.starting_balance, currency)}",
        f"Evaluation: {len(phases)} phase{'s' if len(phases) != 1 else ''}",
    ]
    for phase in phases:
        parts = _objective_lines(phase.ruleset, currency) or ["no objective"]
        days = phase.ruleset.max_duration_days
        parts.append(f"time limit {days} days" if days else "no time limit")
        lines.append(f"Phase {phase.number}: " + "; ".join(parts))
    frequency = plan.get_payout_frequency_display().lower()
    lines += [
        f"Profit split: {pct(plan.profit_split_pct)}% to you",
        f"Payouts: {frequency}, the first after {plan.first_payout_days} days, "
        f"at least {_money(plan.min_payout, currency)}",
    ]
    if plan.payout_requires_flat:
        lines.append("Positions must be closed when you ask for a payout")
    if plan.refund_fee_with_first_payout:
        lines.append("The challenge fee is refunded with your first payout")
    if plan.retry_discount_pct:
        lines.append(f"Retry discount: {pct(plan.retry_discount_pct)}%")
    for n, step in enumerate(plan.scaling_plan or [], start=1):
        line = (
            f"Scaling step {n}: every {step['every_months']} months with "
            f"{step['min_net_profit_pct']}% net profit and {step['min_payouts']} payouts, "
            f"+{step['increase_pct_of_initial']}% of the starting balance"
        )
        if "profit_split_pct" in step:
            line += f"; your split becomes {step['profit_split_pct']}%"
        lines.append(line)
    if plan.scaling_max_balance is not None and plan.scaling_plan:
        lines.append(f"Scaling up to {_money(plan.scaling_max_balance, currency)}")
    return lines


# --- evaluated accounts: rule state, headroom, breach reports --------------------------------


def account_limits(trading_account) -> dict | None:
    """The pre-trade gate's limits for a trading account: its pinned rule set's, or None for
    an account no rule set governs."""
    sql, params = account_limits_query(trading_account.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return account_limits_from_row(cursor.fetchone())


def account_limits_query(trading_account_id: int) -> tuple[str, list]:
    """The SQL of `account_limits` (built once, not compiled by the ORM: the gate asks it on
    every order), for a caller sending it beside its own statements in one round trip."""
    from apps.challenges.models_lifecycle import EvaluatedAccount

    quote = connection.ops.quote_name
    sql = (
        f"SELECT {rows.columns(RuleSet, 'r')} FROM {quote(RuleSet._meta.db_table)} r "
        f"JOIN {quote(EvaluatedAccount._meta.db_table)} e ON e.ruleset_id = r.id "
        "WHERE e.trading_account_id = %s"
    )
    return sql, [trading_account_id]


def account_limits_from_row(row) -> dict | None:
    """`account_limits` from the row its query returned (None: no rule set)."""
    return rows.instance(RuleSet, row).to_limits_json() if row else None


def scenario_export(account) -> dict:
    """The account's history as a scenario file (../shared/spec/scenario-format.md) that
    `replay_scenario` turns into the verdict and figures the account shows."""
    from apps.challenges.evaluation import account_json, engine_for, mark_json

    engine = engine_for(account)
    events = list(
        account.journal.filter(voided=False).order_by("seq").values_list("event", flat=True)
    )
    events += [mark_json(mark) for mark in engine.flush_marks()]
    end = engine.t
    events.append({"t": end.isoformat(), "type": "end"})
    return {
        "name": f"{account} — exported {end.isoformat()}",
        "account": account_json(account),
        "rules": account.rules,
        "events": events,
    }


def scenario_hash(document: dict) -> str:
    """A hash of the rules, the account and the events: the same file, the same verdict."""
    import hashlib
    import json

    payload = {k: document[k] for k in ("account", "rules", "events")}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def account_rule_view(account) -> dict:
    """For the trader and the risk manager: each rule's value, threshold and headroom, the
    time to the next reset, the verdict, and for a failed account its breach report."""
    from apps.challenges.evaluation import engine_for

    engine = engine_for(account)
    result = engine.result()
    view = {
        "status": account.status,
        "reason": account.reason or None,
        "decided_at": account.decided_at,
        "result": result,
        "headroom": engine.headroom(),
        "next_reset": engine.next_moment(),
        "evaluated_at": account.evaluated_at,
    }
    if account.status in ("failed", "expired"):
        document = scenario_export(account)
        view["breach"] = {
            "rule": account.reason,
            "moment": account.decided_at,
            "figures": {
                k: result[k] for k in ("balance", "equity", "daily_floor", "max_loss_floor")
            },
            "events": document["events"][-21:-1],
            "hash": scenario_hash(document),
        }
    return view
