from django.contrib import admin

from kcp_django.admin import KcpAccountActionsMixin
from tests.shopapp.models import RefundRequest


@admin.register(RefundRequest)
class RefundRequestAdmin(KcpAccountActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["order_number", "holder_name", "amount"]
    kcp_bank_code_field = "bank_code"
    kcp_account_no_field = "account_no"
    kcp_owner_nm_field = "holder_name"
    kcp_reference_field = "reference"
