"""Deprecated: the ``KCP_API`` setting lives in :mod:`kcp_django.conf` with every other setting.

Read it as ``kcp_django.conf.kcp_settings.API``; the other names of this module are in
:mod:`kcp_django.conf` too (``SETTING`` as ``API_SETTING``). Each old name warns and goes in
kcp-django 0.3 (docs/upgrading.md).
"""

from __future__ import annotations

import warnings
from typing import Any

from kcp_django import conf
from kcp_django.deprecation import REMOVED_IN, moved_names

_moved = moved_names(__name__, "kcp_django.conf")


def _api_settings() -> conf.ApiSettings:
    return conf.kcp_settings.API


#: Old name -> (what replaces it, the object handed over meanwhile).
_REPLACED: dict[str, tuple[str, Any]] = {
    "get_api_settings": ("kcp_django.conf.kcp_settings.API", _api_settings),
    "SETTING": ("kcp_django.conf.API_SETTING", conf.API_SETTING),
}


def __getattr__(name: str) -> Any:
    if name in _REPLACED:
        replacement, value = _REPLACED[name]
        warnings.warn(
            f"{__name__}.{name} is deprecated: use {replacement}; the old name goes in kcp-django {REMOVED_IN}.",
            DeprecationWarning,
            stacklevel=2,
        )
        return value
    return _moved(name)
