"""The client's IP address: ``REMOTE_ADDR``, or ``X-Forwarded-For`` only behind trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.http import HttpRequest

from kcp_django.api.conf import IpNetwork


def client_ip(request: HttpRequest, trusted_proxies: Iterable[IpNetwork]) -> str | None:
    """The address of whoever sent ``request``.

    When ``REMOTE_ADDR`` is a trusted proxy, ``X-Forwarded-For`` is read from the right (the entry
    the nearest proxy added) and the first address that is not itself a trusted proxy is the client.
    Anything a client could have written further left is never believed.
    """
    networks = tuple(trusted_proxies)
    remote = _parse(request.META.get("REMOTE_ADDR", ""))
    if remote is None:
        return None
    if not networks or not _is_trusted(remote, networks):
        return str(remote)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    client = remote
    for entry in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        address = _parse(entry)
        if address is None:
            break  # a malformed hop: stop at the last address we could trust
        client = address
        if not _is_trusted(address, networks):
            break
    return str(client)


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # A zone ("fe80::1%eth0") means nothing off this host, and the database's inet types refuse it.
    try:
        address = ipaddress.ip_address(value.strip().partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[IpNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)
