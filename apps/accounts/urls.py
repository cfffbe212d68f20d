from django.urls import path

from apps.accounts import views

urlpatterns = [
    path("", views.home, name="home"),
    path("profile/", views.profile, name="profile"),
    path("profile/api-keys/", views.api_keys, name="api_keys"),
    path("staff/mfa-required/", views.staff_mfa_required, name="staff_mfa_required"),
    path("brand/logo", views.logo, name="brand_logo"),
]
