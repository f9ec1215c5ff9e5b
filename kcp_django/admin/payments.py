"""The admin of payments: what each payment paid, what its refunds hold and what remains, and its refunds.

Payments are registered by the shop's checkout code (:func:`kcp_django.payments.register_payment`)
or ``kcp_payment``, and moved on only by KCP's notices and refunds: the admin shows them, read-only,
never adds, changes or deletes one. No account number is shown but masked.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet, Subquery, Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from kcp_django.admin.badges import state_badge
from kcp_django.admin.ids import ExactSearchAdmin
from kcp_django.admin.read_only import ReadOnlyAdmin
from kcp_django.admin.verifications import MerchantFilter
from kcp_django.models import HOLDING_REFUNDS, Payment, Refund


def _won(amount: int) -> str:
    return f"{amount:,}"


class PaymentRefundInline(admin.TabularInline):  # type: ignore[type-arg]
    """The payment's refunds, rejected ones too, oldest first; each links to its own page."""

    model = Refund
    fk_name = "payment"
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name = _("refund")
    verbose_name_plural = _("refunds of this payment")
    fields = ("refund_link", "state_label", "kind", "amount_won", "account", "res_cd", "needs_review", "created_at")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Refund]:
        # The list of refunds never reads the encrypted number.
        return super().get_queryset(request).defer("account_no", "raw_response")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("refund"))
    def refund_link(self, obj: Refund) -> SafeString:
        url = reverse("admin:kcp_django_refund_change", args=[obj.pk], current_app=self.admin_site.name)
        return format_html('<a href="{}">{}</a>', url, obj.ordr_idxx)

    @admin.display(description=_("state"))
    def state_label(self, obj: Refund) -> str:
        return state_badge(obj.state, obj.get_state_display(), obj.res_msg or obj.failure_reason)

    @admin.display(description=_("amount (won)"))
    def amount_won(self, obj: Refund) -> str:
        return str(_("full")) if obj.amount is None else _won(obj.amount)

    @admin.display(description=_("account number"))
    def account(self, obj: Refund) -> str:
        return obj.account_no_masked


@admin.register(Payment)
class PaymentAdmin(ExactSearchAdmin, ReadOnlyAdmin):
    list_display = [
        "tno",
        "reference",
        "payer",
        "paid",
        "refunded",
        "remaining",
        "mode",
        "merchant",
        "deposited_at",
        "needs_review",
        "created_at",
    ]
    list_display_links = ["tno"]
    list_filter = ["mode", MerchantFilter, "needs_review", "created_at"]
    list_select_related = ["payer"]
    search_fields = ["=tno", "=reference"]
    search_help_text = _("Exact KCP transaction number of the payment (tno) or shop reference (order).")
    fields = (
        "tno",
        "site_cd",
        "merchant",
        "mode",
        "reference",
        "payer",
        "paid",
        "refunded",
        "remaining",
        "deposited_at",
        "deposit_notice",
        "needs_review",
        "review_reason",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = [PaymentRefundInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Payment]:
        # What each payment's refunds hold, in the page's one query (the model's own rule, HOLDING_REFUNDS).
        holding = Refund.objects.filter(HOLDING_REFUNDS, payment=OuterRef("pk")).order_by().values("payment")
        rows: QuerySet[Payment] = (
            super()
            .get_queryset(request)
            .annotate(
                held_won=Subquery(holding.annotate(total=Sum("amount")).values("total")),
                held_in_full=Exists(holding.filter(amount__isnull=True)),
            )
        )
        return rows

    @admin.display(description=_("paid (won)"), ordering="amount")
    def paid(self, obj: Payment) -> str:
        return _won(obj.amount)

    @admin.display(description=_("refunded (won)"))
    def refunded(self, obj: Payment) -> str:
        return _won(_refunded(obj))

    @admin.display(description=_("remaining (won)"))
    def remaining(self, obj: Payment) -> str:
        return _won(max(obj.amount - _refunded(obj), 0))


def _refunded(payment: Payment) -> int:
    """:attr:`Payment.refunded` from the list's annotations, or from the database without them."""
    held: dict[str, Any] = vars(payment)
    if "held_in_full" not in held:
        return payment.refunded
    if held["held_in_full"]:
        return payment.amount
    return int(held["held_won"] or 0)
