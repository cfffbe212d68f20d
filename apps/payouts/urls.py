from django.urls import path

from apps.payouts import views

urlpatterns = [
    path("", views.payouts_page, name="payouts"),
    path("<int:account_id>/request/", views.payout_request_view, name="payout_request"),
    path("exports/<int:export_id>/download/", views.export_download, name="payout_export_download"),
]
