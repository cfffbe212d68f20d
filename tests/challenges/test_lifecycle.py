"""The lifecycle driven through live trading: orders, the paper venue, booked fills, the
rules engine writing rule state, and the transitions."""

import json
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail

from apps.challenges.evaluation import evaluation_sync
from apps.challenges.lifecycle import (
    LifecycleError,
    account_terminate,
    challenge_start,
    funded_account_open,
)
from apps.challenges.models_lifecycle import Challenge, EvaluatedAccount, JournalEntry
from apps.challenges.rules import parse_scenario, replay
from apps.challenges.selectors import account_rule_view, scenario_export
from apps.core import clock
from apps.core.models import AuditEvent
from apps.trading.models import Order, TradingState
from apps.trading.outbox import outbox_dispatch
from tests.challenges.lifecycle_support import make_plan, trade
from tests.conftest import ROOT
from tests.factories import UserFactory
from tests.trading.market import load_instruments, set_prices

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_commits(django_capture_on_commit_callbacks):
    """Run on-commit work (venue calls, evaluation after fills, e-mails) as it would run."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


@pytest.fixture
def started(run_commits):
    load_instruments()
    set_prices(BTC="60000")
    plan = make_plan()
    trader = UserFactory()
    challenge = run_commits(
        challenge_start, trader=trader, plan=plan, purchase_ref="pay-1", price_paid=Decimal("100")
    )
    return challenge, challenge.accounts.get()


def assert_replays_to_what_the_account_shows(account):
    document = scenario_export(account)
    replayed = replay(parse_scenario(json.dumps(document)))
    shown = account_rule_view(account)["result"]
    assert replayed == shown


def test_a_challenge_starts_with_its_phase_1_account_and_capital(started):
    challenge, account = started
    assert (challenge.status, challenge.current_phase, account.phase) == ("active", 1, 1)
    assert account.trading_account.balance == Decimal("100000")
    assert account.rules["profit_target"]["amount"] == {"pct_of_initial": "5"}
    assert "Your challenge has started" in mail.outbox[-1].subject


def test_starting_twice_for_one_purchase_makes_one_challenge(started, run_commits):
    challenge, account = started
    again = run_commits(
        challenge_start,
        trader=challenge.trader,
        plan=challenge.plan,
        purchase_ref="pay-1",
        price_paid=Decimal("100"),
    )
    assert again.pk == challenge.pk and EvaluatedAccount.objects.count() == 1


def test_a_breach_fails_the_account_halts_it_and_flattens_it(started, run_commits):
    challenge, account = started
    run_commits(trade, account.trading_account, "buy", "10", "open")  # ~600k notional
    set_prices(BTC="59200")  # about -8,300: below the daily floor (95,000), above max (90,000)
    evaluated = run_commits(evaluation_sync, account_id=account.pk)
    assert (evaluated.status, evaluated.reason) == ("failed", "daily_loss")
    trading = evaluated.trading_account
    trading.refresh_from_db()
    assert trading.state == TradingState.HALTED
    flatten = Order.objects.get(account=trading, origin="system_flatten")
    assert (flatten.side, flatten.size, flatten.reduce_only) == ("sell", Decimal("10"), True)
    run_commits(outbox_dispatch)  # what the worker does with the outbox
    flatten.refresh_from_db()
    assert flatten.status == "filled"
    assert not trading.positions.exclude(size=0).exists()
    challenge.refresh_from_db()
    assert (challenge.status, challenge.retry_discount_pct) == ("failed", Decimal("15.00"))
    assert AuditEvent.objects.filter(action="evaluation.failed").exists()
    assert "Your account has stopped" in mail.outbox[-1].subject
    view = account_rule_view(evaluated)
    assert view["breach"]["rule"] == "daily_loss" and len(view["breach"]["hash"]) == 64
    assert_replays_to_what_the_account_shows(evaluated)


def test_a_decided_verdict_never_changes_and_later_fills_change_nothing(started, run_commits):
    _, account = started
    run_commits(trade, account.trading_account, "buy", "10", "open")
    set_prices(BTC="59200")
    failed = run_commits(evaluation_sync, account_id=account.pk)
    journal = JournalEntry.objects.filter(account=account).count()
    set_prices(BTC="70000")
    again = run_commits(evaluation_sync, account_id=account.pk)
    assert (again.status, again.decided_at) == ("failed", failed.decided_at)
    assert JournalEntry.objects.filter(account=account).count() == journal


def test_passing_both_phases_opens_phase_2_then_a_funded_account(started, run_commits):
    challenge, account = started
    trading = account.trading_account
    run_commits(trade, trading, "buy", "10", "p1-open")
    set_prices(BTC="60700")
    run_commits(trade, trading, "sell", "10", "p1-close", reduce_only=True)  # ~ +6,900 closed
    evaluated = EvaluatedAccount.objects.get(pk=account.pk)
    assert evaluated.status == "passed"
    challenge.refresh_from_db()
    assert challenge.current_phase == 2
    phase2 = challenge.accounts.get(phase=2)
    assert phase2.trading_account.balance == Decimal("100000")
    assert "You passed a phase" in mail.outbox[-1].subject
    assert_replays_to_what_the_account_shows(evaluated)

    run_commits(trade, phase2.trading_account, "buy", "10", "p2-open")
    set_prices(BTC="61400")
    run_commits(trade, phase2.trading_account, "sell", "10", "p2-close", reduce_only=True)
    challenge.refresh_from_db()
    assert challenge.status == Challenge.Status.FUNDED
    funded = challenge.accounts.get(stage="funded")
    assert (funded.status, funded.ruleset.stage) == ("active", "funded")
    assert "You are funded" in mail.outbox[-1].subject


def test_minimum_trading_days_hold_back_a_pass_until_the_clock_moves(run_commits):
    load_instruments()
    set_prices(BTC="60000")
    plan = make_plan("mindays", min_days=2, phases=1)
    challenge = run_commits(
        challenge_start,
        trader=UserFactory(),
        plan=plan,
        purchase_ref="pay-md",
        price_paid=Decimal("100"),
    )
    account = challenge.accounts.get()
    trading = account.trading_account
    run_commits(trade, trading, "buy", "10", "d1-open")
    set_prices(BTC="60700")
    run_commits(trade, trading, "sell", "10", "d1-close", reduce_only=True)
    assert EvaluatedAccount.objects.get(pk=account.pk).status == "active"  # 1 day of 2
    clock.advance(timedelta(days=1))
    set_prices(BTC="60700")
    run_commits(trade, trading, "buy", "1", "d2-open")
    account.refresh_from_db()
    assert account.status == "passed"
    assert account_rule_view(account)["result"]["trading_days"] == 2


def test_expiry_is_found_by_the_sweep(started, run_commits):
    from apps.challenges.sweeps import evaluation_sweep

    _, account = started
    clock.advance(timedelta(days=31))
    assert run_commits(evaluation_sweep) == 1
    account.refresh_from_db()
    assert (account.status, account.reason) == ("expired", "max_duration")


def test_an_active_account_exports_a_scenario_that_replays_to_its_figures(started, run_commits):
    _, account = started
    run_commits(trade, account.trading_account, "buy", "1", "a1")
    set_prices(BTC="60300")
    evaluated = run_commits(evaluation_sync, account_id=account.pk)
    assert evaluated.status == "active"
    assert_replays_to_what_the_account_shows(evaluated)


@pytest.mark.django_db(transaction=True)
def test_export_scenario_and_replay_scenario_agree_as_commands(service_env, tmp_path):
    load_instruments()
    set_prices(BTC="60000")
    challenge = challenge_start(
        trader=UserFactory(),
        plan=make_plan("cmd"),
        purchase_ref="pay-cmd",
        price_paid=Decimal("100"),
    )
    account = challenge.accounts.get()
    trade(account.trading_account, "buy", "10", "cmd-open")
    set_prices(BTC="59200")
    evaluation_sync(account_id=account.pk)
    path = tmp_path / "account.json"
    exported = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "export_scenario",
            str(account.trading_account_id),
            "-o",
            str(path),
        ],
        cwd=ROOT,
        env=service_env,
        capture_output=True,
        text=True,
    )
    assert exported.returncode == 0, exported.stderr
    replayed = subprocess.run(
        [sys.executable, "manage.py", "replay_scenario", str(path)],
        cwd=ROOT,
        env=service_env,
        capture_output=True,
        text=True,
    )
    result = json.loads(replayed.stdout)
    account.refresh_from_db()
    assert (result["status"], result["reason"]) == ("failed", "daily_loss")
    assert result == account_rule_view(account)["result"]


def test_a_firm_admin_funds_a_hired_trader_directly(started):
    challenge, _ = started
    admin = UserFactory(is_staff=True)
    funded = funded_account_open(
        trader=UserFactory(),
        ruleset=challenge.plan.funded_ruleset,
        allocation=Decimal("250000"),
        actor=admin,
        reason="hired desk",
    )
    assert (funded.stage, funded.challenge, funded.trading_account.balance) == (
        "funded",
        None,
        Decimal("250000"),
    )
    with pytest.raises(LifecycleError, match="Say why"):
        funded_account_open(
            trader=UserFactory(),
            ruleset=challenge.plan.funded_ruleset,
            allocation=Decimal("1000"),
            actor=admin,
            reason=" ",
        )


def test_terminating_an_account_flattens_and_closes_it(started, run_commits):
    challenge, account = started
    run_commits(trade, account.trading_account, "buy", "1", "t1")
    admin = UserFactory(is_staff=True)
    closed = run_commits(account_terminate, account=account, actor=admin, reason="abuse")
    run_commits(outbox_dispatch)
    closed.trading_account.refresh_from_db()
    assert closed.trading_account.status == "closed"
    assert Order.objects.filter(origin="system_flatten", status="filled").count() == 1
    challenge.refresh_from_db()
    assert challenge.status == "terminated"
    assert AuditEvent.objects.filter(action="account.terminate", actor=admin).exists()


def test_the_admin_shows_headroom_and_the_breach_report_with_its_scenario(
    started, run_commits, admin_client_mfa
):
    client, _ = admin_client_mfa
    _, account = started
    run_commits(trade, account.trading_account, "buy", "10", "adm-open")
    set_prices(BTC="59200")
    run_commits(evaluation_sync, account_id=account.pk)
    page = client.get(f"/admin/challenges/evaluatedaccount/{account.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200 and "daily_loss" in html and "download the scenario" in html
    scenario = client.get(f"/admin/challenges/evaluatedaccount/{account.pk}/scenario.json")
    document = json.loads(scenario.content)
    assert replay(parse_scenario(json.dumps(document)))["reason"] == "daily_loss"


def test_terminate_in_the_admin_needs_a_reason(started, admin_client_mfa):
    client, _ = admin_client_mfa
    _, account = started
    response = client.post(
        f"/admin/challenges/evaluatedaccount/{account.pk}/terminate/", {"reason": ""}
    )
    assert "This field is required" in response.content.decode()
    account.refresh_from_db()
    assert account.closed_at is None
