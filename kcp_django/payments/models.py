"""The payment a refund returns: one row per SITE_CD and KCP transaction number (``tno``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from kcp_django.fields import OptionalLink

__all__ = [
    "HOLDING_REFUNDS",
    "Payment",
    "PaymentMode",
]

#: Refunds that hold part of their payment: every state but REJECTED, and a rejected one that staff must
#: look at (KCP's late answer disagreed with it), until they settle it.
HOLDING_REFUNDS = models.Q(state__in=("PENDING", "ACCEPTED", "COMPLETED", "UNKNOWN")) | models.Q(needs_review=True)


class PaymentMode(models.TextChoices):
    TEST = "test", _("test")
    REAL = "real", _("real")


class Payment(models.Model):
    """What a customer paid, for which order, by whom: registered by the shop's checkout code
    (:func:`kcp_django.payments.register_payment`). Its refunds are paid out of it, never more
    than it holds; refunded and remaining amounts are derived from them, never stored."""

    site_cd = models.CharField(_("site code (SITE_CD)"), max_length=10)
    tno = models.CharField(_("KCP transaction number (tno)"), max_length=14)
    merchant = models.CharField(_("merchant alias"), max_length=50, default="default")
    mode = models.CharField(_("mode"), max_length=4, choices=PaymentMode.choices, default=PaymentMode.TEST)
    amount = models.PositiveBigIntegerField(_("amount paid (won)"))
    reference = models.CharField(_("shop reference (order)"), max_length=100, blank=True, default="")
    payer = OptionalLink(settings.AUTH_USER_MODEL, _("payer"), on_delete=models.SET_NULL, related_name="kcp_payments")
    deposited_at = models.DateTimeField(_("deposit noticed at"), null=True, blank=True)
    deposit_notice = OptionalLink(
        "kcp_django.KcpNotice", _("deposit notice"), on_delete=models.SET_NULL, related_name="+"
    )
    needs_review = models.BooleanField(_("needs staff review"), default=False)
    review_reason = models.TextField(_("why it needs review"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        app_label = "kcp_django"
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["site_cd", "tno"], name="kcp_payment_unique_tno"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="kcp_payment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.tno} ({self.amount:,}원)"

    def holding_refunds(self) -> models.QuerySet[models.Model]:
        """Refunds that hold part of this payment: not rejected, or flagged for staff (a late answer)."""
        refunds: models.QuerySet[models.Model] = self.refunds.filter(HOLDING_REFUNDS)
        return refunds

    @property
    def refunded(self) -> int:
        """Won held by refunds that were not rejected (a full refund holds the whole payment)."""
        refunds = self.holding_refunds()
        if refunds.filter(amount__isnull=True).exists():
            return self.amount
        total: int | None = refunds.aggregate(total=Sum("amount"))["total"]
        return total or 0

    @property
    def remaining(self) -> int:
        return max(self.amount - self.refunded, 0)
