"""Payouts through the real services: terms pinned from the plan, the trader's request,
finance's approval (the ledger entry, the high-water mark, the venue), rejection, payment,
and every request or decision that must be refused with nothing written."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail

from apps.accounts import roles
from apps.challenges.evaluation import evaluation_sync
from apps.challenges.models_lifecycle import EvaluatedAccount, JournalEntry
from apps.core import clock
from apps.core.models import AuditEvent
from apps.payouts.models import FundedTerms, Payout
from apps.payouts.selectors import payout_summary
from apps.payouts.services import (
    PayoutError,
    funded_terms_pin,
    funded_terms_set,
    payout_approve,
    payout_mark_paid,
    payout_reject,
    payout_request,
)
from apps.trading.models import LedgerEntry, PaperBook
from apps.trading.venues.paper.venue import PaperVenue
from tests.payouts.support import (
    book_profit,
    funded_direct,
    funded_from_plan,
    funded_ruleset,
    payout_plan,
    staff,
    trade,
    trade_profit,
    trader,
)
from tests.trading.market import load_instruments, set_prices

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_commits(django_capture_on_commit_callbacks):
    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


@pytest.fixture
def market():
    load_instruments()
    set_prices(BTC="60000")


@pytest.fixture
def finance():
    return staff(roles.FINANCE)


@pytest.fixture
def funded(market, run_commits):
    """A funded account of an on-request plan, past its 14-day wait, with 10,000 profit."""
    plan = payout_plan()
    user = trader()
    account = run_commits(funded_from_plan, plan, user)
    book_profit(account, "10000", "profit-1")
    clock.travel(clock.now() + timedelta(days=15))
    return account


def venue_balance(account: EvaluatedAccount) -> Decimal:
    return PaperVenue().balance(account.trading_account.venue_ref).balance


def nothing_written(account: EvaluatedAccount, payouts: int = 0) -> None:
    assert Payout.objects.filter(account=account).count() == payouts
    assert not LedgerEntry.objects.filter(account=account.trading_account, kind="payout").exists()


# --- terms -----------------------------------------------------------------------------------


def test_terms_are_pinned_from_the_plan_the_first_time_they_are_needed(funded):
    terms = funded_terms_pin(account=funded)
    plan = funded.challenge.plan
    assert (terms.source, terms.plan_id, terms.payout_frequency) == ("plan", plan.pk, "on_request")
    assert terms.profit_split_pct == Decimal("80") and terms.first_payout_days == 14
    assert terms.fee_paid == Decimal("100.00") and terms.refund_fee_with_first_payout
    assert terms.high_water_mark == Decimal("100000") == terms.account_size
    assert funded_terms_pin(account=funded).pk == terms.pk
    assert AuditEvent.objects.filter(action="payout.terms_pin").count() == 1


def test_a_directly_funded_account_gets_80_percent_monthly_until_a_firm_admin_sets_terms(market):
    admin = staff(roles.FIRM_ADMIN)
    account = funded_direct(trader(), admin, funded_ruleset("direct"))
    terms = funded_terms_pin(account=account)
    assert (terms.source, terms.profit_split_pct, terms.payout_frequency) == (
        "direct",
        Decimal("80"),
        "monthly",
    )
    assert terms.fee_paid == 0 and not terms.refund_fee_with_first_payout
    terms = funded_terms_set(
        account=account, actor=admin, values={"profit_split_pct": Decimal("70")}
    )
    assert terms.profit_split_pct == Decimal("70")
    with pytest.raises(PayoutError, match="between 50% and 90%"):
        funded_terms_set(account=account, actor=admin, values={"profit_split_pct": Decimal("95")})
    with pytest.raises(PayoutError, match="Only a firm admin"):
        funded_terms_set(
            account=account, actor=staff(roles.FINANCE), values={"min_payout": Decimal("1")}
        )


def test_terms_pinned_from_a_plan_cannot_be_changed(funded):
    with pytest.raises(PayoutError, match="come from the plan"):
        funded_terms_set(
            account=funded, actor=staff(roles.FIRM_ADMIN), values={"min_payout": Decimal("1")}
        )


# --- the happy path --------------------------------------------------------------------------


def test_an_approved_payout_books_one_ledger_entry_raises_the_mark_and_moves_the_venue(
    funded, finance, run_commits
):
    payout = payout_request(account=funded, actor=funded.trader)
    assert (payout.status, payout.gross_profit, payout.split_pct) == (
        "requested",
        Decimal("10000.00"),
        Decimal("80"),
    )
    assert (payout.trader_share, payout.firm_share, payout.fee_refund, payout.amount) == (
        Decimal("8000.00"),
        Decimal("2000.00"),
        Decimal("100.00"),
        Decimal("8100.00"),
    )
    before = venue_balance(funded)
    payout = run_commits(payout_approve, payout=payout, actor=finance)
    entry = LedgerEntry.objects.get(account=funded.trading_account, kind="payout")
    assert entry.amount == Decimal("-10000") and entry.key == f"payout:{funded.pk}:{payout.period}"
    assert payout.ledger_entry == entry and payout.approved_by == finance
    terms = FundedTerms.objects.get(account=funded)
    assert terms.high_water_mark == Decimal("110000") and terms.paid_out_total == Decimal("10000")
    assert terms.net_high_water_mark == Decimal("100000") and terms.fee_refunded
    funded.trading_account.refresh_from_db()
    assert funded.trading_account.balance == Decimal("100000")
    assert venue_balance(funded) == before - Decimal("10000")
    payout.refresh_from_db()
    assert payout.venue_transferred_at is not None
    assert "approved" in mail.outbox[-1].subject
    paid = run_commits(payout_mark_paid, payout=payout, actor=finance, reference="0xabc123")
    assert (paid.status, paid.payment_reference, paid.paid_by) == ("paid", "0xabc123", finance)
    assert "sent" in mail.outbox[-1].subject and "0xabc123" in mail.outbox[-1].body
    actions = list(
        AuditEvent.objects.filter(subject_type="payouts.payout", subject_id=str(payout.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["payout.request", "payout.approve", "payout.paid"]


def test_the_fee_is_refunded_with_the_first_payout_only(funded, finance):
    first = payout_approve(
        payout=payout_request(account=funded, actor=funded.trader), actor=finance
    )
    assert first.fee_refund == Decimal("100.00")
    book_profit(funded, "1000", "profit-2")
    clock.travel(clock.now() + timedelta(days=32))
    second = payout_request(account=funded, actor=funded.trader)
    assert (second.gross_profit, second.fee_refund, second.amount) == (
        Decimal("1000.00"),
        Decimal("0.00"),
        Decimal("800.00"),
    )


def test_a_payout_never_breaches_a_trailing_floor_the_engine_reads_it_as_a_rebase(
    market, run_commits
):
    # Max loss trails the peak balance by 5%: paying 10,000 out of a 110,000 peak would put
    # the balance 5,000 under the old floor, unless the anchors move with the payout.
    plan = payout_plan(
        "trail",
        first_payout_days=0,
        losses={"max_loss_anchor": "peak_balance", "daily_loss_value": Decimal("4")},
    )
    user = trader()
    account = run_commits(funded_from_plan, plan, user)
    run_commits(trade_profit, account, "60000", "61000", "1", "win")  # +1,000 less fees
    run_commits(trade_profit, account, "61000", "64000", "3", "win2")
    evaluation_sync(account_id=account.pk, with_marks=False)
    payout = payout_request(account=account, actor=user)
    assert payout.gross_profit > Decimal("9000")
    run_commits(payout_approve, payout=payout, actor=staff(roles.FINANCE))
    account = evaluation_sync(account_id=account.pk, with_marks=False)
    assert account.status == "active"
    event = JournalEntry.objects.filter(account=account, event__type="adjustment").get().event
    assert event["rebase"] == "anchors" and Decimal(event["amount"]) == -payout.gross_profit


def test_a_loss_after_a_payout_must_be_recovered_before_the_next(funded, finance):
    payout_approve(payout=payout_request(account=funded, actor=funded.trader), actor=finance)
    book_profit(funded, "-3000", "loss-1")
    clock.travel(clock.now() + timedelta(days=32))
    with pytest.raises(PayoutError, match="3,000.00 USD below your high-water mark"):
        payout_request(account=funded, actor=funded.trader)
    book_profit(funded, "5000", "profit-2")
    payout = payout_request(account=funded, actor=funded.trader)
    assert payout.gross_profit == Decimal("2000.00")


def test_a_rejection_shows_its_reason_and_the_trader_may_ask_again(funded, finance, run_commits):
    payout = payout_request(account=funded, actor=funded.trader)
    run_commits(payout_reject, payout=payout, actor=finance, reason="Wallet screening pending")
    assert "rejected" in mail.outbox[-1].subject
    history = payout_summary(funded.trader)[0]["history"]
    assert (history[0]["status"], history[0]["reason"]) == ("rejected", "Wallet screening pending")
    nothing_written(funded, payouts=1)
    again = payout_request(account=funded, actor=funded.trader)
    assert again.status == "requested"


def test_the_summary_gives_the_dashboard_plain_figures(funded):
    [row] = payout_summary(funded.trader)
    assert row["above_high_water_mark"] == Decimal("10000.00")
    assert row["high_water_mark"] == Decimal("100000")
    assert (row["split_pct"], row["trader_share_now"], row["fee_refund_due"]) == (
        Decimal("80"),
        Decimal("8000.00"),
        Decimal("100"),
    )
    assert row["can_request"] and row["request_blocker"] == ""
    assert row["next_payout_at"] <= clock.now()


# --- refused requests: the reason, and nothing written ---------------------------------------


def test_a_request_below_the_minimum_is_refused(market, run_commits):
    plan = payout_plan(first_payout_days=0, min_payout=Decimal("500"))
    account = run_commits(funded_from_plan, plan, trader())
    book_profit(account, "499.99", "small")
    with pytest.raises(PayoutError, match="499.99 USD, below the minimum payout of 500.00"):
        payout_request(account=account, actor=account.trader)
    nothing_written(account)


def test_a_request_with_open_positions_is_refused_where_the_plan_forbids_them(market, run_commits):
    plan = payout_plan(first_payout_days=0)
    account = run_commits(funded_from_plan, plan, trader())
    book_profit(account, "2000", "p")
    run_commits(trade, account.trading_account, "buy", "0.1", "open-1")
    with pytest.raises(PayoutError, match=r"Close your open positions \(BTC\)") as refused:
        payout_request(account=account, actor=account.trader)
    assert refused.value.code == "open_positions"
    nothing_written(account)


def test_open_positions_are_allowed_where_the_plan_allows_them(market, run_commits):
    plan = payout_plan(first_payout_days=0, payout_requires_flat=False)
    account = run_commits(funded_from_plan, plan, trader())
    book_profit(account, "2000", "p")
    run_commits(trade, account.trading_account, "buy", "0.1", "open-1")
    assert payout_request(account=account, actor=account.trader).status == "requested"


def test_a_request_before_the_waiting_period_is_refused(market, run_commits):
    account = run_commits(funded_from_plan, payout_plan(), trader())
    book_profit(account, "2000", "p")
    with pytest.raises(
        PayoutError, match=r"first payout is possible from .* \(14 days after funding\)"
    ):
        payout_request(account=account, actor=account.trader)
    nothing_written(account)


def test_a_second_request_in_one_period_is_refused(funded):
    payout_request(account=funded, actor=funded.trader)
    with pytest.raises(PayoutError, match="already a payout for .* one payout per period"):
        payout_request(account=funded, actor=funded.trader)
    nothing_written(funded, payouts=1)


@pytest.mark.parametrize(
    ("kyc", "destination", "message"),
    [
        ("pending", True, "KYC is still under review"),
        ("rejected", True, "KYC is rejected"),
        ("approved", False, "Add a payout destination"),
    ],
)
def test_a_trader_without_approved_kyc_or_a_destination_is_refused(
    market, run_commits, kyc, destination, message
):
    plan = payout_plan(first_payout_days=0)
    account = run_commits(funded_from_plan, plan, trader(kyc=kyc, destination=destination))
    book_profit(account, "2000", "p")
    with pytest.raises(PayoutError, match=message):
        payout_request(account=account, actor=account.trader)
    nothing_written(account)


def test_only_the_owner_may_ask_and_only_on_request_plans_take_requests(funded, market):
    with pytest.raises(PayoutError, match="your own accounts"):
        payout_request(account=funded, actor=trader())
    monthly = payout_plan("monthly", payout_frequency="monthly", first_payout_days=0)
    account = funded_from_plan(monthly, trader(), ref="m")
    book_profit(account, "2000", "p")
    with pytest.raises(PayoutError, match="pays out monthly by the payout run"):
        payout_request(account=account, actor=account.trader)
    nothing_written(account)


def test_consistency_of_the_rule_set_holds_back_a_payout_made_in_one_day(market):
    admin = staff(roles.FIRM_ADMIN)
    account = funded_direct(trader(), admin, funded_ruleset("cons"))
    funded_terms_set(
        account=account,
        actor=admin,
        values={
            "payout_frequency": "on_request",
            "first_payout_days": 0,
            "consistency_max_best_day_share_pct": Decimal("40"),
        },
    )
    start = clock.now()
    book_profit(account, "3000", "d1", at=start)
    with pytest.raises(PayoutError, match=r"best day \(3,000.00\) is 100.00% .* at most 40%"):
        payout_request(account=account, actor=account.trader)
    nothing_written(account)
    for day in (1, 2):
        book_profit(account, "2500", f"d{day + 1}", at=start + timedelta(days=day))
    assert payout_request(account=account, actor=account.trader).gross_profit == Decimal("8000")


def test_the_consistency_rule_is_pinned_from_the_funded_rules_when_present(market, run_commits):
    account = run_commits(funded_from_plan, payout_plan(), trader())
    EvaluatedAccount.objects.filter(pk=account.pk).update(
        rules={**account.rules, "consistency": {"max_best_day_share_pct": "30", "of": "net_profit"}}
    )
    account.refresh_from_db()
    terms = funded_terms_pin(account=account)
    assert terms.consistency_max_best_day_share_pct == Decimal("30")


# --- refused decisions -----------------------------------------------------------------------


def test_an_approval_by_someone_without_the_finance_role_is_refused(funded):
    payout = payout_request(account=funded, actor=funded.trader)
    for person in (staff(roles.RISK_MANAGER), funded.trader, trader()):
        with pytest.raises(PayoutError, match="Only finance can approve"):
            payout_approve(payout=payout, actor=person)
    with pytest.raises(PayoutError, match="Only finance can reject"):
        payout_reject(payout=payout, actor=staff(roles.RISK_MANAGER), reason="no")
    payout.refresh_from_db()
    assert payout.status == "requested"
    nothing_written(funded, payouts=1)


def test_finance_cannot_approve_their_own_payout(market, run_commits):
    insider = trader(is_staff=True)
    insider.groups.add(*staff(roles.FINANCE).groups.all())
    plan = payout_plan(first_payout_days=0)
    account = run_commits(funded_from_plan, plan, insider)
    book_profit(account, "2000", "p")
    payout = payout_request(account=account, actor=insider)
    with pytest.raises(PayoutError, match="cannot approve your own payout"):
        payout_approve(payout=payout, actor=insider)
    nothing_written(account, payouts=1)


def test_an_approval_is_refused_when_the_profit_fell_or_positions_opened_since_the_request(
    funded, finance, run_commits
):
    payout = payout_request(account=funded, actor=funded.trader)
    book_profit(funded, "-500", "loss")
    with pytest.raises(PayoutError, match="now 9,500.00 USD, below the 10,000.00 requested"):
        payout_approve(payout=payout, actor=finance)
    book_profit(funded, "500", "back")
    run_commits(trade, funded.trading_account, "buy", "0.1", "opened")
    with pytest.raises(PayoutError, match="Close your open positions"):
        payout_approve(payout=payout, actor=finance)
    nothing_written(funded, payouts=1)


def test_a_decided_payout_cannot_be_decided_again(funded, finance):
    payout = payout_approve(
        payout=payout_request(account=funded, actor=funded.trader), actor=finance
    )
    with pytest.raises(PayoutError, match="is approved: only a requested payout can be approved"):
        payout_approve(payout=payout, actor=finance)
    with pytest.raises(PayoutError, match="only a requested payout can be rejected"):
        payout_reject(payout=payout, actor=finance, reason="late")
    with pytest.raises(PayoutError, match="payment's reference"):
        payout_mark_paid(payout=payout, actor=finance, reference="  ")
    assert LedgerEntry.objects.filter(kind="payout").count() == 1
    assert FundedTerms.objects.get(account=funded).paid_out_total == Decimal("10000")


def test_a_rejection_needs_a_reason(funded, finance):
    payout = payout_request(account=funded, actor=funded.trader)
    with pytest.raises(PayoutError, match="Say why"):
        payout_reject(payout=payout, actor=finance, reason=" ")
    payout.refresh_from_db()
    assert payout.status == "requested"


def test_the_venue_balance_is_untouched_until_approval(funded):
    before = PaperBook.objects.get(venue_account=funded.trading_account.venue_ref).state
    payout_request(account=funded, actor=funded.trader)
    after = PaperBook.objects.get(venue_account=funded.trading_account.venue_ref).state
    assert before == after
