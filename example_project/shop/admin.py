from django.contrib import admin

from example_project.shop.models import Order, RefundRequest
from kcp_django.admin import VerifyRefundAccountMixin


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["number", "customer", "product", "amount", "payment_method", "paid_at"]
    search_fields = ["number", "customer__username"]


@admin.register(RefundRequest)
class RefundRequestAdmin(VerifyRefundAccountMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    kcp_bank_code_field = "bank_code"
    kcp_account_no_field = "account_no"
    kcp_owner_nm_field = "holder_name"
    kcp_reference_field = "reference"
    # The column shows the verification the refund was made from, not whatever was verified last
    # under its reference.
    kcp_verification_field = "verification"

    list_display = ["reference", "order", "bank_code", "holder_name", "status", "created_at"]
    list_filter = ["status"]
    list_select_related = ["order"]
    search_fields = ["reference", "order__number"]
    readonly_fields = ["order", "reference", "bank_code", "holder_name", "verification", "created_at"]
    exclude = ["account_no"]

    def has_add_permission(self, request: object) -> bool:
        return False
