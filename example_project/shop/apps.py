from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShopConfig(AppConfig):
    name = "example_project.shop"
    label = "shop"
    verbose_name = _("Example escrow shop")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from example_project.shop.receivers import mark_paid, mark_sent
        from kcp_django.signals import refund_accepted, refund_completed

        refund_accepted.connect(mark_sent, dispatch_uid="shop.refund_accepted")
        refund_completed.connect(mark_paid, dispatch_uid="shop.refund_completed")
