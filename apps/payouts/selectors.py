"""Reads for payouts: an account's terms and payout facts, the trader's payout summary (the
page and the dashboard), and the rows behind finance's reports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet

from apps.accounts.models import TraderProfile, User
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.core import clock
from apps.payouts import calc
from apps.payouts.models import FundedTerms, Payout
from apps.trading.models import LedgerEntry, Position

ZERO = Decimal("0")
# Ledger kinds that are trading profit or loss (capital, payouts and resizes are not).
PROFIT_KINDS = (
    LedgerEntry.Kind.REALIZED_PNL,
    LedgerEntry.Kind.FEE,
    LedgerEntry.Kind.FUNDING,
    LedgerEntry.Kind.ADJUSTMENT,
)
DIRECT_DEFAULTS: dict[str, Any] = {
    "profit_split_pct": Decimal("80"),
    "payout_frequency": "monthly",
    "first_payout_days": 14,
    "min_payout": Decimal("50"),
    "payout_requires_flat": True,
    "refund_fee_with_first_payout": False,
    "scaling_plan": [],
    "scaling_max_balance": None,
}


# --- terms -----------------------------------------------------------------------------------


def funded_terms_preview(account: EvaluatedAccount) -> FundedTerms:
    """The terms the account would be pinned to now (unsaved): its plan's funded terms, or the
    defaults a firm admin starts from for a directly funded account."""
    challenge = account.challenge
    plan = challenge.plan if challenge is not None else None
    consistency = (account.rules or {}).get("consistency") or {}
    if plan is not None:
        values: dict[str, Any] = {
            "source": FundedTerms.Source.PLAN,
            "plan": plan,
            "profit_split_pct": plan.profit_split_pct,
            "payout_frequency": plan.payout_frequency,
            "first_payout_days": plan.first_payout_days,
            "min_payout": plan.min_payout,
            "payout_requires_flat": plan.payout_requires_flat,
            "refund_fee_with_first_payout": plan.refund_fee_with_first_payout,
            "fee_paid": challenge.price_paid if plan.refund_fee_with_first_payout else ZERO,
            "scaling_plan": list(plan.scaling_plan or []),
            "scaling_max_balance": plan.scaling_max_balance,
        }
    else:
        values = {"source": FundedTerms.Source.DIRECT, "plan": None, **DIRECT_DEFAULTS}
    start = Decimal(account.starting_balance)
    return FundedTerms(
        account=account,
        currency=account.trading_account.currency,
        consistency_max_best_day_share_pct=(
            Decimal(consistency["max_best_day_share_pct"])
            if consistency.get("max_best_day_share_pct") is not None
            else None
        ),
        consistency_of=consistency.get("of") or "net_profit",
        initial_balance=start,
        account_size=start,
        high_water_mark=start,
        window_started_at=account.start,
        window_size=start,
        window_gross=start,
        **values,
    )


def terms_of(account: EvaluatedAccount) -> FundedTerms:
    """The pinned terms, or the preview when nothing has pinned them yet."""
    try:
        return account.funded_terms
    except FundedTerms.DoesNotExist:
        return funded_terms_preview(account)


# --- the facts one payout decision reads ------------------------------------------------------


def profile_of(user: User) -> TraderProfile | None:
    try:
        return user.trader_profile
    except TraderProfile.DoesNotExist:
        return None


def open_positions(trading_account_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    rows = (
        Position.objects.filter(account_id__in=list(trading_account_ids))
        .exclude(size=0)
        .order_by("account_id", "coin")
        .values_list("account_id", "coin")
    )
    for account_id, coin in rows:
        found.setdefault(account_id, []).append(coin)
    return {k: tuple(v) for k, v in found.items()}


def consistency_for(account: EvaluatedAccount, terms: FundedTerms) -> str:
    """The consistency rule's verdict on the profit made since the last payout ("" = fine)."""
    if terms.consistency_max_best_day_share_pct is None:
        return ""
    last = (
        Payout.objects.filter(account=account, status__in=["approved", "paid"])
        .order_by("-decided_at")
        .values_list("decided_at", flat=True)
        .first()
    )
    entries = LedgerEntry.objects.filter(
        account_id=account.trading_account_id, kind__in=PROFIT_KINDS
    )
    if last is not None:
        entries = entries.filter(at__gt=last)
    reset = (account.rules or {}).get("day_reset") or {"timezone": "UTC", "time": "00:00"}
    pnls = calc.day_pnls(entries.values_list("at", "amount"), reset["timezone"], reset["time"])
    return calc.consistency_problem(
        pnls, Decimal(terms.consistency_max_best_day_share_pct), terms.consistency_of
    )


