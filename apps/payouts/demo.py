"""Demo payouts for `seed_demo`: the demo trader gets a directly funded $100k account (paid on
request, no waiting period) with profit booked, and one payout waiting for finance.

The profit is a ledger adjustment (memo "demo profit") mirrored at the paper venue, not fills:
seeding runs before the feed publishes prices, and a fill needs a price. Idempotent: each
write is keyed, and an existing account or payout is reused.
"""

from __future__ import annotations

from decimal import Decimal

from apps.accounts.models import User
from apps.challenges.lifecycle import funded_account_open
from apps.challenges.models import RuleSet
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.payouts.models import Payout
from apps.payouts.services import PayoutError, funded_terms_set, payout_request
from apps.trading.models import LedgerEntry
from apps.trading.services import ledger_post, venue_account_of
from apps.trading.venues.registry import venue_for

PROFIT = Decimal("6250")


def seed_payouts() -> list[str]:
    trader = User.objects.filter(email="trader@demo.test").first()
    admin = User.objects.filter(email="admin@demo.test").first()
    ruleset = (
        RuleSet.objects.filter(code="two-step-100k-funded", status="published")
        .order_by("-version")
        .first()
    )
    if trader is None or admin is None or ruleset is None:
        return ["skipped: run the people and catalogue seeders first"]
    account = (
        EvaluatedAccount.objects.filter(trader=trader, challenge__isnull=True, stage="funded")
        .order_by("pk")
        .first()
    )
    if account is None:
        account = funded_account_open(
            trader=trader,
            ruleset=ruleset,
            allocation=Decimal("100000"),
            actor=admin,
            reason="Demo: a directly funded trader, to show payouts",
        )
    trading = account.trading_account
    key = f"demo-profit:{account.pk}"
    if not LedgerEntry.objects.filter(key=key).exists():
        ledger_post(
            account=trading,
            kind=LedgerEntry.Kind.ADJUSTMENT,
            amount=PROFIT,
            key=key,
            memo="demo profit",
            actor=admin,
        )
        # The paper venue keeps its own books: mirror the adjustment there after commit.
        from django.db import transaction

        transaction.on_commit(
            lambda: venue_for(trading).transfer(venue_account_of(trading), PROFIT, key=key)
        )
    funded_terms_set(
        account=account,
        actor=admin,
        values={"payout_frequency": "on_request", "first_payout_days": 0},
    )
    payout = Payout.objects.filter(account=account).order_by("pk").first()
    if payout is None:
        trading.refresh_from_db(fields=["balance"])
        try:
            payout = payout_request(account=account, actor=trader)
        except PayoutError as exc:
            return [f"funded account #{trading.pk}: no demo payout ({exc.message})"]
    return [
        f"trader@demo.test: funded account #{trading.pk} (100,000 USD) with {PROFIT:,} demo "
        f"profit; payout #{payout.pk} {payout.status} ({payout.amount:,} {payout.currency}) "
        "for finance@demo.test to approve in the admin"
    ]
