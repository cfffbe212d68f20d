"""Scaling: the step shapes accepted (and refused), each shape applied through the ledger,
the engine and the venue, and never twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail

from apps.accounts import roles
from apps.challenges.evaluation import engine_for, evaluation_sync
from apps.challenges.models_lifecycle import JournalEntry
from apps.core import clock
from apps.core.models import AuditEvent
from apps.payouts.models import FundedTerms, ScalingEvent
from apps.payouts.scaling import scaling_evaluate, scaling_sweep, venue_transfers_retry
from apps.payouts.scaling_rules import scaling_problems
from apps.payouts.services import PayoutError, funded_terms_set, payout_approve, payout_request
from apps.trading.models import LedgerEntry
from apps.trading.venues.paper.venue import PaperVenue
from tests.payouts.support import (
    book_profit,
    funded_direct,
    funded_from_plan,
    funded_ruleset,
    payout_plan,
    staff,
    trader,
)
from tests.trading.market import load_instruments, set_prices

pytestmark = pytest.mark.django_db

EVERY = {
    "every_months": 1,
    "min_net_profit_pct": "5",
    "min_payouts": 1,
    "increase_pct_of_initial": "25",
    "profit_split_pct": "85",
}


@pytest.fixture
def market():
    load_instruments()
    set_prices(BTC="60000")


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Call a service and run its after-commit work (venue, e-mail) as a commit would."""

    def call(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return call


_codes = iter(range(1000))


def direct_with(run, plan: list, cap: str | None = "250000"):
    admin = staff(roles.FIRM_ADMIN)
    account = run(funded_direct, trader(), admin, funded_ruleset(f"scale{next(_codes)}"))
    funded_terms_set(
        account=account,
        actor=admin,
        values={
            "scaling_plan": plan,
            "scaling_max_balance": Decimal(cap) if cap else None,
        },
    )
    return account


def venue_balance(account) -> Decimal:
    return PaperVenue().balance(account.trading_account.venue_ref).balance


# --- what is accepted ------------------------------------------------------------------------


def test_the_three_step_shapes_are_accepted():
    steps = [
        EVERY,
        {"after_return_pct": "10", "multiply": "2", "profit_split_pct": "90"},
        {"after_drawdown_pct": "5", "cut_pct_of_initial": "25"},
    ]
    assert scaling_problems(steps, Decimal("80")) == []


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ({"every_months": 1}, "is a list of steps"),
        ([{"grow_by": "10"}], "Step 1 is not a scaling step this platform knows"),
        ([{"after_return_pct": "10", "multiply": 2}], "“multiply” must be a decimal in quotes"),
        ([{"after_return_pct": "10", "multiply": "1"}], "must be above 1 and at most 10"),
        ([{"after_return_pct": "10"}], "Step 1: “multiply” is missing"),
        ([{"after_drawdown_pct": "5", "cut_pct_of_initial": "100"}], "below 100%"),
        ([{"after_drawdown_pct": "5", "cut_pct_of_initial": "25", "x": 1}], "unknown key “x”"),
        ([{**EVERY, "profit_split_pct": "75"}], "may not fall below the split before it (80%)"),
        ([{**EVERY, "every_months": 0}], "“every_months” must be a whole number, at least 1"),
        (
            [{"after_drawdown_pct": "5", "cut_pct_of_initial": "25"}] * 2,
            "one drawdown cut per plan",
        ),
    ],
)
def test_other_steps_are_refused_with_a_reason(steps, message):
    problems = scaling_problems(steps, Decimal("80"))
    assert any(message in p for p in problems), problems


def test_terms_refuse_a_bad_scaling_plan_and_a_growth_plan_without_a_cap(market, run):
    with pytest.raises(PayoutError, match="not a scaling step"):
        direct_with(run, [{"double": "yes"}])
    with pytest.raises(PayoutError, match="needs a maximum balance"):
        direct_with(run, [{"after_return_pct": "10", "multiply": "2"}], cap=None)


# --- applied ---------------------------------------------------------------------------------


