from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("kcp/notices/", include("kcp_django.notices.urls")),
    path("kcp/", include("kcp_django.api.urls")),
    # The example shop, so its pages run in-process against the suite's database.
    path("", include("example_project.shop.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
