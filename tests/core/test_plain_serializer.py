"""apps/core/api.py PlainSerializer: the same answers and errors as DRF's Serializer, with
fields of its own for every instance."""

from decimal import Decimal

from rest_framework import serializers

from apps.core.api import PlainSerializer

FIELDS = {
    "side": lambda: serializers.ChoiceField(choices=["buy", "sell"]),
    "size": lambda: serializers.DecimalField(max_digits=30, decimal_places=10),
    "tif": lambda: serializers.ChoiceField(choices=["gtc", "ioc"], default="gtc"),
    "note": lambda: serializers.CharField(max_length=5, required=False, allow_blank=True),
}
Plain = type("Plain", (PlainSerializer,), {k: make() for k, make in FIELDS.items()})
Drf = type("Drf", (serializers.Serializer,), {k: make() for k, make in FIELDS.items()})


def test_it_validates_and_renders_as_drf_does():
    for data in (
        {"side": "buy", "size": "1.5"},
        {"side": "hold", "size": "x", "note": "too long"},
        {"size": "-0.1", "tif": "ioc"},
    ):
        plain, drf = Plain(data=data), Drf(data=data)
        assert plain.is_valid() == drf.is_valid()
        assert plain.errors == drf.errors
        if not drf.errors:
            assert plain.validated_data == drf.validated_data
    row = {"side": "sell", "size": Decimal("2"), "tif": "gtc", "note": "hi"}
    assert Plain(row).data == Drf(row).data


def test_each_instance_has_its_own_fields():
    one, two = Plain(), Plain()
    assert one.fields["size"] is not two.fields["size"]
    assert one.fields["size"] is not Plain._declared_fields["size"]
    one.fields["side"].required = False
    assert two.fields["side"].required is True and Plain().fields["side"].required is True
    assert one.fields["side"].parent is one and two.fields["side"].parent is two


def test_represent_is_what_data_is_for_the_api_s_orders():
    from apps.trading.api import OrderOut
    from apps.trading.models import Order

    for order in (
        Order(
            account_id=3,
            origin="trader_api",
            client_order_id="c1",
            coin="BTC",
            side="buy",
            kind="limit",
            size=Decimal("0.001"),
            limit_price=Decimal("59000.5"),
            reduce_only=True,
        ),
        Order(
            account_id=4,
            coin="ETH",
            side="sell",
            kind="market",
            size=Decimal("2"),
            average_price=Decimal("3000.123456789012"),
            filled_size=Decimal("1.5"),
            status="partially_filled",
            reject_reason="x",
        ),
    ):
        assert OrderOut.represent(order) == OrderOut(order).data
    row = {"side": "sell", "size": Decimal("2"), "tif": "gtc", "note": None}
    assert Plain.represent(type("R", (), row)) == Drf(row).data
