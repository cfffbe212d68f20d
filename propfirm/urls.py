from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from apps.core.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("apps.trading.urls_api")),
    path("payouts/", include("apps.payouts.urls")),
    path("", include("apps.billing.urls")),
    path("", include("apps.portal.urls")),
    path("", include("apps.accounts.urls")),
]
