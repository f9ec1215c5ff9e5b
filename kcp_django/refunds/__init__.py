"""Refunds to a verified account through KCP, and KCP's notices that complete them.

- :mod:`.inputs`: checking a refund's fields against KCP's rules (nothing stored on failure);
- :mod:`.service`: :func:`~kcp_django.refunds.service.request_refund`, the one way a refund is
  sent, and how staff and notices move a refund on;
- :mod:`.notices`: storing KCP's notices once and matching them to refunds.
"""
