"""The firm's exposure limit: only accounts on a live venue (real capital) count toward it; paper
accounts are reported beside them as simulated. Orders on a live venue are refused before
anything is sent, so no venue call is needed here."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from apps.core.models import AuditEvent
from apps.risk.models import FirmExposureLimit
from apps.risk.selectors import firm_exposure, firm_snapshot
from apps.risk.services import RiskError, firm_exposure_limit_clear, firm_exposure_limit_set
from apps.trading.models import Order, Position, TradingAccount
from apps.trading.services import OrderRefused
from tests.risk.support import person, submit

pytestmark = pytest.mark.django_db


def live_account(ref: str, btc: str | None = None) -> TradingAccount:
    account = TradingAccount.objects.create(owner=person(), venue="hyperliquid", venue_ref=ref)
    if btc is not None:
        Position.objects.create(account=account, coin="BTC", size=Decimal(btc), entry_price=50000)
    return account


def paper_account(btc: str | None = None) -> TradingAccount:
    account = TradingAccount.objects.create(owner=person(), venue="paper")
    if btc is not None:
        Position.objects.create(account=account, coin="BTC", size=Decimal(btc), entry_price=50000)
    return account


@pytest.fixture
def btc_long_cap(market, risk_manager):
    """The firm carries at most 100,000 of real net long BTC."""
    return firm_exposure_limit_set(
        coin="BTC",
        direction="long",
        max_notional=Decimal("100000"),
        reason="desk limit",
        actor=risk_manager,
    )


def refused_code(account, **fields) -> str:
    with pytest.raises(OrderRefused) as caught, transaction.atomic():
        submit(account, **fields)
    return caught.value.code


def test_a_live_order_beyond_the_firms_real_limit_is_refused_and_writes_nothing(btc_long_cap):
    live_account("sub-1", btc="1")  # 60,000 at the mark
    trader = live_account("sub-2")
    assert refused_code(trader, size="0.7") == "firm_exposure_limit"  # 102,000
    assert not Order.objects.exists()
    submit(trader, size="0.6")  # 96,000
    assert Order.objects.count() == 1


def test_paper_positions_do_not_count_toward_the_firms_real_limit(btc_long_cap):
    paper_account(btc="10")  # 600,000 simulated
    trader = live_account("sub-1")
    submit(trader, size="1.5")  # 90,000 real


def test_a_paper_order_is_not_refused_by_the_firms_real_limit(btc_long_cap):
    live_account("sub-1", btc="5")  # 300,000 real: already over
    submit(paper_account(), size="2")


def test_a_live_order_that_lowers_the_firms_real_exposure_passes_over_the_limit(btc_long_cap):
    over = live_account("sub-1", btc="5")
    submit(over, side="sell", size="1")


def test_the_short_side_has_its_own_limit(btc_long_cap, risk_manager):
    firm_exposure_limit_set(
        coin="BTC", direction="short", max_notional=Decimal("50000"), reason="x", actor=risk_manager
    )
    trader = live_account("sub-1")
    assert refused_code(trader, side="sell", size="1") == "firm_exposure_limit"  # 60,000 short
    submit(trader, side="sell", size="0.8")  # 48,000


def test_firm_exposure_reports_real_and_simulated_apart_at_the_mark(market):
    live_account("sub-1", btc="2")
    live_account("sub-2", btc="-0.5")
    paper_account(btc="3")
    paper_account(btc="-1")
    btc = firm_exposure()["BTC"]
    assert (btc.real_long, btc.real_short, btc.real_net) == (
        Decimal("120000"),
        Decimal("30000"),
        Decimal("90000"),
    )
    assert (btc.simulated_long, btc.simulated_short) == (Decimal("180000"), Decimal("60000"))


def test_the_firms_figure_is_cached_for_about_a_second(market, django_assert_num_queries):
    live_account("sub-1", btc="1")
    first = firm_snapshot()
    assert first.real_net["BTC"] == Decimal("60000")
    live_account("sub-2", btc="1")
    with django_assert_num_queries(0):
        assert firm_snapshot() is first  # a fill within the second shows on the next one


def test_firm_limits_are_audited_and_need_a_risk_manager(market, risk_manager):
    with pytest.raises(RiskError) as caught:
        firm_exposure_limit_set(
            coin="BTC", direction="long", max_notional=Decimal(1), reason="x", actor=person()
        )
    assert caught.value.code == "permission_denied"
    with pytest.raises(RiskError):
        firm_exposure_limit_set(
            coin="BTC", direction="up", max_notional=Decimal(1), reason="x", actor=risk_manager
        )
    firm_exposure_limit_set(
        coin="BTC", direction="long", max_notional=Decimal(5), reason="a", actor=risk_manager
    )
    firm_exposure_limit_set(
        coin="BTC", direction="long", max_notional=Decimal(7), reason="b", actor=risk_manager
    )
    firm_exposure_limit_clear(coin="BTC", direction="long", reason="c", actor=risk_manager)
    assert not FirmExposureLimit.objects.exists()
    events = AuditEvent.objects.filter(subject_id="BTC:long").order_by("seq")
    assert [(e.before["max_notional"], e.after["max_notional"]) for e in events] == [
        (None, "5.00"),
        ("5.00", "7.00"),
        ("7.00", None),
    ]
