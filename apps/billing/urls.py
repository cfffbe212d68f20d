from django.urls import path

from apps.billing import views

app_name = "billing"

urlpatterns = [
    path("plans/", views.plans, name="plans"),
    path("plans/<slug:code>/checkout/", views.checkout, name="checkout"),
    path("plans/<slug:code>/checkout/quote/", views.quote, name="quote"),
    path("billing/sandbox/<str:ref>/", views.sandbox, name="sandbox"),
    path("billing/return/<str:ref>/", views.provider_return, name="return"),
    path("billing/cancelled/<str:ref>/", views.provider_cancelled, name="cancelled"),
    path("billing/receipts/<str:ref>/", views.receipt, name="receipt"),
    path("billing/webhooks/<slug:provider>/", views.webhook, name="webhook"),
]