def refund_due(terms: FundedTerms) -> Decimal:
    if terms.refund_fee_with_first_payout and not terms.fee_refunded:
        return Decimal(terms.fee_paid)
    return ZERO


def payout_facts(
    *,
    account: EvaluatedAccount,
    terms: FundedTerms,
    period: calc.Period,
    positions: tuple[str, ...] | None = None,
    period_taken: str | None = None,
    exclude: Payout | None = None,
) -> calc.Facts:
    """Everything `calc.assess` reads about one account (one query each where not given)."""
    trading = account.trading_account
    profile = profile_of(account.trader)
    if positions is None:
        positions = open_positions([trading.pk]).get(trading.pk, ())
    if period_taken is None:
        taken = Payout.objects.filter(
            account=account, period=period.label, status__in=Payout.ACTIVE
        )
        if exclude is not None:
            taken = taken.exclude(pk=exclude.pk)
        period_taken = taken.values_list("status", flat=True).first() or ""
    return calc.Facts(
        currency=terms.currency,
        frequency=terms.payout_frequency,
        funded_at=account.start,
        first_payout_days=terms.first_payout_days,
        min_payout=Decimal(terms.min_payout),
        requires_flat=terms.payout_requires_flat,
        split_pct=Decimal(terms.profit_split_pct),
        refund_due=refund_due(terms),
        balance=Decimal(trading.balance),
        high_water_mark=Decimal(terms.high_water_mark),
        paid_out=Decimal(terms.paid_out_total),
        open_positions=positions,
        kyc_status=profile.kyc_status if profile else "",
        destination=profile.payout_destination if profile else "",
        period_taken=period_taken,
        consistency=consistency_for(account, terms),
    )


# --- what the trader sees -----------------------------------------------------------------


def funded_accounts_of(user: User) -> QuerySet[EvaluatedAccount]:
    return (
        EvaluatedAccount.objects.filter(trader=user, stage=EvaluatedAccount.Stage.FUNDED)
        .select_related("trading_account", "challenge__plan", "funded_terms", "trader")
        .order_by("-start")
    )


def _history(payout: Payout) -> dict[str, Any]:
    return {
        "id": payout.pk,
        "period": payout.period,
        "status": payout.status,
        "status_display": payout.get_status_display(),
        "gross_profit": payout.gross_profit,
        "split_pct": payout.split_pct,
        "trader_share": payout.trader_share,
        "fee_refund": payout.fee_refund,
        "amount": payout.amount,
        "reason": payout.reason,
        "requested_at": payout.requested_at,
        "decided_at": payout.decided_at,
        "paid_at": payout.paid_at,
        "payment_reference": payout.payment_reference,
    }


