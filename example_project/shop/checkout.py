"""The shop's side of a payment KCP approved: the order keeps KCP's number, and kcp-django registers the
payment, so that a refund of the order can be paid out of it, to the account verified for it.

A real shop calls :func:`order_paid` where its checkout learns the payment was approved (KCP's
answer to the payment request); the demo data (``shop_demo``) calls it for each demo order.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from example_project.shop.models import Order
from kcp_django.models import Payment
from kcp_django.payments import register_payment


def order_paid(order: Order, *, tno: str, paid_at: dt.datetime | None = None) -> Payment:
    """Record that ``order`` was paid as KCP's payment ``tno``, and register that payment.

    The payment's reference is the order's (:attr:`Order.refund_reference`): the customer's refund
    account is verified under the same reference, which is what lets a refund of this payment use it.
    Calling it again for the same order and payment changes nothing; another ``tno`` or amount for a
    registered payment raises ``InvalidRequest`` and leaves the order as it was.
    """
    with transaction.atomic():
        order.kcp_tno = tno
        order.paid_at = paid_at or order.paid_at or timezone.now()
        order.save(update_fields=["kcp_tno", "paid_at"])
        return register_payment(tno=tno, amount=order.amount, reference=order.refund_reference, payer=order.customer)
