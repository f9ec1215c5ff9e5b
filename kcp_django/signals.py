"""Signals a shop can hook.

``verification_finished`` is sent once per gateway call, after the answer (or the lack of one) is
stored and the caller's transaction has committed, with ``sender=AccountVerification`` and
``verification=<the row>``.

Refunds: ``refund_accepted`` when KCP accepted a refund (``refund=<the Refund>``),
``refund_completed`` when KCP's notice says it is done (``refund=``, ``notice=``), and
``notice_received`` for every notice stored (``notice=<the KcpNotice>``; shops hook the escrow
events TX00 deposit, TX02 purchase decision and TX03 shipping there). Each is sent after commit.
"""

from django.dispatch import Signal

__all__ = [
    "notice_received",
    "refund_accepted",
    "refund_completed",
    "verification_finished",
]

verification_finished = Signal()
refund_accepted = Signal()
refund_completed = Signal()
notice_received = Signal()
