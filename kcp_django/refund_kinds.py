"""The refund kinds, as the service, the layout tables, the REST API and the commands name them.

Imports nothing of the app, so a face (the REST API's serializers) can name the kinds without
importing a gateway. The model's choices (:class:`kcp_django.models.RefundKind`) use the same words.
"""

from __future__ import annotations

__all__ = ["REFUND_KINDS"]

REFUND_KINDS = ("escrow-cancel", "escrow-refund", "vbank-refund")
