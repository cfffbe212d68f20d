"""The trader REST API, /api/v1/. These paths are a promise to API users: add, never rename.

Thin views: parse, call a service or selector, render. Every write takes an Idempotency-Key.
"""

from __future__ import annotations

from datetime import datetime

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ApiKey
from apps.core import rows
from apps.core.api import PlainSerializer
from apps.core.idempotency import IdempotencyError, idempotent, request_hash
from apps.market.selectors import candles, instruments_active
from apps.trading.models import Order, TradingAccount
from apps.trading.registry import OrderIntent
from apps.trading.selectors import (
    account_valuation,
    accounts_of,
    fills_of,
    positions_open,
)
from apps.trading.services import TradingError, order_cancel, order_modify, order_submit

D = {"max_digits": 30, "decimal_places": 10, "coerce_to_string": True}


# --- serializers ------------------------------------------------------------------------------


class AccountOut(PlainSerializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    venue = serializers.CharField()
    currency = serializers.CharField()
    state = serializers.CharField()
    status = serializers.CharField()
    balance = serializers.DecimalField(**D)
    equity = serializers.DecimalField(**D)
    unrealized_pnl = serializers.DecimalField(**D)


class PositionOut(PlainSerializer):
    account = serializers.IntegerField(source="account_id")
    coin = serializers.CharField()
    size = serializers.DecimalField(**D)
    entry_price = serializers.DecimalField(**D)
    realized_pnl = serializers.DecimalField(**D)


class OrderOut(PlainSerializer):
    # A plain Serializer: a ModelSerializer rebuilds its fields on every call, which costs
    # more than the order's own database work on the hot path.
    id = serializers.UUIDField()
    account = serializers.IntegerField(source="account_id")
    client_order_id = serializers.CharField()
    coin = serializers.CharField()
    side = serializers.CharField()
    type = serializers.CharField(source="kind")
    tif = serializers.CharField()
    size = serializers.DecimalField(**D)
    price = serializers.DecimalField(source="limit_price", allow_null=True, **D)
    trigger_price = serializers.DecimalField(allow_null=True, **D)
    reduce_only = serializers.BooleanField()
    status = serializers.CharField()
    filled_size = serializers.DecimalField(**D)
    average_price = serializers.DecimalField(allow_null=True, **D)
    reject_reason = serializers.CharField()
    origin = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OrderIn(PlainSerializer):
    account = serializers.IntegerField()
    coin = serializers.CharField(max_length=32)
    side = serializers.ChoiceField(choices=["buy", "sell"])
    type = serializers.ChoiceField(choices=Order.Kind.values)
    size = serializers.DecimalField(max_digits=30, decimal_places=10)
    price = serializers.DecimalField(
        max_digits=30, decimal_places=10, required=False, allow_null=True
    )
    trigger_price = serializers.DecimalField(
        max_digits=30, decimal_places=10, required=False, allow_null=True
    )
    tif = serializers.ChoiceField(choices=Order.Tif.values, default="gtc")
    reduce_only = serializers.BooleanField(default=False)
    client_order_id = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default=""
    )


class OrderChange(PlainSerializer):
    size = serializers.DecimalField(max_digits=30, decimal_places=10, required=False)
    price = serializers.DecimalField(max_digits=30, decimal_places=10, required=False)
    trigger_price = serializers.DecimalField(max_digits=30, decimal_places=10, required=False)