def test_a_scheduled_step_grows_the_account_raises_the_split_and_moves_the_floors(market, run):
    plan = payout_plan(
        "grow",
        first_payout_days=0,
        scaling_plan=[EVERY],
        scaling_max_balance=Decimal("200000"),
    )
    account = run(funded_from_plan, plan, trader())
    book_profit(account, "6000", "profit")
    assert run(scaling_evaluate, account=account) is None  # no month, no payout yet
    run(
        payout_approve,
        payout=payout_request(account=account, actor=account.trader),
        actor=staff(roles.FINANCE),
    )
    clock.travel(clock.now() + timedelta(days=32))
    before = venue_balance(account)
    event = run(scaling_evaluate, account=account)
    assert (event.seq, event.shape, event.size_before, event.size_after) == (
        1,
        "every",
        Decimal("100000"),
        Decimal("125000"),
    )
    assert event.split_after == Decimal("85")
    entry = LedgerEntry.objects.get(kind="resize")
    assert (entry.amount, entry.key) == (Decimal("25000"), f"resize:{account.pk}:1")
    terms = FundedTerms.objects.get(account=account)
    assert terms.account_size == Decimal("125000") and terms.profit_split_pct == Decimal("85")
    assert terms.net_high_water_mark == Decimal("125000")
    assert venue_balance(account) == before + Decimal("25000")
    assert run(scaling_evaluate, account=account) is None  # recorded: never applied twice
    account = evaluation_sync(account_id=account.pk, with_marks=False)
    journal = JournalEntry.objects.filter(account=account, event__type="adjustment")
    rebases = [e.event["rebase"] for e in journal.order_by("seq")]
    assert rebases == ["none", "anchors", "resize"]  # the profit, the payout, the step
    assert engine_for(account).max_loss_floor == Decimal("112500")  # 10% of the new size
    [told] = [m for m in mail.outbox if "scaled up" in m.subject]
    assert "grew from 100000.00 to 125000.00" in told.body
    assert AuditEvent.objects.filter(action="payout.scaling_step").count() == 1


def test_ten_percent_without_a_breach_doubles_the_account_up_to_the_cap(market, run):
    account = direct_with(run, [{"after_return_pct": "10", "multiply": "2"}], cap="300000")
    book_profit(account, "9999", "almost")
    assert run(scaling_evaluate, account=account) is None
    book_profit(account, "1", "there")
    event = run(scaling_evaluate, account=account)
    assert (event.shape, event.size_after, event.amount) == (
        "return",
        Decimal("200000"),
        Decimal("100000"),
    )
    assert run(scaling_evaluate, account=account) is None  # the next 10% is of 200,000
    book_profit(account, "20000", "more")
    assert run(scaling_evaluate, account=account).size_after == Decimal("300000")  # capped
    book_profit(account, "40000", "even-more")
    assert run(scaling_evaluate, account=account) is None  # at the cap
    assert ScalingEvent.objects.filter(account=account).count() == 2


def test_a_drawdown_cuts_the_account_once(market, run):
    account = direct_with(run, [{"after_drawdown_pct": "5", "cut_pct_of_initial": "25"}], cap=None)
    book_profit(account, "-4999", "dip")
    assert run(scaling_evaluate, account=account) is None
    book_profit(account, "-1", "dip-more")
    # The nightly sweep runs after the day's reset (cutting mid-day would shrink the daily
    # floor's distance below the day's loss already made).
    clock.travel(clock.now() + timedelta(days=1))
    before = venue_balance(account)
    event = run(scaling_evaluate, account=account)
    assert (event.shape, event.amount, event.size_after) == (
        "cut",
        Decimal("-25000"),
        Decimal("75000"),
    )
    assert venue_balance(account) == before - Decimal("25000")
    terms = FundedTerms.objects.get(account=account)
    assert terms.net_high_water_mark == Decimal("75000")  # the 5,000 loss is still owed
    assert run(scaling_evaluate, account=account) is None
    [told] = [m for m in mail.outbox if "scaled down" in m.subject]
    assert "reduced from 100000.00 to 75000.00" in told.body


def test_the_sweep_scales_only_accounts_with_a_plan(market, run):
    growing = direct_with(run, [{"after_return_pct": "10", "multiply": "2"}])
    plain = run(funded_direct, trader(), staff(roles.FIRM_ADMIN), funded_ruleset("plain"))
    for account in (growing, plain):
        book_profit(account, "20000", f"p{account.pk}")
    assert run(scaling_sweep) == 1
    assert run(scaling_sweep) == 0
    assert not ScalingEvent.objects.filter(account=plain).exists()


def test_a_failed_venue_transfer_is_retried(market, run, monkeypatch):
    account = direct_with(run, [{"after_return_pct": "10", "multiply": "2"}])
    book_profit(account, "10000", "p")
    calls = []

    def down(self, venue_account, amount, *, key):
        calls.append(key)
        raise RuntimeError("venue down")

    monkeypatch.setattr(PaperVenue, "transfer", down)
    event = run(scaling_evaluate, account=account)
    event.refresh_from_db()
    assert calls == [event.ledger_key] and event.venue_transferred_at is None
    monkeypatch.undo()
    assert venue_transfers_retry() == 1
    event.refresh_from_db()
    assert event.venue_transferred_at is not None
