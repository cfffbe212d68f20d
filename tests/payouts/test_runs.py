"""The payout run: chunks, what it pays and holds, repeats and a crash in the middle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from apps.accounts import roles
from apps.core import clock
from apps.core.models import AuditEvent
from apps.payouts import calc, runs
from apps.payouts.models import FundedTerms, Payout, PayoutRun
from apps.payouts.runs import payout_run, payout_runs_due
from apps.payouts.services import payout_approve
from tests.payouts.support import book_profit, funded_from_plan, payout_plan, staff, trade, trader
from tests.trading.market import load_instruments, set_prices

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, 1, 5, tzinfo=UTC)


@pytest.fixture
def monthly(django_capture_on_commit_callbacks):
    """Five monthly accounts funded in early March: three with profit, one below the minimum,
    one in a loss."""
    load_instruments()
    set_prices(BTC="60000")
    clock.freeze(START)
    plan = payout_plan("monthly", payout_frequency="monthly", first_payout_days=14)
    accounts = []
    with django_capture_on_commit_callbacks(execute=True):
        for n, profit in enumerate(["5000", "1200.50", "300", "20", "-800"]):
            account = funded_from_plan(plan, trader(), ref=f"buy-{n}")
            book_profit(account, profit, f"profit-{n}")
            accounts.append(account)
    clock.freeze(APRIL)
    return accounts


def test_the_monthly_run_requests_a_payout_for_every_eligible_account(monthly):
    run = payout_run(frequency="monthly", chunk=2)
    assert (run.period, run.status, run.processed, run.total) == ("2026-03", "done", 5, 5)
    assert (run.requested, run.held) == (3, 0)
    payouts = {p.account_id: p for p in Payout.objects.all()}
    assert set(payouts) == {a.pk for a in monthly[:3]}
    first = payouts[monthly[0].pk]
    assert (first.status, first.origin, first.period, first.run_id) == (
        "requested",
        "run",
        "2026-03",
        run.pk,
    )
    assert (first.gross_profit, first.trader_share, first.fee_refund, first.amount) == (
        Decimal("5000.00"),
        Decimal("4000.00"),
        Decimal("100.00"),
        Decimal("4100.00"),
    )
    assert payouts[monthly[1].pk].trader_share == Decimal("960.40")
    assert FundedTerms.objects.count() == 5  # pinned on the way
    chunks = AuditEvent.objects.filter(action="payout_run.chunk").count()
    assert chunks == 3 and run.progress_pct == 100


def test_a_repeated_run_pays_nobody_twice(monthly):
    payout_run(frequency="monthly", chunk=2)
    again = payout_run(frequency="monthly")
    assert again.requested == 3 and Payout.objects.count() == 3
    forced = payout_run(frequency="monthly", force=True)
    assert (forced.status, forced.passes, forced.requested) == ("done", 2, 3)
    assert Payout.objects.count() == 3
    assert payout_runs_due()[1].pk == forced.pk  # the beat's hourly call: a no-op now


def test_a_run_that_crashed_resumes_after_its_last_chunk(monthly, monkeypatch):
    real = runs._run_chunk
    calls = []

    def crash_on_second(**kwargs):
        calls.append(kwargs["ids"])
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(runs, "_run_chunk", crash_on_second)
    with pytest.raises(RuntimeError):
        payout_run(frequency="monthly", chunk=2)
    run = PayoutRun.objects.get()
    assert (run.status, run.processed, run.cursor) == ("running", 2, monthly[1].pk)
    assert Payout.objects.count() == 2
    monkeypatch.setattr(runs, "_run_chunk", real)
    # The lease is still held by the dead worker: nobody else takes the run until it expires.
    assert payout_run(frequency="monthly", chunk=2).status == "running"
    clock.freeze(APRIL + runs.LEASE + timedelta(seconds=1))
    run = payout_run(frequency="monthly", chunk=2, now=APRIL)
    assert (run.status, run.processed, run.requested, run.passes) == ("done", 5, 3, 2)
    assert Payout.objects.count() == 3


def test_a_run_holds_a_payout_with_the_reason_where_the_trader_must_act(monthly):
    held_kyc = monthly[0].trader.trader_profile
    held_kyc.kyc_status, held_kyc.kyc_reason = "pending", ""
    held_kyc.save()
    trade(monthly[1].trading_account, "buy", "0.1", "open")
    run = payout_run(frequency="monthly")
    assert (run.requested, run.held) == (1, 2)
    held = {p.account_id: p for p in Payout.objects.filter(status="held")}
    assert "KYC is still under review" in held[monthly[0].pk].reason
    assert "Close your open positions (BTC)" in held[monthly[1].pk].reason


def test_a_run_skips_accounts_still_in_their_waiting_period(monthly):
    plan = payout_plan("late", payout_frequency="monthly", first_payout_days=14)
    clock.freeze(datetime(2026, 3, 25, tzinfo=UTC))
    late = funded_from_plan(plan, trader(), ref="late")
    book_profit(late, "5000", "late-profit")
    clock.freeze(APRIL)
    payout_run(frequency="monthly")
    assert not Payout.objects.filter(account=late).exists()


def test_run_payouts_are_approved_like_any_other(monthly, django_capture_on_commit_callbacks):
    payout_run(frequency="monthly")
    finance = staff(roles.FINANCE)
    with django_capture_on_commit_callbacks(execute=True):
        for payout in Payout.objects.order_by("pk"):
            payout_approve(payout=payout, actor=finance)
    assert FundedTerms.objects.get(account=monthly[0]).paid_out_total == Decimal("5000")


def test_the_biweekly_run_pays_only_biweekly_accounts(monthly):
    plan = payout_plan("fortnight", payout_frequency="biweekly", first_payout_days=0)
    clock.freeze(datetime(2026, 3, 10, tzinfo=UTC))
    account = funded_from_plan(plan, trader(), ref="bw")
    book_profit(account, "900", "bw-profit")
    clock.freeze(datetime(2026, 3, 23, 1, 5, tzinfo=UTC))
    run = payout_run(frequency="biweekly")
    assert run.period == "2026-03-09..2026-03-22"
    assert list(Payout.objects.values_list("account_id", flat=True)) == [account.pk]


def test_the_command_runs_a_named_period(monthly, capsys):
    call_command("payout_run", "--frequency", "monthly", "--period", "2026-03")
    assert "3 payouts requested" in capsys.readouterr().out
    with pytest.raises(Exception, match="not a monthly payout period"):
        call_command("payout_run", "--frequency", "monthly", "--period", "March")


def test_periods_and_the_next_payout_date():
    at = datetime(2026, 3, 17, 12, tzinfo=UTC)
    assert calc.period_of("monthly", at).label == "2026-03"
    assert calc.previous_period("monthly", at).label == "2026-02"
    assert calc.period_of("biweekly", at).label == "2026-03-09..2026-03-22"
    assert calc.period_named("biweekly", "2026-03-09..2026-03-22").end.isoformat() == "2026-03-23"
    funded = datetime(2026, 3, 10, tzinfo=UTC)
    assert calc.next_payout_at(
        frequency="monthly", funded_at=funded, first_payout_days=30, now=at, period_taken=False
    ) == datetime(2026, 5, 1, tzinfo=UTC)
    assert calc.next_payout_at(
        frequency="on_request", funded_at=funded, first_payout_days=0, now=at, period_taken=True
    ) == datetime(2026, 4, 1, tzinfo=UTC)
    assert calc.add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
