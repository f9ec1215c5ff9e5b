"""A payment as plain data, for ``kcp_payment`` and logs: what was paid, refunded and remains, and its
refunds (masked, as ``kcp_refund`` shows them)."""

from __future__ import annotations

from typing import Any

from kcp_django.models import Payment, Refund
from kcp_django.serialization import refund_as_dict
from kcp_django.timezones import KST


def payment_refunds(payment: Payment) -> list[Refund]:
    """Every refund of ``payment``, rejected ones too, oldest first."""
    return list(payment.refunds.select_related("verification").order_by("created_at", "id"))


def payment_as_dict(payment: Payment, refunds: list[Refund] | None = None) -> dict[str, Any]:
    """``paid`` is the amount registered; ``refunded`` what its refunds that were not rejected hold
    (the whole payment for a full refund); ``remaining`` what may still be refunded."""
    if refunds is None:
        refunds = payment_refunds(payment)
    payer = payment.payer
    return {
        "tno": payment.tno,
        "site_cd": payment.site_cd,
        "merchant": payment.merchant,
        "mode": payment.mode,
        "reference": payment.reference,
        "payer": payer.get_username() if payer is not None else None,
        "paid": payment.amount,
        "refunded": payment.refunded,
        "remaining": payment.remaining,
        "deposited_at": _kst(payment.deposited_at),
        "needs_review": payment.needs_review,
        "review_reason": payment.review_reason,
        "created_at": _kst(payment.created_at),
        "refunds": [refund_as_dict(refund) for refund in refunds],
    }


def _kst(value: Any) -> str | None:
    return value.astimezone(KST).isoformat() if value else None
