import importlib.util

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("example_project.shop.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api-auth/", include("rest_framework.urls")),
    path("kcp/notices/", include("kcp_django.notices.urls")),  # register this URL in KCP's admin (공통 통보)
    path("kcp/", include("kcp_django.api.urls")),
]

if importlib.util.find_spec("drf_spectacular") is not None:
    from drf_spectacular.views import SpectacularAPIView

    urlpatterns.append(path("kcp/schema/", SpectacularAPIView.as_view(), name="schema"))
