from __future__ import annotations

import copy
from decimal import Decimal as D

import pytest

from apps.core.models import AuditEvent
from apps.market.meta import MetaError
from apps.market.models import Instrument
from apps.market.services import instrument_set_active, instruments_load
from tests.market.helpers import cassette_answer, recorded_ctxs, sample

pytestmark = pytest.mark.django_db


def snapshot() -> list[tuple]:
    return list(Instrument.objects.order_by("coin").values_list())


def test_the_recorded_meta_loads_every_perpetual_with_its_parameters():
    meta = cassette_answer("test_get_info.yaml", "meta")
    result = instruments_load(payload=meta, source="test_get_info.yaml")
    assert len(result.created) == 28
    btc, sol = Instrument.objects.get(coin="BTC"), Instrument.objects.get(coin="SOL")
    assert (btc.asset_index, btc.sz_decimals, btc.max_leverage) == (0, 5, 50)
    assert (sol.asset_index, sol.sz_decimals) == (5, 2)
    # The 2023 recording predates onlyIsolated and isDelisted: absent means false.
    assert not btc.only_isolated and not btc.is_delisted and btc.active
    assert btc.mark_px is None  # a plain meta answer has no prices
    event = AuditEvent.objects.get(action="market.instruments_loaded")
    assert event.after["shape"] == "meta" and len(event.after["created"]) == 28


def test_the_newer_sample_meta_with_nulls_updates_leverage_caps():
    instruments_load(payload=cassette_answer("test_get_info.yaml", "meta"), source="2023")
    result = instruments_load(payload=sample("http_meta_perp_sample.json"), source="sample")
    assert result.updated == {
        "BTC": ["max_leverage"],
        "ETH": ["max_leverage"],
        "ATOM": ["max_leverage"],
    }
    assert Instrument.objects.get(coin="BTC").max_leverage == 40
    assert Instrument.objects.get(coin="ATOM").max_leverage == 5


def test_meta_and_asset_ctxs_loads_parameters_and_prices():
    # The sample meta's coins are assets 0, 1, 2 (BTC, ETH, ATOM), so the recorded contexts at
    # those indexes pair with them as a metaAndAssetCtxs answer would.
    ctxs = recorded_ctxs()
    payload = [sample("http_meta_perp_sample.json"), [ctxs["BTC"], ctxs["ETH"], ctxs["ATOM"]]]
    instruments_load(payload=payload, source="metaAndAssetCtxs")
    btc = Instrument.objects.get(coin="BTC")
    assert btc.mark_px == D("77562.0") and btc.oracle_px == D("77605.0")
    assert btc.mid_px == D("77558.5") and btc.funding_rate == D("-0.0000015186")
    assert btc.open_interest == D("27353.17682") and btc.prices_at is not None
    assert btc.reference_price == D("77562.0")
    event = AuditEvent.objects.get(action="market.instruments_loaded")
    assert event.after["shape"] == "metaAndAssetCtxs"


def test_a_context_without_a_book_keeps_mid_empty():
    # The recorded MATIC context (asset 3, delisted upstream) has midPx null.
    ctx = recorded_ctxs()["MATIC"]
    assert ctx["midPx"] is None
    payload = [{"universe": [{"name": "MATIC", "szDecimals": 1, "maxLeverage": 50}]}, [ctx]]
    instruments_load(payload=payload, source="test")
    matic = Instrument.objects.get(coin="MATIC")
    assert matic.mid_px is None and matic.mark_px == D("0.37621")


def test_loading_the_same_payload_again_changes_nothing_and_audits_nothing():
    meta = cassette_answer("test_get_info.yaml", "meta")
    instruments_load(payload=meta, source="first")
    before = snapshot()
    result = instruments_load(payload=meta, source="again")
    assert not result.changed and result.unchanged == 28
    assert snapshot() == before
    assert AuditEvent.objects.filter(action="market.instruments_loaded").count() == 1


