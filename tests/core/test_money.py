from decimal import Decimal

import pytest

from apps.core.money import MoneyError, format_money, quantize, round_money, to_decimal


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("1.005", "1.01"), ("-1.005", "-1.01"), ("2.675", "2.68"), ("-0.004", "0.00"), ("0", "0.00")],
)
def test_round_money_is_half_away_from_zero_and_never_negative_zero(amount, expected):
    assert str(round_money(Decimal(amount))) == expected


def test_quantize_to_other_places():
    assert quantize(Decimal("0.123456789"), 6) == Decimal("0.123457")


def test_floats_are_refused_as_money():
    with pytest.raises(MoneyError, match="float"):
        to_decimal(0.1)


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", ""])
def test_non_numbers_are_refused(bad):
    with pytest.raises(MoneyError):
        to_decimal(bad)


def test_unknown_currency_is_refused():
    with pytest.raises(MoneyError, match="XYZ"):
        round_money(Decimal("1"), "XYZ")


def test_format_money_has_no_exponent():
    assert format_money(Decimal("1E+3")) == "1000.00"
