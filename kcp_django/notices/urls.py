"""``path("kcp/notices/", include("kcp_django.notices.urls"))``: the URL to register in KCP's admin."""

from django.urls import path

from kcp_django.notices.views import notice

__all__ = [
    "app_name",
    "urlpatterns",
]

app_name = "kcp_notices"

urlpatterns = [path("", notice, name="notice")]
