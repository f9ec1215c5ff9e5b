"""Deprecated: the refund wire layout lives beside the verification one, in
:mod:`kcp_django.gateways.ppcli.refund_layout`."""

from kcp_django.deprecation import moved_names

__getattr__ = moved_names(__name__, "kcp_django.gateways.ppcli.refund_layout")
