"""Deprecated: KCP's notices are received and matched in :mod:`kcp_django.notices.receiving`."""

from kcp_django.deprecation import moved_names

__getattr__ = moved_names(__name__, "kcp_django.notices.receiving")
