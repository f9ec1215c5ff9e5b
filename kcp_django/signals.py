"""Signals a shop can hook.

``verification_finished`` is sent once per gateway call, after the answer (or the lack of one) is
stored and the caller's transaction has committed, with ``sender=AccountVerification`` and
``verification=<the row>``.
"""

from django.dispatch import Signal

verification_finished = Signal()
