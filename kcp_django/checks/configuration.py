"""System checks for kcp_django's configuration (ids ``kcp_django.E0xx`` / ``W0xx``).

Each problem is reported once, under its own id:

- ``E001``: ``KCP_MERCHANTS``, ``KCP_ENCRYPTION_KEYS`` or ``KCP_INDEX_KEY`` is invalid (one
  message per merchant alias and per key setting);
- ``E002``: ``KCP_API`` is invalid, names a merchant alias that does not exist or a cache that is
  not in ``CACHES``;
- ``E003``: another ``KCP_*`` setting of :data:`kcp_django.conf.SETTINGS` is invalid;
- ``W001``: the built-in development keys are in use while ``DEBUG`` is off;
- ``W002``: the REST API's throttles count in a per-process cache; only under ``check --deploy``
  or while ``DEBUG`` is off, as a development server runs one process anyway.

A hint names what the user set: the environment variable when ``conf.settings_from_env`` read the
value from one, the setting otherwise. ``docs/settings.md`` lists every id with its fix.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from kcp_django import conf

MERCHANT_AND_KEY_SETTINGS = ("KCP_MERCHANTS", "KCP_ENCRYPTION_KEYS", "KCP_INDEX_KEY")
API_SETTING = "KCP_API"


def _hint(exc: ImproperlyConfigured) -> str:
    if isinstance(exc, conf.SettingError) and exc.variable:
        return (
            f"Set the environment variable {exc.variable} (kcp_django.conf.settings_from_env reads it into "
            f"{exc.setting}); see docs/settings.md."
        )
    if isinstance(exc, conf.SettingError):
        return f"Fix {exc.setting} in the settings module; see docs/settings.md."
    return "Fix the setting named above; see docs/settings.md."


def _error(exc: ImproperlyConfigured, check_id: str) -> Error:
    return Error(f"KCP settings are invalid: {exc}", hint=_hint(exc), id=check_id)


def _setting_problems() -> list[tuple[ImproperlyConfigured, str]]:
    """Every problem of the table's settings but ``KCP_API``, with its check id, each once."""
    found: list[tuple[ImproperlyConfigured, str]] = []
    try:
        aliases = conf.merchant_aliases()
    except ImproperlyConfigured as exc:
        found.append((exc, "kcp_django.E001"))
        aliases = []
    for alias in aliases:
        try:
            conf.get_merchant(alias)
        except conf.SettingError as exc:
            found += [(problem, "kcp_django.E001") for problem in exc.errors]  # every problem, in one run
        except ImproperlyConfigured as exc:
            found.append((exc, "kcp_django.E001"))
    for row in conf.SETTINGS:
        if row.name in ("KCP_MERCHANTS", API_SETTING):
            continue
        try:
            conf.get(row.name)
        except ImproperlyConfigured as exc:
            # A key setting that depends on a broken merchant repeats the merchant's error: said once above.
            if str(exc) not in {str(seen) for seen, _ in found}:
                check_id = "kcp_django.E001" if row.name in MERCHANT_AND_KEY_SETTINGS else "kcp_django.E003"
                found.append((exc, check_id))
    return found


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems = _setting_problems()
    messages: list[CheckMessage] = [_error(exc, check_id) for exc, check_id in problems]
    if any(check_id == "kcp_django.E001" for _, check_id in problems):
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
    """``KCP_API`` is valid, names a configured merchant and cache; with ``DEBUG`` off, its
    throttles (when mounted and on) use a shared cache."""
    try:
        api = conf.kcp_settings.API
        try:
            aliases = conf.merchant_aliases()
        except ImproperlyConfigured:
            aliases = [api.merchant]  # KCP_MERCHANTS itself is broken: E001 says so
        if api.merchant not in aliases:
            raise conf.SettingError(
                f"{API_SETTING}['MERCHANT']",
                f"{api.merchant!r} is not an alias in KCP_MERCHANTS (configured: {', '.join(sorted(aliases))}).",
            )
        if api.throttle_cache not in settings.CACHES:
            raise conf.SettingError(
                f"{API_SETTING}['THROTTLE_CACHE']", f"{api.throttle_cache!r} is not an alias in CACHES."
            )
    except ImproperlyConfigured as exc:
        return [_error(exc, "kcp_django.E002")]
    if settings.DEBUG:
        return []  # a development server: check_api_throttle_cache_for_deploy warns under `check --deploy`
    return _per_process_throttle_cache()


@register(Tags.caches, deploy=True)
def check_api_throttle_cache_for_deploy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``check --deploy`` warns about a per-process throttle cache even with ``DEBUG`` on (with it off,
    :func:`check_api_settings` already has)."""
    if not settings.DEBUG:
        return []
    try:
        api = conf.kcp_settings.API
    except ImproperlyConfigured:
        return []  # E002 explains
    if api.throttle_cache not in settings.CACHES:
        return []
    return _per_process_throttle_cache()


def _per_process_throttle_cache() -> list[CheckMessage]:
    from django.urls import NoReverseMatch, reverse

    api = conf.kcp_settings.API
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
