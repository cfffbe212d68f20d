"""Building blocks for payout tests: plans with chosen funded terms, funded accounts opened the
way the lifecycle opens them, profit made through real fills on the paper venue, people."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from apps.accounts import roles
from apps.accounts.models import KycStatus, TraderProfile, User
from apps.challenges.lifecycle import _open_evaluated, challenge_start, funded_account_open
from apps.challenges.models import Plan
from apps.challenges.models_lifecycle import Challenge, EvaluatedAccount
from apps.challenges.services import plan_create, plan_publish, ruleset_create, ruleset_publish
from apps.core import clock
from apps.trading.models import LedgerEntry
from apps.trading.services import ledger_post
from tests.challenges.lifecycle_support import COMMON, LIMITS, LOSSES, trade
from tests.factories import UserFactory
from tests.trading.market import set_prices

PLAN_TERMS: dict[str, Any] = {
    "price": Decimal("100"),
    "currency": "USD",
    "starting_balance": Decimal("100000"),
    "profit_split_pct": Decimal("80"),
    "payout_frequency": "on_request",
    "first_payout_days": 14,
    "min_payout": Decimal("50"),
    "payout_requires_flat": True,
    "refund_fee_with_first_payout": True,
    "retry_discount_pct": Decimal("0"),
    "scaling_plan": [],
    "scaling_max_balance": None,
}


def funded_ruleset(code: str, **losses: Any):
    return ruleset_publish(
        ruleset=ruleset_create(
            actor=None,
            code=f"{code}-funded",
            name=f"{code} funded",
            stage="funded",
            **COMMON,
            **(LOSSES | losses),
            **LIMITS,
        ),
        actor=None,
    )


def payout_plan(code: str = "pay", *, losses: dict | None = None, **terms: Any) -> Plan:
    phase = ruleset_publish(
        ruleset=ruleset_create(
            actor=None,
            code=f"{code}-p1",
            name=f"{code} phase 1",
            stage="evaluation",
            profit_target_kind="pct_of_initial",
            profit_target_value=Decimal("5"),
            min_trading_days=1,
            max_duration_days=30,
            **COMMON,
            **LOSSES,
            **LIMITS,
        ),
        actor=None,
    )
    plan = plan_create(
        actor=None,
        phases=[phase],
        funded_ruleset=funded_ruleset(code, **(losses or {})),
        code=code,
        name=f"Plan {code}",
        **(PLAN_TERMS | terms),
    )
    return plan_publish(plan=plan, actor=None)


def trader(*, kyc: str = KycStatus.APPROVED, destination: bool = True, **fields) -> User:
    user = UserFactory(role=roles.TRADER, **fields)
    TraderProfile.objects.create(
        user=user,
        legal_name=f"Legal {user.name}",
        country="DE",
        tax_id=f"DE-{user.pk:05d}",
        payout_method="usdc" if destination else "",
        payout_usdc_address=("0x" + "a" * 40) if destination else "",
        kyc_status=kyc,
        kyc_reason="checked" if kyc in ("approved", "rejected") else "",
    )
    return user


def staff(role: str) -> User:
    return UserFactory(is_staff=True, role=role)


def funded_from_plan(plan: Plan, user: User, *, ref: str = "buy-1") -> EvaluatedAccount:
    """A funded account of a challenge on `plan`, opened as the lifecycle opens it when the
    last phase passes (the phases themselves are the challenges tests' business)."""
    challenge = challenge_start(trader=user, plan=plan, purchase_ref=ref, price_paid=plan.price)
    funded = _open_evaluated(
        trader=user,
        ruleset=plan.funded_ruleset,
        balance=plan.starting_balance,
        key=f"challenge:{challenge.pk}:funded",
        label=f"{plan.name} · funded",
        challenge=challenge,
        stage=EvaluatedAccount.Stage.FUNDED,
        phase=None,
    )
    Challenge.objects.filter(pk=challenge.pk).update(status=Challenge.Status.FUNDED)
    return funded


def funded_direct(user: User, admin: User, ruleset, allocation: str = "100000"):
    return funded_account_open(
        trader=user, ruleset=ruleset, allocation=Decimal(allocation), actor=admin, reason="hired"
    )


def book_profit(account: EvaluatedAccount, amount: str, key: str, at: datetime | None = None):
    """Profit booked as a ledger adjustment (what a fill's P&L would do to the balance)."""
    return ledger_post(
        account=account.trading_account,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        amount=Decimal(amount),
        key=key,
        memo="test profit",
        at=at or clock.now(),
    )


def trade_profit(account: EvaluatedAccount, buy_at: str, sell_at: str, size: str, key: str):
    """Real profit: buy on the paper venue, move the price, sell; the fills are booked."""
    set_prices(BTC=buy_at)
    trade(account.trading_account, "buy", size, f"{key}-buy")
    set_prices(BTC=sell_at)
    trade(account.trading_account, "sell", size, f"{key}-sell", reduce_only=True)