class FillOut(PlainSerializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    order = serializers.UUIDField(source="order_id", allow_null=True)
    coin = serializers.CharField()
    side = serializers.CharField()
    size = serializers.DecimalField(**D)
    price = serializers.DecimalField(**D)
    fee = serializers.DecimalField(**D)
    liquidity = serializers.CharField()
    realized_pnl = serializers.DecimalField(**D)
    at = serializers.DateTimeField()


class LedgerOut(PlainSerializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    kind = serializers.CharField()
    amount = serializers.DecimalField(**D)
    balance_after = serializers.DecimalField(**D)
    at = serializers.DateTimeField()
    memo = serializers.CharField()


class InstrumentOut(PlainSerializer):
    coin = serializers.CharField()
    sz_decimals = serializers.IntegerField()
    max_leverage = serializers.IntegerField()
    only_isolated = serializers.BooleanField()


class CandleOut(PlainSerializer):
    start = serializers.DateTimeField()
    open = serializers.DecimalField(**D)
    high = serializers.DecimalField(**D)
    low = serializers.DecimalField(**D)
    close = serializers.DecimalField(**D)


# --- helpers ---------------------------------------------------------------------------------


def _own_account(request, account_id) -> TradingAccount:
    read = _own_account_read(request, account_id)
    return _owned(read, *rows.run([read]))


def _own_account_read(request, account_id) -> tuple[str, list]:
    """The statement reading the request's user's account `account_id` (SQL built once: every
    order and cancel asks it, apps/core/rows.py), for `_owned`."""
    try:
        pk = int(account_id)
    except (TypeError, ValueError):
        raise ValidationError({"account": ["Give the account's id (a number)."]}) from None
    return rows.select_statement(TradingAccount, "id = %s AND owner_id = %s", [pk, request.user.pk])


def _owned(read: tuple[str, list], found: list[tuple]) -> TradingAccount:
    account = rows.first(TradingAccount, found)
    if account is None:
        raise ValidationError({"account": [f"You have no account {read[1][0]}."]})
    return account


def _filter_account(request, queryset_for):
    account_id = request.query_params.get("account")
    if account_id is not None:
        return queryset_for([_own_account(request, account_id)])
    return queryset_for(list(accounts_of(request.user)))


API_FIELDS = {"limit_price": "price", "kind": "type"}


def _plain(value):
    """59000.5000000000 (DRF's quantized form) → 59000.5, never an exponent."""
    return None if value is None else type(value)(f"{value.normalize():f}")


def _error(exc: TradingError) -> tuple[int, dict]:
    body = {"error": {"code": exc.code, "message": exc.message}}
    if exc.field:
        body["error"]["fields"] = {API_FIELDS.get(exc.field, exc.field): [exc.message]}
    return (
        status.HTTP_422_UNPROCESSABLE_ENTITY
        if exc.code == "idempotency_key_reused"
        else status.HTTP_400_BAD_REQUEST
    ), body


def _write(request, body: object, run, reads=()) -> Response:
    """Run a write under the request's Idempotency-Key and answer with the stored result
    (`reads`: as for `idempotent`)."""
    try:
        code, payload, replayed = idempotent(
            scope=f"user:{request.user.pk}",
            key=request.headers.get("Idempotency-Key", ""),
            digest=request_hash(request.method, request.path, body),
            run=run,
            reads=reads,
        )
    except IdempotencyError as exc:
        return Response({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)
    response = Response(payload, status=code)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _origin(request) -> str:
    return "trader_api" if isinstance(request.auth, ApiKey) else "trader_web"


# --- views -----------------------------------------------------------------------------------


class AccountsView(APIView):
    @extend_schema(responses=AccountOut(many=True))
    def get(self, request):
        fields = ("id", "label", "venue", "currency", "state", "status", "balance")
        rows = []
        for account in accounts_of(request.user):
            valuation = account_valuation(account)
            rows.append(
                {
                    **{name: getattr(account, name) for name in fields},
                    "equity": valuation["equity"],
                    "unrealized_pnl": valuation["unrealized_pnl"],
                }
            )
        return Response(AccountOut(rows, many=True).data)


class PositionsView(APIView):
    @extend_schema(
        responses=PositionOut(many=True),
        parameters=[OpenApiParameter("account", int, required=False)],
    )
    def get(self, request):
        rows = _filter_account(
            request, lambda accounts: [p for a in accounts for p in positions_open(a)]
        )
        return Response(PositionOut(rows, many=True).data)


class OrdersView(APIView):
    @extend_schema(
        responses=OrderOut(many=True),
        parameters=[
            OpenApiParameter("account", int, required=False),
            OpenApiParameter("open", bool, required=False),
        ],
    )
    def get(self, request):
        live = request.query_params.get("open") in ("1", "true")
        rows = _filter_account(
            request,
            lambda accounts: Order.objects.filter(
                account__in=accounts, **({"status__in": ["pending", "open"]} if live else {})
            ).order_by("-created_at")[:500],
        )
        return Response(OrderOut(rows, many=True).data)

    @extend_schema(request=OrderIn, responses={201: OrderOut})
    def post(self, request):
        incoming = OrderIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        # The account is read, and found to be the user's, in the Idempotency-Key's round trip.
        account_read = _own_account_read(request, data["account"])

        def run(found):
            account = _owned(account_read, found)
            intent = OrderIntent(
                coin=data["coin"],
                side=data["side"],
                kind=data["type"],
                size=_plain(data["size"]),
                limit_price=_plain(data.get("price")),
                trigger_price=_plain(data.get("trigger_price")),
                tif=data["tif"],
                reduce_only=data["reduce_only"],
                client_order_id=data["client_order_id"],
            )
            try:
                order = order_submit(
                    account=account,
                    intent=intent,
                    origin=_origin(request),
                    idempotency_key=request.headers.get("Idempotency-Key", ""),
                    actor=request.user,
                )
            except TradingError as exc:
                return _error(exc)
            return status.HTTP_201_CREATED, OrderOut.represent(order)

        return _write(request, request.data, run, reads=[account_read])


class OrderView(APIView):
    def _order(self, request, order_id) -> Order:
        return get_object_or_404(Order, pk=order_id, account__owner=request.user)

    @extend_schema(responses=OrderOut)
    def get(self, request, order_id):
        return Response(OrderOut(self._order(request, order_id)).data)

    @extend_schema(responses={202: OrderOut})
    def delete(self, request, order_id):
        order = self._order(request, order_id)

        def run():
            try:
                changed = order_cancel(order=order, origin=_origin(request), actor=request.user)
            except TradingError as exc:
                return _error(exc)
            return status.HTTP_202_ACCEPTED, OrderOut(changed).data

        return _write(request, {}, run)

    @extend_schema(request=OrderChange, responses={202: OrderOut})
    def patch(self, request, order_id):
        order = self._order(request, order_id)
        change = OrderChange(data=request.data)
        change.is_valid(raise_exception=True)
        data = change.validated_data

        def run():
            try:
                changed = order_modify(
                    order=order,
                    origin=_origin(request),
                    actor=request.user,
                    size=_plain(data.get("size")),
                    limit_price=_plain(data.get("price")),
                    trigger_price=_plain(data.get("trigger_price")),
                )
            except TradingError as exc:
                return _error(exc)
            return status.HTTP_202_ACCEPTED, OrderOut(changed).data

        return _write(request, request.data, run)


class FillsView(APIView):
    @extend_schema(
        responses=FillOut(many=True), parameters=[OpenApiParameter("account", int, required=False)]
    )
    def get(self, request):
        rows = _filter_account(
            request, lambda accounts: [f for a in accounts for f in fills_of(a)[:500]]
        )
        return Response(FillOut(rows, many=True).data)


class LedgerView(APIView):
    @extend_schema(
        responses=LedgerOut(many=True),
        parameters=[OpenApiParameter("account", int, required=False)],
    )
    def get(self, request):
        rows = _filter_account(
            request, lambda accounts: [e for a in accounts for e in a.ledger.order_by("-id")[:500]]
        )
        return Response(LedgerOut(rows, many=True).data)


class InstrumentsView(APIView):
    @extend_schema(responses=InstrumentOut(many=True))
    def get(self, request):
        return Response(InstrumentOut(instruments_active(), many=True).data)


class CandlesView(APIView):
    @extend_schema(
        responses=CandleOut(many=True),
        parameters=[
            OpenApiParameter("coin", str),
            OpenApiParameter("interval", str),
            OpenApiParameter("since", str, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
    )
    def get(self, request):
        params = request.query_params
        errors = {}
        since = None
        if params.get("since"):
            try:
                since = datetime.fromisoformat(params["since"])
                if since.tzinfo is None:
                    errors["since"] = ["Give a time with its offset, e.g. 2026-03-02T00:00:00Z."]
            except ValueError:
                errors["since"] = ["Not an ISO 8601 time."]
        try:
            limit = int(params.get("limit", 500))
        except ValueError:
            errors["limit"] = ["Not a whole number."]
        if not params.get("coin"):
            errors["coin"] = ["Which coin? e.g. coin=BTC"]
        if errors:
            raise ValidationError(errors)
        try:
            rows = candles(params["coin"], params.get("interval", "1m"), since, limit)
        except ValueError as exc:
            raise ValidationError({"interval": [str(exc)]}) from None
        return Response(CandleOut(rows, many=True).data)
