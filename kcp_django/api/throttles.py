"""DRF rate throttles with their rates in ``KCP_API["THROTTLE_RATES"]`` and their state in the cache
``KCP_API["THROTTLE_CACHE"]``.

Throttles slow a script down cheaply, but a cache count is not exact under concurrency: the caps
that protect money are in :mod:`kcp_django.api.limits`.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import caches
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from kcp_django.client_ip import client_ip
from kcp_django.conf import kcp_settings


class KcpRateThrottle(SimpleRateThrottle):
    """Per signed-in user, or per client IP for anonymous callers (``KCP_TRUSTED_PROXIES`` honoured)."""

    scope = "kcp"

    def __init__(self) -> None:
        self.api_settings = kcp_settings.API
        self.cache = caches[self.api_settings.throttle_cache]
        super().__init__()

    def get_rate(self) -> str | None:
        return self.api_settings.throttle_rates.get(str(self.scope))

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = request.user
        if user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            ident = f"ip:{client_ip(request._request, kcp_settings.TRUSTED_PROXIES) or 'unknown'}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class VerifyThrottle(KcpRateThrottle):
    """Starting verifications: each may cost a KCP fee."""

    scope = "kcp_verify"


class ReadThrottle(KcpRateThrottle):
    """Polling a verification and reading the bank table."""

    scope = "kcp_read"
