"""The "verify refund account" action for any model admin: a shop's own ``RefundRequest`` or
``Order`` admin, and kcp-django's own verification list.

The shop names where each row keeps its refund account::

    @admin.register(RefundRequest)
    class RefundRequestAdmin(KcpAccountActionsMixin, admin.ModelAdmin):
        kcp_bank_code_field = "bank_code"
        kcp_account_no_field = "account_no"
        kcp_owner_nm_field = "holder_name"
        kcp_reference_field = "order__number"     # optional

Each job is its own class: the action and its confirmation page (:mod:`.verify_action`), the
latest-verification column (:mod:`.latest`), the bulk progress panel (:mod:`.progress`) and
"Refund to this verified account" (:mod:`.refund_action`).
"""

from __future__ import annotations

from typing import Any

from django.core import checks

from kcp_django.admin.base import configuration_problem
from kcp_django.admin.latest import LatestVerificationAdmin
from kcp_django.admin.progress import BulkProgressAdmin
from kcp_django.admin.refund_action import RefundToVerifiedAccountAdmin
from kcp_django.admin.verify_action import VerifyActionAdmin
from kcp_django.deprecation import renamed_names

__all__ = [
    "KcpAccountActionsMixin",
]


class KcpAccountActionsMixin(
    VerifyActionAdmin, LatestVerificationAdmin, BulkProgressAdmin, RefundToVerifiedAccountAdmin
):
    """Adds the "verify refund account" action, the latest-verification column, bulk progress and
    "Refund to this verified account"."""

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        messages = list(super().check(**kwargs))
        if self.kcp_verification_field and not self.kcp_reads_accounts():
            return messages  # refunds go through the linked verification; nothing is verified here
        return messages + configuration_problem(
            self,
            self.kcp_account_source,
            hint="See 'The action on your own model' in kcp-django's docs/admin.md.",
            id="kcp_django.E010",
        )


#: ``VerifyRefundAccountMixin``, the name before it said what the class is: warns, goes in 0.3.
__getattr__ = renamed_names(__name__, {"VerifyRefundAccountMixin": "KcpAccountActionsMixin"})