def payout_summary(user: User, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """For each of the user's funded accounts, plain data: the next payout date, the profit
    above the high-water mark, the split, whether a payout can be requested now (and if not,
    why), and the payout history. The payouts page and the trader's dashboard show this."""
    now = now or clock.now()
    accounts = list(funded_accounts_of(user))
    if not accounts:
        return []
    positions = open_positions(a.trading_account_id for a in accounts)
    history: dict[int, list[Payout]] = {}
    for payout in Payout.objects.filter(account__in=accounts).order_by("-requested_at", "-id"):
        history.setdefault(payout.account_id, []).append(payout)
    summary = []
    for account in accounts:
        terms = terms_of(account)
        period = calc.period_of(terms.payout_frequency, now)
        taken = next(
            (
                p.status
                for p in history.get(account.pk, [])
                if p.period == period.label and p.status in Payout.ACTIVE
            ),
            "",
        )
        facts = payout_facts(
            account=account,
            terms=terms,
            period=period,
            positions=positions.get(account.trading_account_id, ()),
            period_taken=taken,
        )
        figures, problems = calc.assess(facts, now=now, period=period)
        on_request = terms.payout_frequency == "on_request"
        active = account.status == EvaluatedAccount.Status.ACTIVE
        blocker = ""
        if not active:
            blocker = f"This account is {account.get_status_display().lower()}."
        elif not on_request:
            blocker = (
                f"Paid {terms.get_payout_frequency_display().lower()} by the payout run; "
                "nothing to request."
            )
        elif problems:
            blocker = calc.request_order(problems)[0].message
        summary.append(
            {
                "account_id": account.pk,
                "trading_account_id": account.trading_account_id,
                "label": account.trading_account.label or f"Account #{account.trading_account_id}",
                "status": account.status,
                "currency": terms.currency,
                "balance": Decimal(account.trading_account.balance),
                "account_size": Decimal(terms.account_size),
                "high_water_mark": Decimal(terms.net_high_water_mark),
                "above_high_water_mark": max(
                    calc.distributable(
                        balance=facts.balance,
                        high_water_mark=facts.high_water_mark,
                        paid_out=facts.paid_out,
                    ),
                    ZERO,
                ),
                "paid_out_total": Decimal(terms.paid_out_total),
                "split_pct": Decimal(terms.profit_split_pct),
                "trader_share_now": figures.trader_share,
                "fee_refund_due": figures.refund,
                "amount_now": figures.amount,
                "min_payout": Decimal(terms.min_payout),
                "frequency": terms.payout_frequency,
                "frequency_display": terms.get_payout_frequency_display(),
                "period": period.label,
                "next_payout_at": calc.next_payout_at(
                    frequency=terms.payout_frequency,
                    funded_at=account.start,
                    first_payout_days=terms.first_payout_days,
                    now=now,
                    period_taken=bool(taken),
                )
                if active
                else None,
                "can_request": active and on_request and not problems,
                "request_blocker": blocker,
                "history": [_history(p) for p in history.get(account.pk, [])],
            }
        )
    return summary


# --- reports -----------------------------------------------------------------------------


def _day_range(field: str, date_from: date, date_to: date) -> Q:
    """Days `date_from` to `date_to`, both included (UTC)."""
    return Q(**{f"{field}__date__gte": date_from, f"{field}__date__lte": date_to})


def register_payouts(date_from: date, date_to: date) -> QuerySet[Payout]:
    """Every payout requested in the period, with what the register prints beside it."""
    return (
        Payout.objects.filter(_day_range("requested_at", date_from, date_to))
        .select_related(
            "trader__trader_profile", "account", "approved_by", "ledger_entry", "rejected_by"
        )
        .order_by("requested_at", "id")
    )


def statement_payouts(trader: User, date_from: date, date_to: date) -> QuerySet[Payout]:
    return register_payouts(date_from, date_to).filter(trader=trader)


def tax_payouts(trader: User, year: int) -> QuerySet[Payout]:
    """Payouts paid to the trader in the year (cash basis: the day finance paid them)."""
    return (
        Payout.objects.filter(trader=trader, status=Payout.Status.PAID, paid_at__year=year)
        .select_related("ledger_entry")
        .order_by("paid_at", "id")
    )


def tax_summary(trader: User, year: int) -> dict[str, Any]:
    """The yearly tax summary of a trader: totals by month and for the year."""
    months = {
        m: {
            "month": m,
            "payouts": 0,
            "gross_profit": ZERO,
            "trader_share": ZERO,
            "fee_refund": ZERO,
        }
        for m in range(1, 13)
    }
    for payout in tax_payouts(trader, year):
        row = months[payout.paid_at.month]
        row["payouts"] += 1
        row["gross_profit"] += payout.gross_profit
        row["trader_share"] += payout.trader_share
        row["fee_refund"] += payout.fee_refund
    for row in months.values():
        row["total_paid"] = row["trader_share"] + row["fee_refund"]
    profile = profile_of(trader)
    total = {
        key: sum((row[key] for row in months.values()), ZERO)
        for key in ("gross_profit", "trader_share", "fee_refund", "total_paid")
    }
    total["payouts"] = sum(row["payouts"] for row in months.values())
    return {
        "trader": trader,
        "year": year,
        "legal_name": (profile.legal_name if profile else "") or trader.get_full_name(),
        "country": str(profile.country.name) if profile and profile.country else "",
        "country_code": str(profile.country) if profile and profile.country else "",
        "tax_id": profile.tax_id if profile else "",
        "months": [months[m] for m in range(1, 13)],
        "total": total,
    }
