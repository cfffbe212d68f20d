from __future__ import annotations

import pytest

from apps.accounts import roles
from apps.risk.selectors import firm_snapshot_clear
from tests.risk.support import person
from tests.trading.market import load_instruments, set_prices


@pytest.fixture(autouse=True)
def _fresh_firm_figure():
    firm_snapshot_clear()
    yield
    firm_snapshot_clear()


@pytest.fixture
def market():
    load_instruments()
    set_prices(BTC="60000", ETH="3000", SOL="150")


@pytest.fixture
def risk_manager():
    return person(roles.RISK_MANAGER, is_staff=True)


@pytest.fixture
def second_risk_manager():
    return person(roles.RISK_MANAGER, is_staff=True)


@pytest.fixture
def run_commits(django_capture_on_commit_callbacks):
    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run
