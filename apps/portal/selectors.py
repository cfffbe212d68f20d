"""Reads for the trader's pages: accounts with their objectives, equity curves, verdicts, and
the live snapshot of one account (DESIGN.md, "Live pushes": the `account.<id>` shape)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch

from apps.billing.selectors import retry_offer
from apps.challenges.evaluation import engine_for
from apps.challenges.models_lifecycle import Challenge, EvaluatedAccount
from apps.challenges.selectors import account_rule_view
from apps.core import clock
from apps.core.money import round_money
from apps.market.selectors import candles, instruments_active
from apps.trading.models import Fill, LedgerEntry, Order, TradingAccount, TradingState
from apps.trading.selectors import account_valuation

HUNDRED = Decimal(100)
STOPPED_STATES = (TradingState.HALTED, TradingState.SUSPENDED)
RECENT_FILLS = 20
RECENT_ORDERS = 30
CURVE_POINTS = 400


def _s(value: Decimal | None) -> str | None:
    """A plain decimal string (no exponent, no trailing zeros) for prices and sizes."""
    if value is None:
        return None
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "0") else text


def _m(value: Decimal | None) -> str | None:
    """Money to the cent, as a string."""
    return None if value is None else f"{round_money(value):f}"


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def account_owned(user_id: int, account_id: int) -> TradingAccount | None:
    return TradingAccount.objects.filter(pk=account_id, owner_id=user_id).first()


def evaluated_of(account: TradingAccount) -> EvaluatedAccount | None:
    return (
        EvaluatedAccount.objects.filter(trading_account_id=account.pk)
        .select_related("ruleset", "challenge__plan", "trading_account")
        .first()
    )


def accounts_for_trading(user) -> list[TradingAccount]:
    """The trader's accounts, open ones first, newest first."""
    rows = TradingAccount.objects.filter(owner=user).select_related("evaluation")
    return sorted(rows, key=lambda a: (a.status != "open", -a.pk))


def default_trading_account(user) -> TradingAccount | None:
    for account in accounts_for_trading(user):
        evaluated = getattr(account, "evaluation", None)
        if account.status == "open" and (evaluated is None or evaluated.status == "active"):
            return account
    found = accounts_for_trading(user)
    return found[0] if found else None


# --- objectives ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    key: str
    title: str
    value: str
    detail: str
    pct: int  # how full the bar is, 0 to 100
    tone: str  # ok | warn | bad | met


def _loss_limit(kind: str, value: Decimal, starting: Decimal, floor: Decimal) -> Decimal | None:
    """The size of a loss limit in money, for the width of its headroom bar."""
    if kind == "fixed":
        return value
    if kind == "pct_of_initial":
        return starting * value / HUNDRED
    if kind == "pct_of_anchor" and value < HUNDRED:
        share = value / HUNDRED  # floor = anchor x (1 - share)
        return floor * share / (1 - share)
    return None


def _bar(numerator: Decimal, denominator: Decimal | None) -> int:
    if not denominator or denominator <= 0:
        return 0
    return int(max(Decimal(0), min(HUNDRED, numerator * HUNDRED / denominator)))