def test_a_delisting_withdraws_the_instrument_and_relisting_leaves_that_to_the_firm():
    meta = sample("http_meta_perp_sample.json")
    instruments_load(payload=meta, source="test")
    delisted = copy.deepcopy(meta)
    delisted["universe"][2]["isDelisted"] = True
    instruments_load(payload=delisted, source="test")
    atom = Instrument.objects.get(coin="ATOM")
    assert atom.is_delisted and not atom.active
    instruments_load(payload=meta, source="test")
    atom.refresh_from_db()
    assert not atom.is_delisted and not atom.active
    instrument_set_active(instrument_id=atom.pk, active=True)
    atom.refresh_from_db()
    assert atom.active


def test_margin_tiers_are_kept_where_the_answer_has_them():
    meta = {
        "universe": [{"name": "BTC", "szDecimals": 5, "maxLeverage": 40, "marginTableId": 56}],
        "marginTables": [
            [
                56,
                {
                    "description": "tiered 40x",
                    "marginTiers": [
                        {"lowerBound": "0.0", "maxLeverage": 40},
                        {"lowerBound": "150000000.0", "maxLeverage": 20},
                    ],
                },
            ]
        ],
    }
    instruments_load(payload=meta, source="test")
    btc = Instrument.objects.get(coin="BTC")
    assert btc.margin_table_id == 56
    assert btc.margin_tiers == [
        {"lower_bound": "0.0", "max_leverage": 40},
        {"lower_bound": "150000000.0", "max_leverage": 20},
    ]


def _meta() -> dict:
    return copy.deepcopy(sample("http_meta_perp_sample.json"))


def _with(change):
    def build():
        payload = _meta()
        change(payload)
        return payload

    return build


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: "not json at all", "expected a meta object or a \\[meta, ctxs\\] list"),
        (lambda: {"universes": []}, "meta.universe is missing"),
        (lambda: {"universe": []}, "meta.universe is empty"),
        (
            _with(lambda p: p["universe"][1].pop("szDecimals")),
            r"universe\[1\].szDecimals is missing",
        ),
        (_with(lambda p: p["universe"][0].update(maxLeverage="40")), "maxLeverage is '40'"),
        (_with(lambda p: p["universe"][0].update(maxLeverage=0)), "outside 1..1000"),
        (_with(lambda p: p["universe"][2].update(name="")), r"universe\[2\].name is missing"),
        (_with(lambda p: p["universe"][2].update(name="BTC")), "BTC appears twice"),
        (_with(lambda p: p["universe"][0].update(isDelisted="yes")), "not true or false"),
        (lambda: [_meta(), [{}, {}]], "3 instruments but there are 2 asset contexts"),
        (lambda: [_meta()], "this list has 1 items"),
        (lambda: [_meta(), [{"markPx": 77562.0}, {}, {}]], r"\[1\]\[0\] \(BTC\).markPx is 77562.0"),
        (lambda: [_meta(), [{"funding": "abc"}, {}, {}]], "funding is 'abc', not a decimal"),
    ],
)
def test_a_malformed_payload_is_refused_naming_the_fault_and_nothing_changes(build, message):
    instruments_load(payload=_meta(), source="before")
    before = snapshot()
    events = AuditEvent.objects.count()
    with pytest.raises(MetaError, match=message):
        instruments_load(payload=build(), source="bad")
    assert snapshot() == before
    assert AuditEvent.objects.count() == events


def test_a_payload_bad_only_at_its_end_writes_none_of_its_good_part():
    payload = _meta()
    payload["universe"].append({"name": "NEW", "szDecimals": 9, "maxLeverage": 3})
    payload["universe"][0]["maxLeverage"] = 33
    with pytest.raises(MetaError, match=r"universe\[3\].szDecimals is 9"):
        instruments_load(payload=payload, source="bad")
    assert not Instrument.objects.exists()
