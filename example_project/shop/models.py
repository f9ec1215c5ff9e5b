"""A small escrow shop: orders paid by escrow, and refunds paid only to a verified account."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kcp_django.fields import EncryptedTextField
from kcp_django.models import AccountVerification, RefundKind

#: An order's refund reference is this prefix and the order number (:attr:`Order.refund_reference`).
REFUND_REFERENCE_PREFIX = "refund-"


class PaymentMethod(models.TextChoices):
    VIRTUAL_ACCOUNT = "vbank", _("Virtual account (escrow)")
    BANK_TRANSFER = "bank", _("Bank transfer (escrow)")


class Order(models.Model):
    number = models.CharField(_("order number"), max_length=30, unique=True)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("customer"), on_delete=models.PROTECT, related_name="shop_orders"
    )
    product = models.CharField(_("product"), max_length=100)
    amount = models.PositiveIntegerField(_("amount (KRW)"))
    payment_method = models.CharField(_("payment method"), max_length=10, choices=PaymentMethod.choices)
    paid_at = models.DateTimeField(_("paid at"))
    #: KCP's number of the payment (tno), which a refund of the order names.
    kcp_tno = models.CharField(_("KCP payment number (tno)"), max_length=14, blank=True, default="")

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-paid_at"]

    def __str__(self) -> str:
        return self.number

    @property
    def refund_reference(self) -> str:
        """The order's reference with kcp-django: its payment is registered under it and the customer's
        refund account is verified under it (a refund takes only an account verified for its payment)."""
        return f"{REFUND_REFERENCE_PREFIX}{self.number}"

    @property
    def refund_kind(self) -> str:
        """How KCP refunds this order by default: an escrow payment not yet confirmed is cancelled."""
        return REFUND_KINDS.get(self.payment_method, RefundKind.ESCROW_CANCEL.value)


#: The refund kind of each payment method (kcp-django's docs/refunds.md): both are escrow payments.
REFUND_KINDS: dict[str, str] = {
    PaymentMethod.VIRTUAL_ACCOUNT: RefundKind.ESCROW_CANCEL,
    PaymentMethod.BANK_TRANSFER: RefundKind.ESCROW_CANCEL,
}


class RefundStatus(models.TextChoices):
    """requested (by the customer) -> sent (KCP accepted it) -> paid (KCP's notice: the money went out)."""

    REQUESTED = "requested", _("Requested")
    SENT = "sent", _("Sent to KCP")
    PAID = "paid", _("Refund paid")


class RefundRequest(models.Model):
    """A customer's refund, to an account KCP verified for them. The account is copied from that
    verification, never typed again, so the money goes where the check was made."""

    order = models.OneToOneField(Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="refund")
    reference = models.CharField(_("reference"), max_length=100, unique=True)
    bank_code = models.CharField(_("bank code"), max_length=2)
    account_no = EncryptedTextField(_("account number"))
    holder_name = models.CharField(_("account holder"), max_length=50)
    verification = models.ForeignKey(
        AccountVerification, verbose_name=_("verification"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(_("status"), max_length=10, choices=RefundStatus.choices, default=RefundStatus.REQUESTED)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)

    class Meta:
        verbose_name = _("refund request")
        verbose_name_plural = _("refund requests")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference
