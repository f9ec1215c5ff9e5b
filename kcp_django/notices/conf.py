"""Deprecated: the notice view's settings now live in :mod:`kcp_django.conf` with every other one.

``KCP_NOTICE_IPS`` is ``kcp_settings.NOTICE_IPS``; the proxies whose ``X-Forwarded-For`` is believed
are ``kcp_settings.TRUSTED_PROXIES`` (``KCP_TRUSTED_PROXIES``, shared with the REST API). This module
re-exports the old names for one release and warns when imported.
"""

from __future__ import annotations

import warnings

from kcp_django.conf import DEFAULT_NOTICE_IPS, IpNetwork, kcp_settings

__all__ = ["DEFAULT_NOTICE_IPS", "notice_networks", "trusted_proxies"]

warnings.warn(
    "kcp_django.notices.conf is deprecated: use kcp_django.conf (kcp_settings.NOTICE_IPS, "
    "kcp_settings.TRUSTED_PROXIES).",
    DeprecationWarning,
    stacklevel=2,
)


def notice_networks() -> tuple[IpNetwork, ...]:
    """``kcp_django.conf.kcp_settings.NOTICE_IPS``."""
    return kcp_settings.NOTICE_IPS


def trusted_proxies() -> tuple[IpNetwork, ...]:
    """``kcp_django.conf.kcp_settings.TRUSTED_PROXIES``."""
    return kcp_settings.TRUSTED_PROXIES
