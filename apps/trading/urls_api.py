from django.urls import path

from apps.trading import api

urlpatterns = [
    path("accounts/", api.AccountsView.as_view(), name="api-accounts"),
    path("positions/", api.PositionsView.as_view(), name="api-positions"),
    path("orders/", api.OrdersView.as_view(), name="api-orders"),
    path("orders/<uuid:order_id>/", api.OrderView.as_view(), name="api-order"),
    path("fills/", api.FillsView.as_view(), name="api-fills"),
    path("ledger/", api.LedgerView.as_view(), name="api-ledger"),
    path("instruments/", api.InstrumentsView.as_view(), name="api-instruments"),
    path("candles/", api.CandlesView.as_view(), name="api-candles"),
]
