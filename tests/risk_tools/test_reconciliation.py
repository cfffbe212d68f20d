"""The daily reconciliation finds a venue's book that moved behind our back."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.risk.models import Alert, ReconciliationDifference
from apps.risk.reconciliation import reconciliation_run
from apps.trading.models import PaperBook
from apps.trading.services import account_open, venue_account_of
from tests.challenges.lifecycle_support import trade
from tests.risk.support import person

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(market, run_commits):
    account = run_commits(
        account_open, owner=person(), starting_balance=Decimal("50000"), key="recon"
    )
    run_commits(trade, account, "buy", "0.5", "recon-open")
    return account


def test_books_that_agree_show_no_difference(account, run_commits):
    run = run_commits(reconciliation_run)
    assert (run.accounts_checked, run.differences_found) == (1, 0)
    assert not Alert.objects.exists()


def test_a_paper_book_edited_behind_our_back_is_a_difference_and_an_alert(account, run_commits):
    book = PaperBook.objects.get(venue_account=venue_account_of(account))
    state = book.state
    state["book"]["balance"] = str(Decimal(state["book"]["balance"]) + 1000)
    state["book"]["positions"]["BTC"]["size"] = "0.7"
    book.state = state
    book.save()

    run = run_commits(reconciliation_run)

    found = {(d.kind, d.coin, d.ours, d.theirs) for d in run.differences.all()}
    assert ("position", "BTC", "0.5", "0.7") in found
    assert any(d.kind == "balance" for d in run.differences.all())
    assert ReconciliationDifference.objects.filter(account=account).count() == 2
    alerts = Alert.objects.filter(kind="reconciliation")
    assert alerts.count() == 2 and all(a.simulated for a in alerts)
    assert "differs" in alerts.first().message
