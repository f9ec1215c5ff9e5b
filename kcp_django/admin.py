"""Read-only admin for verifications: staff see the masked number and KCP's answer, never the full number."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from kcp_django.models import AccountVerification


@admin.register(AccountVerification)
class AccountVerificationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "ordr_idxx",
        "state",
        "bank_code",
        "account_no_masked",
        "owner_nm",
        "reference",
        "res_cd",
        "tno",
        "app_time",
        "created_at",
    ]
    list_filter = ["state", "bank_code", "merchant", "created_at"]
    search_fields = ["ordr_idxx", "tno", "reference"]
    fields = (
        "public_id",
        "merchant",
        "ordr_idxx",
        "state",
        "bank_code",
        "account_no_masked",
        "owner_nm",
        "reference",
        "res_cd",
        "res_msg",
        "tno",
        "app_time",
        "failure_reason",
        "requested_by",
        "client_ip",
        "created_at",
        "completed_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AccountVerification | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AccountVerification | None = None) -> bool:
        return False
