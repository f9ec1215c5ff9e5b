"""Gateways turn a :class:`~kcp_django.gateways.base.VerificationRequest` into KCP's answer."""
