"""Hyperliquid's grid, minimum value and rejection texts, checked by hand-worked figures."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.trading.venues.paper import hlrules
from apps.trading.venues.paper.matching import (
    Instrument,
    OrderSpec,
    Quote,
    Rejection,
    round_price,
    round_size,
    validate_order,
)

D = Decimal
BTC = Instrument("BTC", sz_decimals=5, max_leverage=40)
ETH = Instrument("ETH", sz_decimals=4, max_leverage=25)


def quote(mid: str) -> Quote:
    return Quote(mark=D(mid), oracle=D(mid), mid=D(mid), funding_rate=D("0"))


def order(coin: str = "BTC", **kwargs: object) -> OrderSpec:
    fields: dict[str, object] = {
        "order_id": "o1",
        "client_order_id": None,
        "coin": coin,
        "side": "buy",
        "size": D("0.001"),
        "kind": "limit",
        "limit_price": D("50000"),
    }
    fields.update(kwargs)
    return OrderSpec(**fields)  # type: ignore[arg-type]


# --- Prices: 5 significant figures and 6 - szDecimals decimals ------------------------------
@pytest.mark.parametrize(
    ("price", "valid_for_sz_decimals"),
    [
        ("1234.5", {0, 1, 2, 3, 4, 5}),  # 5 sig figs, 1 decimal
        ("1234.56", set()),  # 6 sig figs
        ("12345.6", set()),  # 6 sig figs
        ("123456", {0, 1, 2, 3, 4, 5}),  # integers are always allowed
        ("1234567", {0, 1, 2, 3, 4, 5}),
        ("1.2345", {0, 1, 2}),  # 4 decimals: needs 6 - sz >= 4
        ("0.001234", {0}),  # 6 decimals
        ("0.0012345", set()),  # 7 decimals
        ("0.01234", {0, 1}),  # 5 decimals
        ("0.012345", {0}),  # 6 decimals, 5 sig figs
        ("0.1", {0, 1, 2, 3, 4, 5}),
        ("0.12", {0, 1, 2, 3, 4}),
        ("0", set()),
        ("-5", set()),
    ],
)
def test_price_grid_follows_five_significant_figures_and_six_minus_sz_decimals(
    price: str, valid_for_sz_decimals: set[int]
) -> None:
    for sz in range(6):
        assert hlrules.is_valid_price(D(price), sz) == (sz in valid_for_sz_decimals), (price, sz)


def test_integer_price_is_valid_whatever_its_significant_figures() -> None:
    assert hlrules.is_valid_price(D("123456789"), 5)
    assert hlrules.is_valid_price(D("1E+6"), 0)


@pytest.mark.parametrize(
    ("price", "sz", "buy", "sell", "nearest"),
    [
        ("50123.45", 5, "50123", "50124", "50123"),
        ("1234.56", 5, "1234.5", "1234.6", "1234.6"),
        ("1234.56", 2, "1234.5", "1234.6", "1234.6"),
        ("0.0123456", 0, "0.012345", "0.012346", "0.012346"),
        ("0.0123456", 2, "0.0123", "0.0124", "0.0123"),  # 6 - 2 = 4 decimals
        ("3000.05", 4, "3000", "3000.1", "3000.0"),  # half to even
        ("9.999951", 0, "9.9999", "10", "10"),  # rounding up carries into a new digit
        ("123456.7", 3, "123456", "123457", "123457"),
    ],
)
def test_round_price_goes_to_the_less_aggressive_side_of_the_grid(
    price: str, sz: int, buy: str, sell: str, nearest: str
) -> None:
    assert round_price(D(price), sz, "buy") == D(buy)
    assert round_price(D(price), sz, "sell") == D(sell)
    assert round_price(D(price), sz) == D(nearest)
    for rounded in (D(buy), D(sell), D(nearest)):
        assert hlrules.is_valid_price(rounded, sz)


@pytest.mark.parametrize(
    ("size", "sz", "expected"),
    [
        ("1.23456789", 5, "1.23456"),
        ("1.23456789", 3, "1.234"),
        ("1.99", 0, "1"),
        ("0.00099", 3, "0"),
        ("12", 2, "12"),
    ],
)
def test_round_size_cuts_down_to_the_lot(size: str, sz: int, expected: str) -> None:
    assert round_size(D(size), sz) == D(expected)


@pytest.mark.parametrize(
    ("size", "sz", "valid"),
    [
        ("1.001", 3, True),
        ("1.0001", 3, False),
        ("16", 0, True),
        ("16.4", 0, False),
        ("0.00001", 5, True),
        ("0.000001", 5, False),
        ("0", 2, False),
    ],
)
def test_size_must_be_a_multiple_of_ten_to_minus_sz_decimals(
    size: str, sz: int, valid: bool
) -> None:
    assert hlrules.is_valid_size(D(size), sz) is valid


# --- validate_order: the texts Hyperliquid answers with -------------------------------------
def test_valid_limit_order_passes() -> None:
    assert validate_order(order(), BTC, quote("50000")) is None


def test_order_below_ten_dollars_is_rejected_with_hyperliquids_words() -> None:
    # 0.00019 BTC x $50,000 = $9.50
    rejection = validate_order(order(size=D("0.00019")), BTC, quote("50000"))
    assert rejection == Rejection("Order must have minimum value of $10.")


def test_order_of_exactly_ten_dollars_is_accepted() -> None:
    assert validate_order(order(size=D("0.0002")), BTC, quote("50000")) is None


def test_market_order_minimum_value_is_taken_at_the_mid() -> None:
    market = order(kind="market", limit_price=None, size=D("0.0002"))
    assert validate_order(market, BTC, quote("50000")) is None
    assert validate_order(market, BTC, quote("49999")) == Rejection(hlrules.MIN_TRADE_NTL)


def test_reduce_only_order_closing_a_whole_small_position_is_exempt_from_the_minimum() -> None:
    close = order(side="sell", size=D("0.0001"), reduce_only=True)
    assert validate_order(close, BTC, quote("50000"), position=D("0.0001")) is None
    assert validate_order(close, BTC, quote("50000"), position=D("0.0003")) == Rejection(
        hlrules.MIN_TRADE_NTL
    )


def test_off_lot_size_is_rejected_as_invalid_size() -> None:
    rejection = validate_order(order(size=D("0.000001")), BTC, quote("50000"))
    assert rejection == Rejection("Order has invalid size.")


def test_off_grid_limit_price_is_rejected_as_invalid_price() -> None:
    rejection = validate_order(order(limit_price=D("50000.5")), BTC, quote("50000"))
    assert rejection == Rejection("Order has invalid price.")


def test_limit_order_without_a_price_is_rejected() -> None:
    assert validate_order(order(limit_price=None), BTC, quote("50000")) == Rejection(
        hlrules.INVALID_PRICE
    )


def test_trigger_order_without_a_valid_trigger_price_is_rejected() -> None:
    stop = order(kind="stop_market", limit_price=None, trigger_price=None)
    assert validate_order(stop, BTC, quote("50000")) == Rejection(hlrules.INVALID_PRICE)
    stop = order(kind="stop_market", limit_price=None, trigger_price=D("49000.5"))
    assert validate_order(stop, BTC, quote("50000")) == Rejection(hlrules.INVALID_PRICE)


def test_float_quantities_are_refused() -> None:
    with pytest.raises(TypeError):
        order(size=0.1)
    with pytest.raises(TypeError):
        Quote(mark=50000.0, oracle=D("1"), mid=None, funding_rate=D("0"))  # type: ignore[arg-type]


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        order(kind="iceberg")


# --- The money formulas ----------------------------------------------------------------------
def test_fee_is_notional_times_rate_in_usd() -> None:
    assert hlrules.fee(D("5000"), hlrules.BASE_TAKER_RATE) == D("2.25")
    assert hlrules.fee(D("5000"), hlrules.BASE_MAKER_RATE) == D("0.75")
    # Booked to USDC's 6 decimals, half away from zero.
    assert hlrules.fee(D("10.0001"), D("0.00045")) == D("0.004500")


def test_maintenance_margin_is_half_the_initial_margin_at_max_leverage() -> None:
    assert hlrules.maintenance_margin(D("25000"), 40) == D("312.5")
    assert hlrules.initial_margin(D("25000"), 40) == D("625")
