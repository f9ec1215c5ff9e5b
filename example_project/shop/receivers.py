"""The shop follows its refunds through kcp-django's signals: KCP accepted one -> "sent"; KCP's notice
says the money went out -> "paid". A refund is found by the reference the admin gave it (the
RefundRequest's own reference)."""

from __future__ import annotations

from typing import Any

from example_project.shop.models import RefundRequest, RefundStatus
from kcp_django.models import Refund


def mark_sent(sender: Any, refund: Refund, **kwargs: Any) -> None:
    """KCP accepted the refund: it is on its way (never moves a paid request back)."""
    RefundRequest.objects.filter(reference=refund.reference, status=RefundStatus.REQUESTED).update(
        status=RefundStatus.SENT
    )


def mark_paid(sender: Any, refund: Refund, **kwargs: Any) -> None:
    """KCP's notice completed the refund: the customer sees it paid."""
    RefundRequest.objects.filter(reference=refund.reference).exclude(status=RefundStatus.PAID).update(
        status=RefundStatus.PAID
    )
