"""A risk manager's interventions hold at the gate from the next order on, each audited with
its reason, each refused to anyone without the risk permission."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from apps.challenges.lifecycle import challenge_start
from apps.core.models import AuditEvent
from apps.risk.interventions import (
    account_limit_reduce,
    account_positions_close,
    account_state_intervene,
)
from apps.risk.services import RiskError
from apps.trading.models import Order, TradingState
from apps.trading.services import OrderRefused, TradingError, account_set_state
from tests.challenges.lifecycle_support import make_plan, trade
from tests.risk.support import person, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(market, run_commits):
    challenge = run_commits(
        challenge_start,
        trader=person(),
        plan=make_plan("tools"),
        purchase_ref="tools-1",
        price_paid=Decimal(1),
    )
    return challenge.accounts.get().trading_account


def refused(account, **fields) -> OrderRefused:
    with pytest.raises(OrderRefused) as caught, transaction.atomic():
        submit(account, **fields)
    return caught.value


def test_a_suspended_account_refuses_trader_orders_until_a_risk_manager_lifts_it(
    account, risk_manager, second_risk_manager
):
    account_state_intervene(
        account=account, state="suspended", reason="odd activity", actor=risk_manager
    )
    assert refused(account).code == "account_suspended"
    # any risk manager lifts it, not only the one who set it
    account_state_intervene(
        account=account, state="active", reason="checked: fine", actor=second_risk_manager
    )
    assert submit(account).status == "pending"
    actions = list(
        AuditEvent.objects.filter(action="risk.intervention.state").values_list("after", flat=True)
    )
    assert [a["state"] for a in actions] == ["suspended", "active"]
    assert actions[0]["reason"] == "odd activity"


def test_reducing_lets_only_risk_reducing_orders_through(account, risk_manager, run_commits):
    run_commits(trade, account, "buy", "1", "open")
    account_state_intervene(account=account, state="reducing", reason="near", actor=risk_manager)
    assert refused(account).code == "account_reducing"
    assert submit(account, side="sell", size="0.5", reduce_only=True).status == "pending"


def test_a_halt_set_by_hand_is_not_lifted_by_hand(account, risk_manager):
    account_state_intervene(account=account, state="halted", reason="fraud?", actor=risk_manager)
    assert refused(account).code == "account_halted"
    with pytest.raises(RiskError, match="four eyes"):
        account_state_intervene(account=account, state="active", reason="x", actor=risk_manager)
    with pytest.raises(TradingError, match="four eyes"):
        account_set_state(account=account, state="active", reason="x")
    account.refresh_from_db()
    assert account.state == TradingState.HALTED


def test_interventions_need_a_reason_and_the_risk_permission(account, risk_manager):
    with pytest.raises(RiskError, match="reason"):
        account_state_intervene(account=account, state="suspended", reason=" ", actor=risk_manager)
    with pytest.raises(RiskError, match="Only a risk manager"):
        account_state_intervene(account=account, state="suspended", reason="x", actor=person())
    account.refresh_from_db()
    assert account.state == TradingState.ACTIVE
    assert not AuditEvent.objects.filter(action__startswith="risk.intervention").exists()


def test_a_reduced_limit_holds_from_the_next_order(account, risk_manager):
    account_limit_reduce(
        account=account,
        field="max_order_notional",
        value="1000",
        reason="cut",
        actor=risk_manager,
    )
    assert refused(account).code == "order_notional_too_large"


def test_closing_positions_sends_reduce_only_risk_manager_orders_even_when_suspended(
    account, risk_manager, run_commits
):
    run_commits(trade, account, "buy", "2", "open")
    account_state_intervene(account=account, state="suspended", reason="r", actor=risk_manager)
    orders = run_commits(
        account_positions_close,
        account=account,
        coins=None,
        reason="flatten for review",
        actor=risk_manager,
        key="k1",
        fraction=Decimal("0.5"),
    )
    (order,) = orders
    assert (order.origin, order.side, order.size, order.reduce_only) == (
        "risk_manager",
        "sell",
        Decimal("1"),
        True,
    )
    again = account_positions_close(
        account=account,
        coins=None,
        reason="again",
        actor=risk_manager,
        key="k1",
        fraction=Decimal("0.5"),
    )
    assert again[0].pk == order.pk and Order.objects.filter(origin="risk_manager").count() == 1
    assert AuditEvent.objects.get(action="risk.intervention.close").after["reason"] == (
        "flatten for review"
    )
