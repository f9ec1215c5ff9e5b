"""Deprecated: the notice view's settings live in :mod:`kcp_django.conf` with every other setting.

``KCP_NOTICE_IPS`` is ``kcp_settings.NOTICE_IPS``; the proxies whose ``X-Forwarded-For`` is believed
are ``kcp_settings.TRUSTED_PROXIES`` (``KCP_TRUSTED_PROXIES``, shared with the REST API). Each old
name warns and goes in kcp-django 0.3 (docs/upgrading.md).
"""

from __future__ import annotations

from kcp_django import conf
from kcp_django.deprecation import moved_names, replaced_names


def _notice_networks() -> tuple[conf.IpNetwork, ...]:
    return conf.kcp_settings.NOTICE_IPS


def _trusted_proxies() -> tuple[conf.IpNetwork, ...]:
    return conf.kcp_settings.TRUSTED_PROXIES


__getattr__ = replaced_names(
    __name__,
    {
        "notice_networks": ("kcp_django.conf.kcp_settings.NOTICE_IPS", _notice_networks),
        "trusted_proxies": ("kcp_django.conf.kcp_settings.TRUSTED_PROXIES", _trusted_proxies),
    },
    fallback=moved_names(__name__, "kcp_django.conf", ["DEFAULT_NOTICE_IPS"]),
)
