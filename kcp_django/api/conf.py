"""The ``KCP_API`` setting, read when used (so ``override_settings`` works) and validated.

Every key is optional; errors name the key to fix::

    KCP_API = {
        "PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
        "AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],  # only these
        "MERCHANT": "default",                 # the KCP_MERCHANTS alias the API verifies with
        "LIMITS": {"reference": 5, "user": 20, "account": 5},   # attempts per day; None: no cap
        "THROTTLE_RATES": {"kcp_verify": "10/min", "kcp_read": "60/min"},  # None: no throttle
        "THROTTLE_CACHE": "default",           # alias in CACHES; must be shared by every worker
        "IDEMPOTENCY_TTL": 86400,              # seconds an Idempotency-Key is remembered
        "IDEMPOTENCY_WAIT": 5,                 # seconds a repeated key waits for the first answer
        "IDEMPOTENCY_LEASE": 120,              # seconds before an unanswered claim counts as abandoned
        "TRUSTED_PROXIES": [],                 # addresses/networks whose X-Forwarded-For is believed
        "REFERENCE_OWNER_CHECK": None,         # dotted path to f(request, reference) -> bool; False: 403
        "REJECTION_DETAIL": "none",            # what a non-staff caller learns of a rejection: "none" | "category"
        "REFUND_PERMISSION_CLASSES": [...],    # who may use refunds/; default: staff with the model permission
    }

The setting is a row of :data:`kcp_django.conf.SETTINGS`, whose validator is
:func:`parse_api_settings`. This module imports nothing of DRF or of the app's models.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from kcp_django import conf

SETTING = "KCP_API"
LIMIT_SCOPES = ("reference", "user", "account")
THROTTLE_SCOPES = ("kcp_verify", "kcp_read")

DEFAULT_AUTHENTICATION_CLASSES = ("rest_framework.authentication.SessionAuthentication",)
DEFAULT_LIMITS: dict[str, int | None] = {"reference": 5, "user": 20, "account": 5}
DEFAULT_THROTTLE_RATES: dict[str, str | None] = {"kcp_verify": "10/min", "kcp_read": "60/min"}
#: What a caller who is not staff learns of a rejection: nothing beyond ``rejected`` (the default), or
#: a coarse category (``holder_mismatch``, ``account_invalid``, ``other``). Staff always see ``res_cd``.
REJECTION_DETAILS = ("none", "category")
#: Staff with ``kcp_django.request_refund`` (POST) or ``kcp_django.view_refund`` (GET).
DEFAULT_REFUND_PERMISSION_CLASSES = ["kcp_django.api.refund_views.IsRefundStaff"]
_RATE_PERIODS = ("s", "m", "h", "d")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ApiSettings:
    permission_classes: tuple[str, ...]
    authentication_classes: tuple[str, ...]
    merchant: str
    limits: Mapping[str, int | None]
    throttle_rates: Mapping[str, str | None]
    throttle_cache: str
    idempotency_ttl: float
    idempotency_wait: float
    idempotency_lease: float
    trusted_proxies: tuple[IpNetwork, ...]
    rejection_detail: str
    #: Dotted path to ``f(request, reference) -> bool``: may this caller use this reference? ``None``: anyone.
    reference_owner_check: str | None = None
    refund_permission_classes: tuple[str, ...] = tuple(DEFAULT_REFUND_PERMISSION_CLASSES)

    @property
    def throttles_enabled(self) -> bool:
        return any(rate is not None for rate in self.throttle_rates.values())


def _error(key: str, problem: str) -> conf.SettingError:
    return conf.SettingError(f"{SETTING}[{key!r}]", problem)


@functools.cache
def get_api_settings() -> ApiSettings:
    """The validated ``KCP_API`` setting, defaults filled in; read again when the setting changes."""
    api: ApiSettings = conf.get(SETTING)
    return api


def parse_api_settings(value: Any) -> ApiSettings:
    """Validate a ``KCP_API`` value (``None``: every default); errors name the key and the rule."""
    raw = value or {}
    if not isinstance(raw, Mapping):
        raise conf.SettingError(SETTING, "must be a dict (its keys are in kcp-django's docs/api.md).")
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise conf.SettingError(SETTING, f"unknown keys {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}.")
    return ApiSettings(
        permission_classes=_dotted_paths(raw, "PERMISSION_CLASSES", ["rest_framework.permissions.IsAuthenticated"]),
        authentication_classes=_authentication_classes(raw),
        merchant=_text(raw, "MERCHANT", "default"),
        limits=_limits(raw.get("LIMITS")),
        throttle_rates=_throttle_rates(raw.get("THROTTLE_RATES")),
        throttle_cache=_text(raw, "THROTTLE_CACHE", "default"),
        idempotency_ttl=_seconds(raw, "IDEMPOTENCY_TTL", 86400, minimum=60),
        idempotency_wait=_seconds(raw, "IDEMPOTENCY_WAIT", 5, minimum=0),
        idempotency_lease=_seconds(raw, "IDEMPOTENCY_LEASE", 120, minimum=1),
        trusted_proxies=_networks(raw.get("TRUSTED_PROXIES", [])),
        reference_owner_check=_optional_dotted_path(raw, "REFERENCE_OWNER_CHECK"),
        rejection_detail=_choice(raw, "REJECTION_DETAIL", REJECTION_DETAILS),
        refund_permission_classes=_dotted_paths(raw, "REFUND_PERMISSION_CLASSES", DEFAULT_REFUND_PERMISSION_CLASSES),
    )


_KNOWN_KEYS = frozenset(
    {
        "PERMISSION_CLASSES",
        "AUTHENTICATION_CLASSES",
        "MERCHANT",
        "LIMITS",
        "THROTTLE_RATES",
        "THROTTLE_CACHE",
        "IDEMPOTENCY_TTL",
        "IDEMPOTENCY_WAIT",
        "IDEMPOTENCY_LEASE",
        "TRUSTED_PROXIES",
        "REFERENCE_OWNER_CHECK",
        "REJECTION_DETAIL",
        "REFUND_PERMISSION_CLASSES",
    }
)


def _text(raw: Mapping[str, Any], key: str, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise _error(key, "must be a non-empty string.")
    return value


def _choice(raw: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = raw.get(key, choices[0])
    if value not in choices:
        raise _error(key, f"must be one of {list(choices)} (default {choices[0]!r}), not {value!r}.")
    return str(value)


def _dotted_paths(raw: Mapping[str, Any], key: str, default: list[str]) -> tuple[str, ...]:
    value = raw.get(key, default)
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _error(key, "must be a list of dotted paths to classes.")
    if not all(isinstance(path, str) and "." in path for path in value):
        raise _error(key, "must be a list of dotted paths to classes, e.g. 'rest_framework.permissions.IsAdminUser'.")
    return tuple(value)


def _optional_dotted_path(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or "." not in value):
        raise _error(key, "must be None or the dotted path to a function, e.g. 'shop.api.owns_reference'.")
    return value


def _authentication_classes(raw: Mapping[str, Any]) -> tuple[str, ...]:
    # Explicit, whatever REST_FRAMEWORK says: HTTP Basic (DRF's other default) only when listed here.
    if "AUTHENTICATION_CLASSES" in raw and raw["AUTHENTICATION_CLASSES"] is None:
        raise _error(
            "AUTHENTICATION_CLASSES",
            "must be a list of dotted paths to authentication classes; None no longer means "
            "REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES']: list the classes the API should accept "
            f"(default {list(DEFAULT_AUTHENTICATION_CLASSES)}).",
        )
    return _dotted_paths(raw, "AUTHENTICATION_CLASSES", list(DEFAULT_AUTHENTICATION_CLASSES))


def _limits(value: Any) -> dict[str, int | None]:
    value = {} if value is None else value
    if not isinstance(value, Mapping) or set(value) - set(LIMIT_SCOPES):
        raise _error("LIMITS", f"must be a dict with keys among {list(LIMIT_SCOPES)}.")
    limits = {**DEFAULT_LIMITS, **value}
    for scope, limit in limits.items():
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise _error("LIMITS", f"{scope!r} must be a whole number of attempts per day (1 or more), or None.")
    return limits


def _throttle_rates(value: Any) -> dict[str, str | None]:
    value = {} if value is None else value
    if not isinstance(value, Mapping) or set(value) - set(THROTTLE_SCOPES):
        raise _error("THROTTLE_RATES", f"must be a dict with keys among {list(THROTTLE_SCOPES)}.")
    rates = {**DEFAULT_THROTTLE_RATES, **value}
    for scope, rate in rates.items():
        if rate is not None and not _is_rate(rate):
            raise _error("THROTTLE_RATES", f"{scope!r} must look like '10/min' (per s, min, hour or day), or None.")
    return rates


def _is_rate(rate: object) -> bool:
    if not isinstance(rate, str):
        return False
    number, _, period = rate.partition("/")
    return number.isdigit() and int(number) > 0 and period[:1] in _RATE_PERIODS


def _seconds(raw: Mapping[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise _error(key, f"must be a number of seconds, at least {minimum:g}.")
    return float(value)


def _networks(value: Any) -> tuple[IpNetwork, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _error("TRUSTED_PROXIES", "must be a list of IP addresses or networks, e.g. ['10.0.0.0/8'].")
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in value)
    except (TypeError, ValueError) as exc:
        raise _error("TRUSTED_PROXIES", f"holds something that is not an IP address or network: {exc}") from None


@receiver(setting_changed)
def _forget_api_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING:
        get_api_settings.cache_clear()


conf.register_validator(SETTING, parse_api_settings)
