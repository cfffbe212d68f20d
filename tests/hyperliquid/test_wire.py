"""Reading Hyperliquid's answers, on the recorded payloads (old shapes included), and building
our orders on its grid. Pure: no database, no network."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from apps.trading.venues.base import OrderRequest, OrderStatus
from apps.trading.venues.hyperliquid import budget, wire
from apps.trading.venues.hyperliquid.ordering import OrderShapeError, wire_order
from tests.hyperliquid.fake import recorded_answers, sample

FILLS_USER = "0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2"
STATE_USER = "0x5e9ee1089755c3435139848e47e6635505d5a13a"
CLOID = "0x" + "ab" * 16


@pytest.fixture(scope="module")
def recorded():
    return recorded_answers()


def test_recorded_2023_fills_without_tid_each_get_a_distinct_stable_id(recorded):
    raw = recorded[("userFillsByTime", FILLS_USER)]
    assert len(raw) == 500 and not any("tid" in f for f in raw)
    fills = [wire.fill(f) for f in raw]
    # hash + oid alone is shared by up to 7 fills of one order in this recording.
    assert len({f.fill_id for f in fills}) == 500
    assert [wire.fill(f).fill_id for f in raw] == [f.fill_id for f in fills]
    first = fills[0]
    assert (first.coin, first.side, first.size, first.price) == (
        "SUI",
        "sell",
        D("142.7"),
        D("1.3189"),
    )
    assert first.client_id is None and first.liquidity == "taker" and first.fee == D("0.0")
    assert first.cursor == 1683245884863 and first.at.year == 2023


def test_modern_fills_use_the_trade_id_and_skip_spot():
    raw = sample("http_user_fills_dust_conversion.json")
    fills = [wire.fill(f) for f in raw]
    perps = [f for f in fills if f is not None]
    assert [f.coin for f in perps] == ["ARB", "JUP", "MANTA"]  # @156 and @142 are spot
    assert perps[0].fill_id == "hl-t17679709382320" and perps[0].liquidity == "maker"


def test_a_liquidation_fill_has_no_client_id():
    raw = sample("ws_user_fill_liquidation.json")["data"]["fills"][0]
    fill = wire.fill(raw)
    assert fill.client_id is None and fill.fill_id == "hl-t745210434703679"
    assert fill.fee == D("0.009997") and fill.side == "sell"
    ours = dict(raw, liquidation=None, cloid=CLOID)
    assert wire.fill(ours).client_id == CLOID


def test_recorded_funding_is_signed_from_the_account_side(recorded):
    raw = recorded[("userFunding", FILLS_USER)]
    payments = [wire.funding(f) for f in raw]
    assert len({p.funding_id for p in payments}) == len(raw) == 218
    ape = payments[0]
    # A long (szi 40.13) at a negative rate receives: usdc +0.145796.
    assert (ape.coin, ape.amount, ape.rate) == ("APE", D("0.145796"), D("-0.00029319"))


def test_a_2023_clearinghouse_state_gives_cash_and_positions(recorded):
    state = recorded[("clearinghouseState", STATE_USER)]
    assert "time" not in state and "crossMaintenanceMarginUsed" not in state
    result = wire.balance(state)
    assert len(result.positions) == 12
    unrealized = sum(D(p["position"]["unrealizedPnl"]) for p in state["assetPositions"])
    assert result.balance == D("1182.312496") - unrealized
    btc = result.positions[0]
    assert (btc.coin, btc.size, btc.entry_price) == ("BTC", D("-0.00785"), D("26951.0"))
    assert wire.state_time(state) is None


def test_a_state_sample_with_only_cross_margin_is_read():
    result = wire.balance(sample("http_clearinghouse_state_negative_total_raw_usd.json"))
    assert result.balance == D("1736.030875") and result.positions == []


def test_a_malformed_fill_names_the_field():
    with pytest.raises(wire.WireError, match="fill.px"):
        wire.fill({"coin": "BTC", "side": "B", "time": 1, "sz": "1", "px": None})
    with pytest.raises(wire.WireError, match="not an object"):
        wire.balance("Could not parse")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"error": "Order must have minimum value of $10."},
            OrderStatus(CLOID, "rejected", reason="Order must have minimum value of $10."),
        ),
        ({"resting": {"oid": 77738308}}, OrderStatus(CLOID, "open")),
        (
            {"filled": {"totalSz": "0.02", "avgPx": "1891.4", "oid": 77747314}},
            OrderStatus(CLOID, "filled", filled_size=D("0.02")),
        ),
        ("waitingForTrigger", OrderStatus(CLOID, "open")),
    ],
)
def test_each_order_status_of_a_batch_answer_maps_to_ours(entry, expected):
    answer = {"status": "ok", "response": {"type": "order", "data": {"statuses": [entry]}}}
    statuses = wire.order_statuses(wire.exchange_data(answer, "order"))
    assert wire.order_outcome(CLOID, statuses[0])[0] == expected


def test_a_refused_action_carries_the_venues_words():
    with pytest.raises(wire.RefusedByVenue, match="does not exist"):
        wire.exchange_data(
            {"status": "err", "response": "User or API Wallet 0x1 does not exist."}, "order"
        )


@pytest.mark.parametrize(
    ("status", "sz", "expected"),
    [
        ("open", "0.5", OrderStatus(CLOID, "open", filled_size=D("0.5"))),
        ("filled", "0.0", OrderStatus(CLOID, "filled", filled_size=D("1.0"))),
        ("canceled", "0.4", OrderStatus(CLOID, "cancelled", D("0.6"), "canceled")),
        ("marginCanceled", "1.0", OrderStatus(CLOID, "cancelled", D("0"), "marginCanceled")),
        ("iocCancelRejected", "1.0", OrderStatus(CLOID, "rejected", reason="iocCancelRejected")),
    ],
)
def test_order_status_answers_map_to_ours(status, sz, expected):
    answer = {
        "status": "order",
        "order": {
            "order": {"coin": "BTC", "side": "B", "limitPx": "30000", "sz": sz, "origSz": "1.0"},
            "status": status,
            "statusTimestamp": 1,
        },
    }
    assert wire.order_status(CLOID, answer) == expected
    assert wire.order_status(CLOID, {"status": "unknownOid"}).status == "unknown"


def _request(**fields) -> OrderRequest:
    return OrderRequest(
        **{
            "client_id": CLOID,
            "coin": "BTC",
            "side": "buy",
            "kind": "market",
            "size": D("0.01"),
            **fields,
        }
    )


def test_a_market_order_is_an_ioc_limit_within_the_slippage_bound():
    order = wire_order(
        _request(size=D("0.0123456")), sz_decimals=5, mid=D("30135.0"), slippage=D("0.05")
    )
    assert order.order_type == {"limit": {"tif": "Ioc"}}
    assert order.size == D("0.01234")  # cut down to the lot
    assert order.limit_price == D("31641") and order.limit_price <= D("30135") * D("1.05")
    sell = wire_order(_request(side="sell"), sz_decimals=5, mid=D("30135.0"), slippage=D("0.05"))
    assert sell.limit_price == D("28629") and sell.limit_price >= D("30135") * D("0.95")


def test_limits_round_away_from_aggression_and_stops_become_triggers():
    buy = wire_order(
        _request(kind="limit", limit_price=D("1903.987"), coin="ETH"),
        sz_decimals=4,
        mid=None,
        slippage=D("0.05"),
    )
    assert buy.limit_price == D("1903.9") and buy.order_type == {"limit": {"tif": "Gtc"}}
    stop = wire_order(
        _request(kind="stop_market", side="sell", trigger_price=D("29000"), reduce_only=True),
        sz_decimals=5,
        mid=None,
        slippage=D("0.05"),
    )
    assert stop.order_type == {"trigger": {"isMarket": True, "triggerPx": D("29000"), "tpsl": "sl"}}
    assert stop.limit_price == D("27550") and stop.reduce_only
    take = wire_order(
        _request(kind="take_profit", side="sell", trigger_price=D("33000"), limit_price=D("32900")),
        sz_decimals=5,
        mid=None,
        slippage=D("0.05"),
    )
    assert take.order_type["trigger"] == {"isMarket": False, "triggerPx": D("33000"), "tpsl": "tp"}


def test_a_size_below_the_lot_is_refused_with_the_venues_words():
    with pytest.raises(OrderShapeError, match="Order has invalid size."):
        wire_order(_request(size=D("0.000001")), sz_decimals=5, mid=D("30000"), slippage=D("0.05"))


def test_request_weights_follow_the_documented_table():
    assert budget.info_weight("orderStatus") == budget.info_weight("clearinghouseState") == 2
    assert budget.info_weight("subAccounts") == budget.info_weight("userFillsByTime") == 20
    assert budget.info_weight("userRole") == 60
    assert budget.items_weight("userFillsByTime", 500) == 25
    assert budget.items_weight("subAccounts", 500) == 0
    assert budget.exchange_weight(1) == 1 and budget.exchange_weight(79) == 2
