from __future__ import annotations

from decimal import Decimal as D

import pytest

from apps.core.models import AuditEvent
from apps.market import recorded
from apps.market.demo import seed
from apps.market.models import Candle, FeeSchedule, Instrument
from apps.market.selectors import fee_schedule_default
from tests.market.helpers import fixture

pytestmark = pytest.mark.django_db


def test_the_demo_loads_the_recorded_universe_with_recorded_starting_prices():
    fixture("samples/http_meta_perp_sample.json")  # skips where ../shared is absent
    lines = seed()
    assert Instrument.objects.count() == 28
    btc, eth, sol = (Instrument.objects.get(coin=c) for c in ("BTC", "ETH", "SOL"))
    # Parameters: the newest recording wins (the sample's 40x and 25x over 2023's 50x).
    assert (btc.sz_decimals, btc.max_leverage) == (5, 40)
    assert (eth.sz_decimals, eth.max_leverage) == (4, 25)
    assert sol.sz_decimals == 2
    # Starting prices: the newer websocket mids for the three, 2023's allMids for the rest.
    assert (btc.reference_price, eth.reference_price, sol.reference_price) == (
        D("80868.5"),
        D("2296.45"),
        D("94.8775"),
    )
    assert Instrument.objects.get(coin="kPEPE").reference_price == D("0.001565")
    assert any("demo coins: BTC 80868.5" in line for line in lines)


def test_seeding_the_demo_again_changes_nothing():
    seed()
    rows = list(Instrument.objects.order_by("coin").values_list())
    events = AuditEvent.objects.count()
    seed()
    assert list(Instrument.objects.order_by("coin").values_list()) == rows
    assert AuditEvent.objects.count() == events


def test_without_shared_the_demo_falls_back_to_btc_eth_sol_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(recorded, "fixtures_dir", lambda: tmp_path / "absent")
    lines = seed()
    assert "using the built-in list" in lines[0]
    coins = {
        i.coin: (i.sz_decimals, i.max_leverage, i.reference_price) for i in Instrument.objects.all()
    }
    assert coins == {
        "BTC": (5, 40, D("80868.5")),
        "ETH": (4, 25, D("2296.45")),
        "SOL": (2, 20, D("94.8775")),
    }


def test_the_admin_lists_and_searches_instruments_and_withdraws_one(admin_client_mfa):
    client, _ = admin_client_mfa
    seed()
    page = client.get("/admin/market/instrument/?q=SOL").content.decode()
    assert "SOL" in page and "kPEPE" not in page
    sol = Instrument.objects.get(coin="SOL")
    response = client.post(f"/admin/market/instrument/{sol.pk}/change/", {"active": ""})
    assert response.status_code == 302
    sol.refresh_from_db()
    assert not sol.active
    assert AuditEvent.objects.filter(action="market.instrument_withdrawn").count() == 1


def test_the_admin_refuses_a_percentage_typed_as_a_fee_rate(admin_client_mfa):
    client, _ = admin_client_mfa
    default = fee_schedule_default()
    url = f"/admin/market/feeschedule/{default.pk}/change/"
    form = {"name": default.name, "taker_rate": "0.045", "maker_rate": "0.015", "is_default": "on"}
    response = client.post(url, form)
    assert response.status_code == 200 and "not percentages" in response.content.decode()
    default.refresh_from_db()
    assert default.taker_rate == D("0.00045")
    form.update(taker_rate="0.0004", maker_rate="0.0001")
    assert client.post(url, form).status_code == 302
    default.refresh_from_db()
    assert (default.taker_rate, default.maker_rate) == (D("0.0004"), D("0.0001"))
    assert FeeSchedule.objects.filter(is_default=True).count() == 1


def test_candles_are_read_only_in_the_admin(admin_client_mfa):
    client, _ = admin_client_mfa
    assert client.get("/admin/market/candle/").status_code == 200
    assert client.get("/admin/market/candle/add/").status_code == 403
    assert not Candle.objects.exists()


def test_the_admin_makes_a_new_schedule_the_default_in_one_step(admin_client_mfa):
    client, _ = admin_client_mfa
    form = {"name": "VIP", "taker_rate": "0.0003", "maker_rate": "0", "is_default": "on"}
    response = client.post("/admin/market/feeschedule/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert fee_schedule_default().name == "VIP"
    assert FeeSchedule.objects.filter(is_default=True).count() == 1
