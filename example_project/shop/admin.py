from urllib.parse import urlencode

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from example_project.shop.models import Order, RefundRequest
from kcp_django.admin import KcpAccountActionsMixin


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["number", "customer", "product", "amount", "payment_method", "payment", "paid_at"]
    search_fields = ["number", "customer__username", "=kcp_tno"]

    @admin.display(description=_("KCP payment number (tno)"), ordering="kcp_tno")
    def payment(self, order: Order) -> SafeString | str:
        """The order's payment in kcp-django's payments list: what it paid, refunded and has left."""
        if not order.kcp_tno:
            return "-"
        url = reverse("admin:kcp_django_payment_changelist", current_app=self.admin_site.name)
        return format_html('<a href="{}?{}">{}</a>', url, urlencode({"q": order.kcp_tno}), order.kcp_tno)


@admin.register(RefundRequest)
class RefundRequestAdmin(KcpAccountActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    kcp_bank_code_field = "bank_code"
    kcp_account_no_field = "account_no"
    kcp_owner_nm_field = "holder_name"
    kcp_reference_field = "reference"
    # The column shows the verification the refund was made from, not whatever was verified last
    # under its reference.
    kcp_verification_field = "verification"
    # "Refund to this verified account" starts from the order's payment and its escrow kind.
    kcp_refund_tno_field = "order__kcp_tno"
    kcp_refund_kind_field = "order__refund_kind"
    kcp_refund_amount_field = "order__amount"

    list_display = ["reference", "order", "bank_code", "holder_name", "status", "created_at"]
    list_filter = ["status"]
    list_select_related = ["order"]
    search_fields = ["reference", "order__number"]
    readonly_fields = ["order", "reference", "bank_code", "holder_name", "verification", "created_at"]
    exclude = ["account_no"]

    def has_add_permission(self, request: object) -> bool:
        return False
