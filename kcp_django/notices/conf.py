"""The notice view's settings, read when used (so ``override_settings`` works) and validated.

``KCP_NOTICE_IPS``: the addresses or networks KCP sends notices from (default: the sender addresses
KCP publishes, :data:`DEFAULT_NOTICE_IPS`). Behind a reverse proxy, the proxy's address goes into
``KCP_API["TRUSTED_PROXIES"]`` (the same setting the REST API uses), never into ``KCP_NOTICE_IPS``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from kcp_django.api.conf import get_api_settings
from kcp_django.client_ip import IpNetwork

SETTING = "KCP_NOTICE_IPS"

#: KCP's published notice senders (its sample pages accept notices only from these).
DEFAULT_NOTICE_IPS: tuple[str, ...] = (
    "203.238.36.58",
    "203.238.36.160",
    "203.238.36.161",
    "203.238.36.173",
    "203.238.36.178",
    "103.215.144.173",
    "103.215.144.174",
    "103.215.145.30",
)


def notice_networks() -> tuple[IpNetwork, ...]:
    """``KCP_NOTICE_IPS`` as networks; an error names the setting and the entry at fault."""
    value: Any = getattr(settings, SETTING, None)
    if value is None:
        value = DEFAULT_NOTICE_IPS
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ImproperlyConfigured(
            f"{SETTING}: must be a list of IP addresses or networks, e.g. ['203.238.36.58', '10.0.0.0/24']."
        )
    if not value:
        raise ImproperlyConfigured(f"{SETTING}: must not be empty (no notice would ever be accepted).")
    networks = []
    for entry in value:
        try:
            if not isinstance(entry, str):
                raise ValueError(entry)
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{SETTING}: {entry!r} is not an IP address or a network like 'a.b.c.d/nn'."
            ) from None
    return tuple(networks)


def trusted_proxies() -> tuple[IpNetwork, ...]:
    """The proxies whose ``X-Forwarded-For`` is believed: ``KCP_API["TRUSTED_PROXIES"]``, as for the API."""
    return get_api_settings().trusted_proxies
