from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KcpDjangoConfig(AppConfig):
    name = "kcp_django"
    verbose_name = _("KCP account verification")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kcp_django import checks  # noqa: F401  (registers the system and deploy checks)
