"""The shop's rule for kcp-django's REST API: customers verify accounts only for their own refunds.

Named in settings as ``KCP_API["REFERENCE_OWNER_CHECK"]``; the API asks it before anything is stored
and answers 403 ``reference_not_allowed`` when it says no.
"""

from __future__ import annotations

from rest_framework.request import Request

from example_project.shop.models import REFUND_REFERENCE_PREFIX, Order


def owns_reference(request: Request, reference: str) -> bool:
    """Whether ``reference`` is the refund reference of one of the signed-in customer's orders."""
    user = request.user
    if not user.is_authenticated or not reference.startswith(REFUND_REFERENCE_PREFIX):
        return False
    number = reference.removeprefix(REFUND_REFERENCE_PREFIX)
    return Order.objects.filter(number=number, customer_id=user.pk).exists()
