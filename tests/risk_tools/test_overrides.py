"""Four eyes: a breach's HALT is lifted only by a second risk manager's approval, and only when
the account replayed without the voided events no longer breaches."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.challenges.evaluation import evaluation_sync
from apps.challenges.lifecycle import challenge_start
from apps.challenges.models_lifecycle import JournalEntry
from apps.challenges.selectors import scenario_export
from apps.core.models import AuditEvent
from apps.risk.models import OverrideRequest
from apps.risk.overrides import OverrideRefused, override_approve, override_request
from apps.risk.services import RiskError
from apps.trading.models import TradingState
from tests.challenges.lifecycle_support import make_plan, trade
from tests.risk.support import person
from tests.trading.market import set_prices

pytestmark = pytest.mark.django_db


@pytest.fixture
def started(market, run_commits):
    challenge = run_commits(
        challenge_start,
        trader=person(),
        plan=make_plan("four-eyes"),
        purchase_ref="four-eyes-1",
        price_paid=Decimal(1),
    )
    return challenge, challenge.accounts.get()


def journal_seq(evaluated, **match) -> int:
    for entry in JournalEntry.objects.filter(account=evaluated).order_by("seq"):
        if all(str(entry.event.get(k)) == v for k, v in match.items()):
            return entry.seq
    raise AssertionError(f"no journal event {match}")


def test_a_bad_mark_voided_and_approved_by_a_second_risk_manager_reinstates_the_account(
    started, run_commits, risk_manager, second_risk_manager
):
    challenge, evaluated = started
    run_commits(trade, evaluated.trading_account, "buy", "10", "open")
    set_prices(BTC="59200")  # the bad print: about -8,300, below the daily floor
    evaluated = run_commits(evaluation_sync, account_id=evaluated.pk)
    assert evaluated.status == "failed"
    bad = journal_seq(evaluated, type="mark", price="59200")
    request = override_request(
        account=evaluated.trading_account,
        voided_seqs=f"{bad}",
        reason="a bad print on the feed",
        actor=risk_manager,
    )
    with pytest.raises(RiskError, match="second risk manager"):
        override_approve(request=request, actor=risk_manager)
    assert OverrideRequest.objects.get().status == "pending"

    decided = override_approve(request=request, actor=second_risk_manager)

    assert decided.status == "approved"
    assert (decided.verdict_before["status"], decided.verdict_after["status"]) == (
        "failed",
        "active",
    )
    evaluated.refresh_from_db()
    trading = evaluated.trading_account
    trading.refresh_from_db()
    challenge.refresh_from_db()
    assert (evaluated.status, evaluated.reason, evaluated.decided_at) == ("active", "", None)
    assert trading.state == TradingState.ACTIVE and challenge.status == "active"
    assert JournalEntry.objects.get(account=evaluated, seq=bad).voided
    assert all(e.get("price") != "59200" for e in scenario_export(evaluated)["events"])
    event = AuditEvent.objects.get(action="risk.override.approved")
    assert event.actor_id == second_risk_manager.pk
    assert [v["seq"] for v in event.after["voided"]] == [bad]
    assert event.before["verdict"]["status"] == "failed"
    # the rules engine carries on from the replayed checkpoint
    set_prices(BTC="60100")
    assert run_commits(evaluation_sync, account_id=evaluated.pk).status == "active"


def test_an_override_whose_replay_still_breaches_keeps_the_account_halted(
    started, run_commits, risk_manager, second_risk_manager
):
    _, evaluated = started
    run_commits(trade, evaluated.trading_account, "buy", "5", "first")
    run_commits(trade, evaluated.trading_account, "buy", "5", "second")
    set_prices(BTC="58000")  # -20,000: both halves breach the daily floor on their own
    evaluated = run_commits(evaluation_sync, account_id=evaluated.pk)
    assert evaluated.status == "failed"
    first_fill = journal_seq(evaluated, type="fill")
    request = override_request(
        account=evaluated.trading_account,
        voided_seqs=[first_fill],
        reason="the first fill was a venue error",
        actor=risk_manager,
    )
    with pytest.raises(OverrideRefused, match="still breaches"):
        override_approve(request=request, actor=second_risk_manager)
    request.refresh_from_db()
    assert request.status == "refused" and request.verdict_after["status"] == "failed"
    evaluated.refresh_from_db()
    evaluated.trading_account.refresh_from_db()
    assert evaluated.status == "failed"
    assert evaluated.trading_account.state == TradingState.HALTED
    assert not JournalEntry.objects.filter(voided=True).exists()
    event = AuditEvent.objects.get(action="risk.override.refused")
    assert event.after["verdict"]["status"] == "failed"
    assert [v["seq"] for v in event.after["voided"]] == [first_fill]


def test_an_override_needs_a_halted_account_and_events_that_exist(started, risk_manager):
    _, evaluated = started
    with pytest.raises(RiskError, match="Only a halted account"):
        override_request(
            account=evaluated.trading_account, voided_seqs="1", reason="x", actor=risk_manager
        )
    assert not OverrideRequest.objects.exists()
