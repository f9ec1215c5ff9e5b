"""Payments: what a customer paid (KCP's ``tno`` at one SITE_CD), for which order, by whom.

The shop's checkout code registers each payment (:func:`register_payment`); every refund is paid
out of one, never beyond what it holds, and only into an account verified for its order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kcp_django.payments.service import find_payment, register_payment

__all__ = ["find_payment", "register_payment"]


def __getattr__(name: str) -> Any:
    # Imported on first use: kcp_django.models imports this package's models while Django loads
    # the app registry, before the service's own imports (the refund rules) can be loaded.
    if name in __all__:
        from kcp_django.payments import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
