"""The client's IP address: ``REMOTE_ADDR``, or ``X-Forwarded-For`` only behind trusted proxies.

Shared by the REST API and KCP's notice view; it reads no setting (the caller passes the proxies).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.http import HttpRequest

__all__ = [
    "IpNetwork",
    "client_ip",
    "in_networks",
    "parse_address",
]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(request: HttpRequest, trusted_proxies: Iterable[IpNetwork]) -> str | None:
    """The address of whoever sent ``request``.

    When ``REMOTE_ADDR`` is a trusted proxy, ``X-Forwarded-For`` is read from the right (the entry
    the nearest proxy added) and the first address that is not itself a trusted proxy is the client.
    Anything a client could have written further left is never believed.
    """
    networks = tuple(trusted_proxies)
    remote = parse_address(request.META.get("REMOTE_ADDR", ""))
    if remote is None:
        return None
    if not networks or not in_networks(remote, networks):
        return str(remote)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    client = remote
    for entry in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        address = parse_address(entry)
        if address is None:
            break  # a malformed hop: stop at the last address we could trust
        client = address
        if not in_networks(address, networks):
            break
    return str(client)


def parse_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``value`` as an address (zone dropped, IPv4-mapped IPv6 as IPv4), or None when it is not one."""
    # A zone ("fe80::1%eth0") means nothing off this host, and the database's inet types refuse it.
    try:
        address = ipaddress.ip_address(value.strip().partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[IpNetwork, ...]) -> bool:
    """Whether ``address`` lies in one of ``networks`` (parse it with :func:`parse_address` first)."""
    return any(address.version == network.version and address in network for network in networks)
