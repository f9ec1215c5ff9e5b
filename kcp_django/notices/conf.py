"""The notice view's settings, read when used (so ``override_settings`` works) and validated.

``KCP_NOTICE_IPS``: the addresses or networks KCP sends notices from (default: the sender addresses
KCP publishes, :data:`DEFAULT_NOTICE_IPS`). Behind a reverse proxy, the proxy's address goes into
``KCP_API["TRUSTED_PROXIES"]`` (the same setting the REST API uses), never into ``KCP_NOTICE_IPS``.
"""

from __future__ import annotations

from kcp_django import conf
from kcp_django.api.conf import get_api_settings
from kcp_django.client_ip import IpNetwork

#: KCP's published notice senders, the default of ``KCP_NOTICE_IPS``.
DEFAULT_NOTICE_IPS = conf.DEFAULT_NOTICE_IPS


def notice_networks() -> tuple[IpNetwork, ...]:
    """``KCP_NOTICE_IPS`` as networks (from the settings table); an error names the setting and the entry."""
    networks: tuple[IpNetwork, ...] = conf.get("KCP_NOTICE_IPS")
    return networks


def trusted_proxies() -> tuple[IpNetwork, ...]:
    """The proxies whose ``X-Forwarded-For`` is believed: ``KCP_API["TRUSTED_PROXIES"]``, as for the API."""
    return get_api_settings().trusted_proxies
