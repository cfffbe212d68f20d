from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.db import IntegrityError, transaction

from apps.core.models import AuditEvent
from apps.market.models import FeeSchedule
from apps.market.selectors import fee_schedule_default
from apps.market.services import MarketError, fee_schedule_save

pytestmark = pytest.mark.django_db


def test_the_default_schedule_is_hyperliquids_base_tier():
    schedule = fee_schedule_default()
    assert schedule.pk is not None  # made by the migration
    assert (schedule.taker_rate, schedule.maker_rate) == (D("0.00045"), D("0.00015"))


def test_making_another_schedule_the_default_unsets_the_first():
    first = fee_schedule_default()
    vip = fee_schedule_save(
        schedule_id=None, name="VIP", taker_rate="0.0003", maker_rate="0", is_default=True
    )
    first.refresh_from_db()
    assert vip.is_default and not first.is_default
    assert fee_schedule_default() == vip
    assert AuditEvent.objects.filter(action="market.fee_schedule_saved").count() == 2


def test_the_default_cannot_be_unset_directly():
    default = fee_schedule_default()
    with pytest.raises(MarketError, match="make another schedule the default"):
        fee_schedule_save(
            schedule_id=default.pk,
            name=default.name,
            taker_rate=default.taker_rate,
            maker_rate=default.maker_rate,
            is_default=False,
        )
    assert FeeSchedule.objects.filter(is_default=True).count() == 1


@pytest.mark.parametrize(
    ("taker", "maker", "message"),
    [
        ("0.045", "0.015", "not percentages"),
        ("-0.0001", "0", "outside 0"),
        ("0.0003", "0.0004", "between minus and plus the taker rate"),
        ("0.0003", "-0.0005", "between minus and plus the taker rate"),
        ("abc", "0", "decimal"),
    ],
)
def test_an_impossible_rate_is_refused_and_nothing_changes(taker, maker, message):
    default = fee_schedule_default()
    with pytest.raises(MarketError, match=message):
        fee_schedule_save(
            schedule_id=default.pk, name="X", taker_rate=taker, maker_rate=maker, is_default=True
        )
    default.refresh_from_db()
    assert (default.name, default.taker_rate) == ("Hyperliquid base tier", D("0.00045"))


def test_the_database_holds_one_default_at_most():
    with pytest.raises(IntegrityError), transaction.atomic():
        FeeSchedule.objects.create(
            name="Second", is_default=True, updated_at=fee_schedule_default().updated_at
        )
