"""The Celery drawdown sweep, the live engine's backstop: the same rules engine over the journal
and the latest marks, for accounts no frame reached."""

from __future__ import annotations

import pytest

from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.risk.tasks import drawdown_sweep_task
from apps.trading.models import Order, TradingAccount
from tests.risk_engine.support import market, open_accounts, trade
from tests.trading.market import set_prices

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_drawdown_sweep_fails_halts_and_flattens_an_account_no_frame_reached():
    market()
    breached, safe = open_accounts(2)
    trade(breached, "buy", "4")
    set_prices(BTC="57000")  # the latest frame, with no risk engine running to see it
    assert drawdown_sweep_task.apply().get() == 2
    account = EvaluatedAccount.objects.get(pk=breached.pk)
    assert (account.status, account.reason) == ("failed", "max_loss")
    assert TradingAccount.objects.get(pk=breached.trading_account_id).state == "halted"
    assert Order.objects.filter(
        account_id=breached.trading_account_id, origin="system_flatten"
    ).exists()
    assert EvaluatedAccount.objects.get(pk=safe.pk).status == "active"
