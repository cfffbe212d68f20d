"""A trader with a phase-1 account bought through billing, and a market with prices."""

from __future__ import annotations

import pytest

from tests.billing.support import a_plan, bought
from tests.factories import UserFactory
from tests.trading.market import load_instruments, set_prices


@pytest.fixture
def run_commits(django_capture_on_commit_callbacks):
    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


@pytest.fixture
def market():
    load_instruments()
    set_prices(BTC="60000", ETH="3000")


@pytest.fixture
def trader(market, run_commits):
    """(user, trading account) in phase 1 of a 2-step plan (its paper book opened)."""
    user = UserFactory()
    purchase = run_commits(bought, user, a_plan("portal-2step"))
    account = purchase.challenge.accounts.get()
    return user, account.trading_account
