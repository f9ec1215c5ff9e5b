"""Refunds of a payment into a verified account through KCP: the one way a refund is sent.

- :mod:`.inputs`: checking a refund's fields against KCP's rules (nothing stored on failure);
- :mod:`.service`: :func:`request_refund`, and how staff (:func:`resolve_refund`) and KCP's notices
  (:func:`complete_refund`) move a refund on. Calls to KCP go through :mod:`kcp_django.core`.

KCP's notices that complete refunds are received and matched in :mod:`kcp_django.notices`.
"""

from kcp_django.refunds.service import (
    check_refund,
    complete_refund,
    request_refund,
    resolve_refund,
    send_signal_again,
    still_being_sent,
)

__all__ = [
    "check_refund",
    "complete_refund",
    "request_refund",
    "resolve_refund",
    "send_signal_again",
    "still_being_sent",
]
