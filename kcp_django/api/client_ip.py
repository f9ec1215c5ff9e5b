"""The API's client address: the shared helper in :mod:`kcp_django.client_ip`."""

from kcp_django.client_ip import client_ip

__all__ = ["client_ip"]