def objectives(evaluated: EvaluatedAccount, headroom: dict, equity: Decimal) -> list[Objective]:
    """The account's rules as progress bars, loss headroom measured on the live equity."""
    ruleset, starting = evaluated.ruleset, evaluated.starting_balance
    out: list[Objective] = []
    target = headroom.get("profit_target")
    if target:
        value, threshold = Decimal(target["value"]), Decimal(target["threshold"])
        out.append(
            Objective(
                "profit_target",
                "Profit target",
                f"{value:,.2f} of {threshold:,.2f}",
                "met" if target["met"] else f"{Decimal(target['remaining']):,.2f} to go",
                _bar(value, threshold),
                "met" if target["met"] else "ok",
            )
        )
    for key, title, kind, limit_value in (
        ("daily_loss", "Daily loss headroom", ruleset.daily_loss_kind, ruleset.daily_loss_value),
        ("max_loss", "Max loss headroom", ruleset.max_loss_kind, ruleset.max_loss_value),
    ):
        entry = headroom.get(key)
        if not entry:
            continue
        floor = Decimal(entry["threshold"])
        room = equity - floor
        limit = _loss_limit(kind, limit_value, starting, floor) if kind else None
        pct = _bar(room, limit)
        out.append(
            Objective(
                key,
                title,
                f"{room:,.2f} left",
                f"floor {floor:,.2f}; equity {equity:,.2f}",
                pct,
                "bad" if room <= 0 else ("warn" if pct < 30 else "ok"),
            )
        )
    days = headroom.get("min_trading_days")
    if days:
        out.append(
            Objective(
                "min_trading_days",
                "Trading days",
                f"{days['value']} of {days['threshold']}",
                "met" if days["met"] else f"{days['remaining']} more needed",
                _bar(Decimal(days["value"]), Decimal(days["threshold"])),
                "met" if days["met"] else "ok",
            )
        )
    duration = headroom.get("max_duration_days")
    if duration and ruleset.max_duration_days:
        seconds = duration["remaining_seconds"]
        total = ruleset.max_duration_days * 86400
        days_left = -(-seconds // 86400)
        out.append(
            Objective(
                "days_left",
                "Days left",
                f"{days_left} of {ruleset.max_duration_days}",
                f"ends {datetime.fromisoformat(duration['expires_at']):%d %b %Y %H:%M} UTC",
                _bar(Decimal(seconds), Decimal(total)),
                "warn" if seconds < 3 * 86400 else "ok",
            )
        )
    consistency = headroom.get("consistency")
    if consistency:
        value = consistency["value"]
        threshold = Decimal(consistency["threshold"])
        out.append(
            Objective(
                "consistency",
                "Consistency (best day's share)",
                "no profit yet" if value is None else f"{Decimal(value):.2f}%",
                f"at most {threshold:.2f}%",
                _bar(Decimal(value or 0), threshold),
                "met" if consistency["met"] else "warn",
            )
        )
    return out


# --- equity curve ----------------------------------------------------------------------------


def equity_curve(account: TradingAccount, equity_now: Decimal) -> dict:
    """The balance after each ledger entry, then the equity now, as an SVG polyline."""
    rows = list(
        LedgerEntry.objects.filter(account=account)
        .order_by("-id")
        .values_list("at", "balance_after")[:CURVE_POINTS]
    )
    points = [(at, value) for at, value in reversed(rows) if value is not None]
    points.append((clock.now(), equity_now))
    if len(points) == 1:
        points.insert(0, points[0])
    values = [v for _, v in points]
    low, high = min(values), max(values)
    width, height = 300, 80
    step = Decimal(width) / (len(points) - 1)

    def y(value: Decimal) -> float:
        if high == low:
            return height / 2  # a flat line across the middle
        return float(height - (value - low) / (high - low) * (height - 8) - 4)

    coords = " ".join(f"{float(step * i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(points))
    return {
        "points": coords,
        "low": round_money(low),
        "high": round_money(high),
        "first": round_money(values[0]),
        "last": round_money(values[-1]),
        "count": len(points),
    }


# --- the dashboard ---------------------------------------------------------------------------


def account_card(evaluated: EvaluatedAccount) -> dict:
    trading = evaluated.trading_account
    view = account_rule_view(evaluated)
    valuation = account_valuation(trading)
    equity = valuation["equity"]
    return {
        "evaluated": evaluated,
        "trading": trading,
        "title": (
            f"Phase {evaluated.phase}"
            if evaluated.stage == EvaluatedAccount.Stage.EVALUATION
            else "Funded account"
        ),
        "view": view,
        "valuation": valuation,
        "objectives": objectives(evaluated, view["headroom"], equity),
        "curve": equity_curve(trading, equity),
        "next_reset": view["next_reset"],
        "reset_in": (
            max(int((view["next_reset"] - clock.now()).total_seconds()), 0)
            if view["next_reset"]
            else None
        ),
        "breach": view.get("breach"),
        "stopped": trading.state in STOPPED_STATES or trading.status == "closed",
    }


def dashboard(user) -> dict:
    """Every challenge of the trader with its accounts (newest first), directly funded
    accounts, the retry offers of failed challenges, and the purchases' receipts."""
    accounts = EvaluatedAccount.objects.select_related(
        "ruleset", "trading_account", "challenge__plan"
    ).order_by("-start")
    challenges = (
        Challenge.objects.filter(trader=user)
        .select_related("plan")
        .prefetch_related(Prefetch("accounts", queryset=accounts))
        .order_by("-created_at")
    )
    rows = []
    for challenge in challenges:
        cards = [account_card(a) for a in challenge.accounts.all()]
        history = sorted(
            (
                {
                    "title": card["title"],
                    "status": card["evaluated"].get_status_display(),
                    "code": card["evaluated"].status,
                    "reason": card["evaluated"].reason,
                    "decided_at": card["evaluated"].decided_at,
                    "start": card["evaluated"].start,
                }
                for card in cards
            ),
            key=lambda h: h["start"],
        )
        rows.append(
            {
                "challenge": challenge,
                "cards": cards,
                "history": history,
                "retry": retry_offer(challenge),
                "purchase": getattr(challenge, "purchase", None),
            }
        )
    direct = [
        account_card(a)
        for a in accounts.filter(trader=user, challenge__isnull=True).order_by("-start")
    ]
    return {"challenges": rows, "direct": direct}


# --- the trading page ------------------------------------------------------------------------


def _orders(account: TradingAccount) -> list[dict]:
    rows = Order.objects.filter(account=account).order_by("-created_at")[:RECENT_ORDERS]
    return [
        {
            "id": str(o.id),
            "coin": o.coin,
            "side": o.side,
            "kind": o.kind,
            "kind_label": o.get_kind_display(),
            "size": _s(o.size),
            "filled": _s(o.filled_size),
            "limit_price": _s(o.limit_price),
            "trigger_price": _s(o.trigger_price),
            "reduce_only": o.reduce_only,
            "status": o.status,
            "status_label": o.get_status_display(),
            "live": o.is_live,
            "origin": o.origin,
            "reason": o.reject_reason,
            "created_at": _iso(o.created_at),
        }
        for o in rows
    ]


def _fills(account: TradingAccount) -> list[dict]:
    rows = Fill.objects.filter(account=account).order_by("-at", "-id")[:RECENT_FILLS]
    return [
        {
            "id": f.pk,
            "coin": f.coin,
            "side": f.side,
            "size": _s(f.size),
            "price": _s(f.price),
            "fee": _m(f.fee),
            "realized_pnl": _m(f.realized_pnl),
            "at": _iso(f.at),
        }
        for f in rows
    ]


def account_snapshot(account_id: int) -> dict:
    """The account now, from the database: DESIGN's `account.snapshot` shape (what the risk
    engine pushes), plus the state's reason, recent orders and fills for the page.

    Equity is the balance plus unrealised P&L on the latest frame's marks; the floors are
    the rules engine's (from the account's checkpoint); headroom is equity above each floor.
    """
    account = TradingAccount.objects.get(pk=account_id)
    valuation = account_valuation(account)
    equity = valuation["equity"]
    floors: dict[str, str | None] = {"daily": None, "max_loss": None}
    headroom: dict = {}
    verdict = None
    day_pnl = None
    evaluated = EvaluatedAccount.objects.filter(trading_account_id=account_id).first()
    if evaluated is not None:
        evaluated.trading_account = account
        engine = engine_for(evaluated)
        result = engine.result()
        headroom = engine.headroom()
        floors = {"daily": result["daily_floor"], "max_loss": result["max_loss_floor"]}
        for name, floor in (("daily_loss", floors["daily"]), ("max_loss", floors["max_loss"])):
            if floor is not None:
                room = equity - Decimal(floor)
                headroom[name] = {
                    "value": _m(equity),
                    "threshold": floor,
                    "headroom": _m(room),
                    "headroom_pct": _m(room * HUNDRED / evaluated.starting_balance),
                }
        days = result["days"]
        day_start = Decimal(days[-1]["start_equity"]) if days else evaluated.starting_balance
        day_pnl = equity - day_start
        verdict = {
            "status": evaluated.status,
            "reason": evaluated.reason or None,
            "decided_at": _iso(evaluated.decided_at),
            "stage": evaluated.stage,
            "phase": evaluated.phase,
        }
    return {
        "type": "account.snapshot",
        "account": account.pk,
        "t": clock.now().isoformat(),
        "source": "portal",
        "state": account.state,
        "state_reason": account.state_reason,
        "status": account.status,
        "balance": _m(account.balance),
        "equity": _m(equity),
        "unrealized_pnl": _m(valuation["unrealized_pnl"]),
        "day_pnl": _m(day_pnl),
        "floors": floors,
        "headroom": headroom,
        "positions": [
            {
                "coin": p["coin"],
                "size": _s(p["size"]),
                "entry_price": _s(p["entry_price"]),
                "mark": _s(p["mark"]),
                "unrealized_pnl": _m(p["unrealized_pnl"]),
                "notional": _m(p["notional"]),
            }
            for p in valuation["positions"]
        ],
        "verdict": verdict,
        "orders": _orders(account),
        "fills": _fills(account),
    }


def trade_page(account: TradingAccount, coin: str | None) -> dict:
    """What the trading page renders before its socket opens."""
    instruments = list(instruments_active())
    coins = [i.coin for i in instruments]
    chosen = coin if coin in coins else ("BTC" if "BTC" in coins else (coins[0] if coins else ""))
    evaluated = evaluated_of(account)
    max_leverage = None
    if evaluated is not None and evaluated.ruleset.max_leverage:
        max_leverage = int(evaluated.ruleset.max_leverage)
    leverage_by_coin = {
        i.coin: min(i.max_leverage, max_leverage) if max_leverage else i.max_leverage
        for i in instruments
    }
    bars = candles(chosen, "1m", limit=300) if chosen else []
    breach = None
    if evaluated is not None and evaluated.status in ("failed", "expired"):
        breach = account_rule_view(evaluated).get("breach")
    snapshot = account_snapshot(account.pk)
    return {
        "account": account,
        "evaluated": evaluated,
        "coins": coins,
        "coin": chosen,
        "leverage_by_coin": leverage_by_coin,
        "sz_decimals": {i.coin: i.sz_decimals for i in instruments},
        "candles": [
            {
                "time": int(c.start.timestamp()),
                "open": float(c.open),
                "high": float(c.high),
                "low": float(c.low),
                "close": float(c.close),
            }
            for c in bars
        ],
        "snapshot": snapshot,
        "breach": breach,
        "stopped": account.state in STOPPED_STATES or account.status == "closed",
    }
