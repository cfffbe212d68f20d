from django.urls import path

from apps.portal import views

app_name = "portal"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/accounts/<int:account_id>/scenario.json", views.scenario, name="scenario"),
    path("trade/", views.trade_default, name="trade_default"),
    path("trade/<int:account_id>/", views.trade, name="trade"),
    path("trade/<int:account_id>/breach/", views.breach, name="breach"),
    path("trade/<int:account_id>/orders/", views.order_new, name="order_new"),
    path(
        "trade/<int:account_id>/orders/<uuid:order_id>/cancel/",
        views.order_cancel,
        name="order_cancel",
    ),
    path(
        "trade/<int:account_id>/positions/<str:coin>/close/",
        views.position_close_view,
        name="position_close",
    ),
]
