"""Deprecated: the ``KCP_API`` setting now lives in :mod:`kcp_django.conf` with every other one.

Read it as ``kcp_django.conf.kcp_settings.API``. This module re-exports the old names for one
release and warns when imported.
"""

from __future__ import annotations

import warnings

from kcp_django.conf import (
    API_KEYS,
    DEFAULT_AUTHENTICATION_CLASSES,
    DEFAULT_LIMITS,
    DEFAULT_REFUND_PERMISSION_CLASSES,
    DEFAULT_THROTTLE_RATES,
    LIMIT_SCOPES,
    REJECTION_DETAILS,
    THROTTLE_SCOPES,
    ApiSettings,
    IpNetwork,
    kcp_settings,
    parse_api_settings,
)
from kcp_django.conf import API_SETTING as SETTING

__all__ = [
    "DEFAULT_AUTHENTICATION_CLASSES",
    "DEFAULT_LIMITS",
    "DEFAULT_REFUND_PERMISSION_CLASSES",
    "DEFAULT_THROTTLE_RATES",
    "LIMIT_SCOPES",
    "REJECTION_DETAILS",
    "SETTING",
    "THROTTLE_SCOPES",
    "ApiSettings",
    "IpNetwork",
    "get_api_settings",
    "parse_api_settings",
]

_KNOWN_KEYS = API_KEYS

warnings.warn(
    "kcp_django.api.conf is deprecated: use kcp_django.conf (kcp_settings.API).", DeprecationWarning, stacklevel=2
)


def get_api_settings() -> ApiSettings:
    """``kcp_django.conf.kcp_settings.API``."""
    return kcp_settings.API
