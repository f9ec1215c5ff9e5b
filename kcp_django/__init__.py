"""kcp-django: verify a customer's refund bank account through NHN KCP and refund into it, once.

The ways in: :func:`kcp_django.verifications.verify_refund_account` and
:func:`kcp_django.refunds.request_refund`. Every call to KCP goes through :mod:`kcp_django.core`.
"""

__version__ = "0.2.0.dev0"

__all__ = ["__version__"]
