"""Deprecated: verification moved to :mod:`kcp_django.verifications` (calls to KCP: :mod:`kcp_django.core`)."""

from kcp_django.deprecation import moved_names

__getattr__ = moved_names(__name__, "kcp_django.verifications.service")
