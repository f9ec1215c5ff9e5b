"""Deprecated: the API and the notice view share :mod:`kcp_django.client_ip`."""

from kcp_django.deprecation import moved_names

__getattr__ = moved_names(__name__, "kcp_django.client_ip", ["client_ip"])
