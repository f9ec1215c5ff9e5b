"""Mount with ``path("kcp/", include("kcp_django.api.urls"))``; names live in the ``kcp_api`` namespace."""

from django.urls import path

from kcp_django.api import refund_views, views

__all__ = [
    "app_name",
    "urlpatterns",
]

app_name = "kcp_api"

urlpatterns = [
    path("verifications/", views.VerificationCreateView.as_view(), name="verification-list"),
    path("verifications/<str:public_id>/", views.VerificationDetailView.as_view(), name="verification-detail"),
    path("banks/", views.BankListView.as_view(), name="bank-list"),
    path("refunds/", refund_views.RefundListCreateView.as_view(), name="refund-list"),
    path("refunds/<str:public_id>/", refund_views.RefundDetailView.as_view(), name="refund-detail"),
]
