"""System checks for kcp_django's configuration (ids ``kcp_django.E0xx`` / ``W0xx``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from kcp_django import conf


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    try:
        conf.all_merchants()
        conf.get_encryption_keys()
        conf.get_index_key()
    except ImproperlyConfigured as exc:
        messages.append(
            Error(
                f"KCP settings are invalid: {exc}",
                hint="Fix the setting named above; see the settings reference in kcp-django's README.",
                id="kcp_django.E001",
            )
        )
        return messages
    if conf.uses_development_keys() and not settings.DEBUG:
        messages.append(
            Warning(
                "kcp-django is using its built-in DEVELOPMENT keys: account numbers are encrypted with a key "
                "anyone can read in the source code.",
                hint="Set KCP_ENCRYPTION_KEYS and KCP_INDEX_KEY (make them with `manage.py kcp_generate_keys`).",
                id="kcp_django.W001",
            )
        )
    return messages


#: Cache backends whose state lives in one process: throttle counts kept there are per worker.
PER_PROCESS_CACHES = frozenset(
    {"django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache"}
)


@register(Tags.caches, Tags.compatibility)
def check_api_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``KCP_API`` is valid, and the REST API's throttles (when mounted and on) use a shared cache."""
    from django.urls import NoReverseMatch, reverse

    from kcp_django.api.conf import get_api_settings

    try:
        api = get_api_settings()
        conf.get_merchant(api.merchant)
        if api.throttle_cache not in settings.CACHES:
            raise ImproperlyConfigured(f"KCP_API['THROTTLE_CACHE']: {api.throttle_cache!r} is not an alias in CACHES.")
    except ImproperlyConfigured as exc:
        return [
            Error(
                f"KCP settings are invalid: {exc}",
                hint="Fix the setting named above; see 'REST API' in kcp-django's README.",
                id="kcp_django.E001",
            )
        ]
    try:
        reverse("kcp_api:verification-list")
    except NoReverseMatch:
        return []  # the API is not mounted: its throttles never run
    backend = settings.CACHES[api.throttle_cache].get("BACKEND", "")
    if api.throttles_enabled and backend in PER_PROCESS_CACHES:
        return [
            Warning(
                f"kcp-django's API throttles count requests in the cache {api.throttle_cache!r} ({backend}), "
                "which every worker process keeps for itself: each worker lets the full rate through.",
                hint="Point KCP_API['THROTTLE_CACHE'] at a shared cache (Redis, Memcached, the database cache), "
                "or turn the throttles off with KCP_API['THROTTLE_RATES'] = {'kcp_verify': None, 'kcp_read': None}. "
                "The daily caps are in the database and hold either way.",
                id="kcp_django.W002",
            )
        ]
    return []
