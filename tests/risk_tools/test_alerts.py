"""Concentration alerts: raised once per kind, coin and direction, pushed to `risk.alerts`
after commit, open until a risk manager acknowledges them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.core.models import AuditEvent
from apps.risk.alerts import alert_acknowledge, concentration_scan
from apps.risk.models import Alert, ConcentrationRule
from apps.risk.services import RiskError
from apps.trading.models import Position, TradingAccount, Venue
from tests.pushes import run_and_receive
from tests.risk.support import person

pytestmark = pytest.mark.django_db


def holding(coin: str, size: str, *, venue: str = Venue.HYPERLIQUID) -> TradingAccount:
    account = TradingAccount.objects.create(owner=person(), venue=venue)
    Position.objects.create(account=account, coin=coin, size=Decimal(size), entry_price=60000)
    return account


def test_net_exposure_over_the_threshold_raises_one_alert_pushed_after_commit(market, run_commits):
    ConcentrationRule.objects.create(coin="BTC", max_net_notional=Decimal("100000"))
    holding("BTC", "1")
    holding("BTC", "1")  # 120,000 long at 60,000
    holding("BTC", "5", venue=Venue.PAPER)  # simulated: not the firm's capital
    raised, message = run_and_receive(["risk.alerts"], lambda: run_commits(concentration_scan))

    (alert,) = raised
    assert (alert.kind, alert.coin, alert.direction) == ("net_exposure", "BTC", "long")
    assert "120,000.00" in alert.message
    assert message["type"] == "risk.alert" and message["alert"]["id"] == alert.pk
    assert run_commits(concentration_scan) == []  # still open: no second alert


def test_many_traders_on_one_side_raise_a_crowding_alert_labelled_simulated(market):
    ConcentrationRule.objects.create(coin="", min_traders=3)
    holding("ETH", "2")
    holding("ETH", "1", venue=Venue.PAPER)
    holding("ETH", "1", venue=Venue.PAPER)
    holding("ETH", "-1")
    (alert,) = concentration_scan()
    assert (alert.kind, alert.coin, alert.direction, alert.simulated) == (
        "crowding",
        "ETH",
        "long",
        True,
    )
    assert "3 traders are long ETH (2 simulated" in alert.message


def test_an_acknowledged_alert_is_audited_and_a_new_one_may_open(market, risk_manager):
    ConcentrationRule.objects.create(coin="BTC", max_net_notional=Decimal("1000"))
    holding("BTC", "-1")
    (alert,) = concentration_scan()
    with pytest.raises(RiskError, match="Only a risk manager"):
        alert_acknowledge(alert=alert, actor=person(), note="")
    alert_acknowledge(alert=alert, actor=risk_manager, note="hedged at the venue")
    alert.refresh_from_db()
    assert alert.acknowledged_by == risk_manager and not alert.is_open
    event = AuditEvent.objects.get(action="risk.alert.acknowledge")
    assert event.after["note"] == "hedged at the venue"
    (again,) = concentration_scan()
    assert again.pk != alert.pk and Alert.objects.count() == 2
