"""Deprecated: the ``KCP_API`` setting lives in :mod:`kcp_django.conf` with every other setting.

Read it as ``kcp_django.conf.kcp_settings.API``; the other names of this module are in
:mod:`kcp_django.conf` too (``SETTING`` as ``API_SETTING``). Each old name warns and goes in
kcp-django 0.3 (docs/upgrading.md).
"""

from __future__ import annotations

from kcp_django import conf
from kcp_django.deprecation import moved_names, replaced_names


def _api_settings() -> conf.ApiSettings:
    return conf.kcp_settings.API


__getattr__ = replaced_names(
    __name__,
    {
        "get_api_settings": ("kcp_django.conf.kcp_settings.API", _api_settings),
        "SETTING": ("kcp_django.conf.API_SETTING", conf.API_SETTING),
    },
    fallback=moved_names(__name__, "kcp_django.conf"),
)
