"""Every ``KCP_*`` setting of the app, in one table, read lazily and validated.

:data:`SETTINGS` lists each setting with its default, its validation and one line of
documentation (``docs/settings.md`` is rendered from it, and a test keeps the two equal).
:data:`kcp_settings` gives each one as a typed attribute (``kcp_settings.NOTICE_IPS`` for
``KCP_NOTICE_IPS``), validated at first use and read again when a setting changes
(``override_settings``); :func:`get` is the same by name and :func:`raw` gives the value as
configured, before validation. Every error is a :class:`~kcp_django.exceptions.SettingError`
naming the setting to fix, or the environment variable that fed it when :func:`settings_from_env`
built it. This module imports nothing else of the app at import time but
:mod:`kcp_django.exceptions`; the wire layouts of ``OPTIONS['LAYOUT']`` and
``OPTIONS['REFUND_LAYOUTS']`` are checked by their own modules, loaded by dotted path when a
merchant is first read.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import ipaddress
import math
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from kcp_django.exceptions import SettingError

__all__ = [
    "API_SETTING",
    "DEFAULT_ALIAS",
    "DEFAULT_NOTICE_IPS",
    "SETTINGS",
    "ApiSettings",
    "IpNetwork",
    "KcpSettings",
    "MerchantConfig",
    "Setting",
    "SettingError",
    "all_merchants",
    "declared_merchant",
    "get",
    "get_encryption_keys",
    "get_index_key",
    "get_merchant",
    "kcp_settings",
    "merchant_aliases",
    "parse_api_settings",
    "raw",
    "settings_from_env",
    "uses_development_keys",
]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_ALIAS = "default"
SANDBOX_BACKEND = "kcp_django.gateways.sandbox.SandboxGateway"
PPCLI_BACKEND = "kcp_django.gateways.ppcli.PpCliGateway"
GATEWAY_SHORTCUTS = {"sandbox": SANDBOX_BACKEND, "ppcli": PPCLI_BACKEND, "pp_cli": PPCLI_BACKEND}

#: KCP's public test merchants, used by its own sample kits. Never valid in real mode.
TEST_CREDENTIALS = {
    "T0000": "3grptw1.zW0GSo4PQdaGvsF__",
    "T0007": "4Ho4YsuOZlLXUZUdOxM1Q7X__",
}
TEST_SITE_CD_PATTERN = re.compile(r"^T000", re.IGNORECASE)
SITE_CD_PATTERN = re.compile(r"^[A-Za-z0-9]{5}$")
#: Characters that would break pp_cli's argument framing or the guide's rules.
FORBIDDEN_IN_CREDENTIALS = re.compile(r"[,&;\\|'\"<>\x00-\x20\x7f]")
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")

#: Development-only keys: used when no key is configured and every merchant is in test mode.
#: A system check warns whenever they are in use; real mode refuses them.
DEVELOPMENT_ENCRYPTION_KEY = "dev:" + base64.urlsafe_b64encode(b"kcp-django-development-only-key!").decode()
DEVELOPMENT_INDEX_KEY = base64.urlsafe_b64encode(b"kcp-django-dev-only-index-key!!!").decode()

Mode = Literal["test", "real"]


def _setting_error(name: str, problem: str) -> SettingError:
    return SettingError(name, problem)


class _FromEnvironment(dict[str, Any]):
    """A dict that :func:`settings_from_env` filled, remembering which variable fed each key.

    It is the plain dict it looks like; only error messages use what it remembers, and only for a
    key whose value is still the one the variable gave (a settings module may change it after).
    """

    def __init__(self, values: Mapping[str, Any], variables: Mapping[str, str]) -> None:
        super().__init__(values)
        self.fed_by = {key: (variable, values.get(key)) for key, variable in variables.items()}


def _variable(container: Any, key: str) -> str:
    """The environment variable that gave ``container[key]`` its current value, or ``""``."""
    if not isinstance(container, _FromEnvironment) or key not in container.fed_by:
        return ""
    variable, value = container.fed_by[key]
    return variable if container.get(key) == value else ""


@dataclass(frozen=True)
class MerchantConfig:
    """One validated ``KCP_MERCHANTS`` alias."""

    alias: str
    backend: str
    mode: Mode
    site_cd: str
    site_key: str = field(repr=False)
    home_dir: str = ""
    bin: str = ""
    log_dir: str = ""
    log_level: int = 3
    timeout: float = 15.0
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def uses_test_credentials(self) -> bool:
        return bool(TEST_SITE_CD_PATTERN.match(self.site_cd))

    @property
    def gateway_host(self) -> str:
        return "testpaygw.kcp.co.kr" if self.mode == "test" else "paygw.kcp.co.kr"


def merchant_aliases() -> list[str]:
    return list(_merchant_entries(raw("KCP_MERCHANTS")))


def _merchant_entries(value: Any) -> Mapping[str, Any]:
    if value is None:
        # No MODE: with DEBUG on it is test mode, with DEBUG off it must be chosen (see declared_mode).
        return {DEFAULT_ALIAS: {"BACKEND": SANDBOX_BACKEND, "OPTIONS": {}}}
    if not isinstance(value, Mapping) or not value:
        raise _setting_error("KCP_MERCHANTS", "must be a non-empty dict of alias -> {'BACKEND', 'OPTIONS'}.")
    return value


@functools.cache
def get_merchant(alias: str = DEFAULT_ALIAS) -> MerchantConfig:
    """The validated configuration of ``KCP_MERCHANTS[alias]``; read again when a setting changes.

    Raises one :class:`SettingError` listing every problem of the alias (``errors``), not only the first.
    """
    merchants = _merchant_entries(raw("KCP_MERCHANTS"))
    if alias not in merchants:
        known = ", ".join(sorted(merchants))
        raise _setting_error(f"KCP_MERCHANTS[{alias!r}]", f"no such merchant alias (configured: {known}).")
    return _build_merchant(alias, merchants[alias])


def _validate_merchants(name: str, value: Any) -> dict[str, MerchantConfig]:
    built: dict[str, MerchantConfig] = {}
    problems: list[SettingError] = []
    for alias, entry in _merchant_entries(value).items():
        try:
            built[str(alias)] = _build_merchant(str(alias), entry)
        except SettingError as exc:
            problems += exc.errors
    if problems:
        raise SettingError.combine(problems)
    return built


def declared_mode(alias: str = DEFAULT_ALIAS) -> str:
    """The mode ``KCP_MERCHANTS[alias]`` asks for, without validating anything else: ``"test"``,
    ``"real"``, ``""`` when none is set while ``DEBUG`` is off, or whatever else was written."""
    try:
        entry = _merchant_entries(raw("KCP_MERCHANTS")).get(alias)
    except SettingError:
        return ""
    options = entry.get("OPTIONS", {}) if isinstance(entry, Mapping) else {}
    return _mode_of(options if isinstance(options, Mapping) else {})


def declared_backend(alias: str = DEFAULT_ALIAS) -> str:
    """The gateway class path ``KCP_MERCHANTS[alias]`` names, without validating anything else."""
    try:
        entry = _merchant_entries(raw("KCP_MERCHANTS")).get(alias)
    except SettingError:
        return ""
    backend = str(entry.get("BACKEND", "sandbox")) if isinstance(entry, Mapping) else ""
    return GATEWAY_SHORTCUTS.get(backend, backend)


def _mode_of(options: Mapping[str, Any]) -> str:
    mode = str(options.get("MODE") or "").strip().lower()
    if not mode and settings.DEBUG:
        return "test"
    return mode


#: Options checked by the module that owns their format, loaded when a merchant is first read:
#: ``check(value)`` raises ``ImproperlyConfigured`` naming the entry and the rule.
OPTION_CHECKS = {
    "LAYOUT": "kcp_django.gateways.ppcli.layout.load_layout",
    "REFUND_LAYOUTS": "kcp_django.gateways.ppcli.installation.validate_refund_layouts",
}


def _build_merchant(alias: str, entry: Any) -> MerchantConfig:
    """``entry`` validated; every problem of it is found before one :class:`SettingError` lists them."""
    merchant, problems = _read_merchant(alias, entry)
    if problems or merchant is None:
        raise SettingError.combine(problems)
    return merchant


def declared_merchant(alias: str = DEFAULT_ALIAS) -> MerchantConfig | None:
    """``KCP_MERCHANTS[alias]`` as far as it can be read despite its problems (the system checks look
    at its gateway in the same run that reports them), or ``None`` when not even its backend and mode
    are usable. Options that break their rules are left out; never for sending anything."""
    try:
        entry = _merchant_entries(raw("KCP_MERCHANTS")).get(alias)
    except SettingError:
        return None
    return _read_merchant(alias, entry)[0]


def _read_merchant(alias: str, entry: Any) -> tuple[MerchantConfig | None, list[SettingError]]:
    where = f"KCP_MERCHANTS[{alias!r}]"
    if not isinstance(entry, Mapping):
        return None, [_setting_error(where, "must be a dict with 'BACKEND' and 'OPTIONS'.")]
    given = entry.get("OPTIONS", {})
    if not isinstance(given, Mapping):
        return None, [_setting_error(f"{where}['OPTIONS']", "must be a dict.")]
    options = dict(given)
    problems: list[SettingError] = []

    def error(key: str, problem: str) -> None:
        problems.append(SettingError(f"{where}['OPTIONS'][{key!r}]", problem, _variable(given, key)))

    backend = GATEWAY_SHORTCUTS.get(str(entry.get("BACKEND", "sandbox")), str(entry.get("BACKEND", "")))
    if not backend or "." not in backend:
        problems.append(
            SettingError(
                f"{where}['BACKEND']",
                "must be 'sandbox', 'ppcli' or a dotted path to a gateway class.",
                _variable(entry, "BACKEND"),
            )
        )

    mode = _mode_of(options)
    if not mode:
        error(
            "MODE",
            "must be set to 'test' or 'real' when DEBUG is False: kcp-django will not guess whether refunds "
            "move real money.",
        )
    elif mode not in ("test", "real"):
        error("MODE", f"must be 'test' or 'real', not {mode!r}.")

    site_cd = str(options.get("SITE_CD", "") or "").strip()
    site_key = str(options.get("SITE_KEY", "") or "").strip()
    if mode == "test" and not site_cd:
        site_cd = "T0000"
    if mode == "test" and not site_key and site_cd.upper() in TEST_CREDENTIALS:
        site_key = TEST_CREDENTIALS[site_cd.upper()]
    if mode not in ("test", "real"):
        pass  # the credentials' rules depend on the mode, which is reported above
    elif not SITE_CD_PATTERN.match(site_cd):
        error("SITE_CD", "must be the 5-character site code KCP issued (e.g. 'A52Q7').")
    elif mode == "real" and TEST_SITE_CD_PATTERN.match(site_cd):
        error("SITE_CD", f"{site_cd!r} is a KCP test site code; real mode needs the code from your contract.")
    if mode not in ("test", "real"):
        pass
    elif not site_key:
        error("SITE_KEY", "is empty; it must be the site key KCP issued with the site code.")
    elif mode == "real" and site_key in TEST_CREDENTIALS.values():
        error("SITE_KEY", "is KCP's public test key; real mode needs your own site key.")
    elif FORBIDDEN_IN_CREDENTIALS.search(site_key) or len(site_key) > 64:
        error("SITE_KEY", "holds characters KCP's client cannot carry, or is too long.")

    timeout = _option_number(options, "TIMEOUT", 15.0, error, "must be a number of seconds")
    if not 0 < timeout <= 300:
        error("TIMEOUT", "must be between 0 and 300 seconds.")
    log_level = 3
    try:
        log_level = int(options.get("LOG_LEVEL", 3))
    except (TypeError, ValueError):
        error("LOG_LEVEL", "must be a whole number (KCP's samples use 3).")
    latency = _option_number(
        options, "SANDBOX_LATENCY", 0.0, error, "must be a number of seconds (the sandbox's delay)"
    )
    if not 0 <= latency <= 60:
        error("SANDBOX_LATENCY", "must be between 0 and 60 seconds.")
    for key, check in OPTION_CHECKS.items():
        if options.get(key) is not None:
            try:
                import_string(check)(options[key])
            except ImproperlyConfigured as exc:
                # The owner names the entry as KCP_MERCHANTS[...]['OPTIONS'][key]...: name the alias instead.
                path, _, problem = str(exc).partition(": ")
                problems.append(SettingError(path.replace("KCP_MERCHANTS[...]", where), problem))
                del options[key]
    for key in ("HOME_DIR", "BIN", "LOG_DIR"):
        if not isinstance(options.get(key) or "", str):
            error(key, "must be a path (text).")
            del options[key]
    if mode not in ("test", "real") or not backend or "." not in backend:
        return None, problems

    home_dir = str(options.get("HOME_DIR", "") or "")
    log_dir = str(options.get("LOG_DIR", "") or "")
    if not log_dir and home_dir:
        log_dir = f"{home_dir.rstrip('/')}/log"
    return MerchantConfig(
        alias=alias,
        backend=backend,
        mode=mode,  # type: ignore[arg-type]
        site_cd=site_cd,
        site_key=site_key,
        home_dir=home_dir,
        bin=str(options.get("BIN", "") or ""),
        log_dir=log_dir,
        log_level=log_level,
        timeout=timeout,
        options=options,
    ), problems


def _option_number(
    options: Mapping[str, Any], key: str, default: float, error: Callable[[str, str], None], rule: str
) -> float:
    value = options.get(key)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        error(key, f"{rule}, not {value!r}.")
        return default
    return number


def all_merchants() -> list[MerchantConfig]:
    return [get_merchant(alias) for alias in merchant_aliases()]


def _decode_key(name: str, encoded: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise _setting_error(name, "is not valid base64 (make one with `manage.py kcp_generate_keys`).") from None
    if len(raw) != 32:
        raise _setting_error(name, f"must decode to 32 bytes, not {len(raw)} (use `manage.py kcp_generate_keys`).")
    return raw


def uses_development_keys() -> bool:
    return not raw("KCP_ENCRYPTION_KEYS") or not raw("KCP_INDEX_KEY")


def _development_keys_allowed() -> bool:
    """No merchant asks for real mode (read without validating the merchants, so that a broken
    merchant and a missing key are reported together)."""
    try:
        aliases = merchant_aliases()
    except SettingError:
        return True  # KCP_MERCHANTS itself is broken: its own error says so
    return all(declared_mode(alias) != "real" for alias in aliases)


def _validate_encryption_keys(name: str, configured: Any) -> list[tuple[str, bytes]]:
    if not configured:
        if not _development_keys_allowed():
            raise _setting_error(name, "is required in real mode (make one with `kcp_generate_keys`).")
        configured = [DEVELOPMENT_ENCRYPTION_KEY]
    if isinstance(configured, str):
        configured = [configured]
    if not isinstance(configured, list | tuple):
        raise _setting_error(name, "must be a list of 'id:<base64 of 32 bytes>' keys, newest first.")
    keys: list[tuple[str, bytes]] = []
    for position, item in enumerate(configured):
        entry = f"{name}[{position}]"
        key_id, sep, encoded = str(item).partition(":")
        if not sep or not KEY_ID_PATTERN.match(key_id):
            raise _setting_error(entry, "must look like 'k1:<base64 of 32 bytes>' (a short key id, a colon, the key).")
        if any(existing == key_id for existing, _ in keys):
            raise _setting_error(entry, f"repeats key id {key_id!r}; every key needs its own id.")
        keys.append((key_id, _decode_key(entry, encoded)))
    return keys


def get_encryption_keys() -> list[tuple[str, bytes]]:
    """``[(key_id, 32-byte key), ...]``: the first encrypts, all decrypt."""
    return kcp_settings.ENCRYPTION_KEYS


def _validate_index_key(name: str, configured: Any) -> bytes:
    if not configured:
        if not _development_keys_allowed():
            raise _setting_error(name, "is required in real mode (make one with `kcp_generate_keys`).")
        configured = DEVELOPMENT_INDEX_KEY
    key = _decode_key(name, str(configured))
    if configured == getattr(settings, "SECRET_KEY", None):
        raise _setting_error(name, "must not be SECRET_KEY.")
    return key


def get_index_key() -> bytes:
    """The HMAC key of the blind index over account numbers. Never ``SECRET_KEY``."""
    return kcp_settings.INDEX_KEY


def _whole_number(minimum: int, maximum: int | None = None) -> Callable[[str, Any], int]:
    rule = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"

    def validate(name: str, value: Any) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < minimum
            or (maximum is not None and value > maximum)
        ):
            raise _setting_error(name, f"must be a whole number {rule}, not {value!r}.")
        return value

    return validate


def _duration(name: str, value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        duration = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        duration = dt.timedelta(seconds=value)
    else:
        raise _setting_error(name, "must be a timedelta or a number of seconds.")
    if duration <= dt.timedelta(0):
        raise _setting_error(name, "must be longer than zero.")
    return duration


def _name(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _setting_error(name, f"must be a non-empty string, not {value!r}.")
    return value


def _dotted_path(name: str, value: Any) -> str:
    """A dotted import path (imported where it is used, so this module imports nothing of the shop)."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+", value):
        raise _setting_error(
            name, f"must be a dotted path to a function, like 'shop.refunds.may_refund', not {value!r}."
        )
    return value


#: KCP's published notice senders (its sample pages accept notices only from these).
DEFAULT_NOTICE_IPS: tuple[str, ...] = (
    "203.238.36.58",
    "203.238.36.160",
    "203.238.36.161",
    "203.238.36.173",
    "203.238.36.178",
    "103.215.144.173",
    "103.215.144.174",
    "103.215.145.30",
)


def _networks(name: str, value: Any, *, empty: bool = False) -> tuple[IpNetwork, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _setting_error(name, "must be a list of IP addresses or networks, e.g. ['203.238.36.58', '10.0.0.0/24'].")
    if not value and not empty:
        raise _setting_error(name, "must not be empty (no notice would ever be accepted).")
    networks = []
    for entry in value:
        try:
            if not isinstance(entry, str):
                raise ValueError(entry)
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise _setting_error(name, f"{entry!r} is not an IP address or a network like 'a.b.c.d/nn'.") from None
    return tuple(networks)


def _trusted_proxies(name: str, value: Any) -> tuple[IpNetwork, ...]:
    """``KCP_TRUSTED_PROXIES``; unset, the older ``KCP_API["TRUSTED_PROXIES"]`` (deprecated), else none."""
    if value is None:
        api = raw(API_SETTING)
        if not isinstance(api, Mapping) or api.get("TRUSTED_PROXIES") is None:
            return ()
        warnings.warn(
            'KCP_API["TRUSTED_PROXIES"] is deprecated: set KCP_TRUSTED_PROXIES, which the notice view reads too.',
            DeprecationWarning,
            stacklevel=2,
        )
        name, value = f"{API_SETTING}['TRUSTED_PROXIES']", api["TRUSTED_PROXIES"]
    return _networks(name, value, empty=True)


# --- KCP_API: the REST API's settings, one dict (its keys are in docs/api.md) -------------------------

API_SETTING = "KCP_API"
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
API_KEYS = frozenset(
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
        "TRUSTED_PROXIES",  # deprecated: KCP_TRUSTED_PROXIES
        "REFERENCE_OWNER_CHECK",
        "REJECTION_DETAIL",
        "REFUND_PERMISSION_CLASSES",
    }
)


@dataclass(frozen=True)
class ApiSettings:
    """``KCP_API`` validated, every key filled in (:attr:`KcpSettings.API`)."""

    permission_classes: tuple[str, ...]
    authentication_classes: tuple[str, ...]
    merchant: str
    limits: Mapping[str, int | None]
    throttle_rates: Mapping[str, str | None]
    throttle_cache: str
    idempotency_ttl: float
    idempotency_wait: float
    idempotency_lease: float
    rejection_detail: str
    #: Dotted path to ``f(request, reference) -> bool``: may this caller use this reference? ``None``: anyone.
    reference_owner_check: str | None = None
    refund_permission_classes: tuple[str, ...] = tuple(DEFAULT_REFUND_PERMISSION_CLASSES)

    @property
    def throttles_enabled(self) -> bool:
        return any(rate is not None for rate in self.throttle_rates.values())

    @property
    def trusted_proxies(self) -> tuple[IpNetwork, ...]:
        """``KCP_TRUSTED_PROXIES`` (kept here for callers of the older ``KCP_API["TRUSTED_PROXIES"]``)."""
        return kcp_settings.TRUSTED_PROXIES


def parse_api_settings(value: Any) -> ApiSettings:
    """Validate a ``KCP_API`` value (``None``: every default); errors name the key and the rule."""
    return _validate_api(API_SETTING, value)


def _validate_api(name: str, value: Any) -> ApiSettings:
    given = value or {}
    if not isinstance(given, Mapping):
        raise _setting_error(name, "must be a dict (its keys are in kcp-django's docs/api.md).")
    unknown = set(given) - API_KEYS
    if unknown:
        raise _setting_error(name, f"unknown keys {sorted(unknown)}; known: {sorted(API_KEYS)}.")
    if given.get("TRUSTED_PROXIES") is not None:
        _networks(f"{name}['TRUSTED_PROXIES']", given["TRUSTED_PROXIES"], empty=True)
    return ApiSettings(
        permission_classes=_dotted_paths(given, "PERMISSION_CLASSES", ["rest_framework.permissions.IsAuthenticated"]),
        authentication_classes=_authentication_classes(given),
        merchant=_text(given, "MERCHANT", "default"),
        limits=_limits(given.get("LIMITS")),
        throttle_rates=_throttle_rates(given.get("THROTTLE_RATES")),
        throttle_cache=_text(given, "THROTTLE_CACHE", "default"),
        idempotency_ttl=_seconds(given, "IDEMPOTENCY_TTL", 86400, minimum=60),
        idempotency_wait=_seconds(given, "IDEMPOTENCY_WAIT", 5, minimum=0),
        idempotency_lease=_seconds(given, "IDEMPOTENCY_LEASE", 120, minimum=1),
        reference_owner_check=_optional_dotted_path(given, "REFERENCE_OWNER_CHECK"),
        rejection_detail=_choice(given, "REJECTION_DETAIL", REJECTION_DETAILS),
        refund_permission_classes=_dotted_paths(given, "REFUND_PERMISSION_CLASSES", DEFAULT_REFUND_PERMISSION_CLASSES),
    )


def _api_error(key: str, problem: str) -> SettingError:
    return SettingError(f"{API_SETTING}[{key!r}]", problem)


def _text(given: Mapping[str, Any], key: str, default: str) -> str:
    value = given.get(key, default)
    if not isinstance(value, str) or not value:
        raise _api_error(key, "must be a non-empty string.")
    return value


def _choice(given: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = given.get(key, choices[0])
    if value not in choices:
        raise _api_error(key, f"must be one of {list(choices)} (default {choices[0]!r}), not {value!r}.")
    return str(value)


def _dotted_paths(given: Mapping[str, Any], key: str, default: list[str]) -> tuple[str, ...]:
    value = given.get(key, default)
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _api_error(key, "must be a list of dotted paths to classes.")
    if not all(isinstance(path, str) and "." in path for path in value):
        raise _api_error(
            key, "must be a list of dotted paths to classes, e.g. 'rest_framework.permissions.IsAdminUser'."
        )
    return tuple(value)


def _optional_dotted_path(given: Mapping[str, Any], key: str) -> str | None:
    value = given.get(key)
    if value is not None and (not isinstance(value, str) or "." not in value):
        raise _api_error(key, "must be None or the dotted path to a function, e.g. 'shop.api.owns_reference'.")
    return value


def _authentication_classes(given: Mapping[str, Any]) -> tuple[str, ...]:
    # Explicit, whatever REST_FRAMEWORK says: HTTP Basic (DRF's other default) only when listed here.
    if "AUTHENTICATION_CLASSES" in given and given["AUTHENTICATION_CLASSES"] is None:
        raise _api_error(
            "AUTHENTICATION_CLASSES",
            "must be a list of dotted paths to authentication classes; None no longer means "
            "REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES']: list the classes the API should accept "
            f"(default {list(DEFAULT_AUTHENTICATION_CLASSES)}).",
        )
    return _dotted_paths(given, "AUTHENTICATION_CLASSES", list(DEFAULT_AUTHENTICATION_CLASSES))


def _limits(value: Any) -> dict[str, int | None]:
    return _per_scope(
        "LIMITS",
        value,
        DEFAULT_LIMITS,
        lambda limit: not isinstance(limit, bool) and isinstance(limit, int) and limit >= 1,
        "must be a whole number of attempts per day (1 or more), or None.",
    )


def _throttle_rates(value: Any) -> dict[str, str | None]:
    return _per_scope(
        "THROTTLE_RATES",
        value,
        DEFAULT_THROTTLE_RATES,
        _is_rate,
        "must look like '10/min' (per s, min, hour or day), or None.",
    )


_Setting = TypeVar("_Setting")


def _per_scope(
    key: str, value: Any, defaults: Mapping[str, _Setting | None], valid: Callable[[object], bool], rule: str
) -> dict[str, _Setting | None]:
    """A dict of one value (or None) per scope of ``defaults``, given ones merged over the defaults."""
    value = {} if value is None else value
    if not isinstance(value, Mapping) or set(value) - set(defaults):
        raise _api_error(key, f"must be a dict with keys among {list(defaults)}.")
    merged: dict[str, _Setting | None] = {**defaults, **value}
    for scope, setting in merged.items():
        if setting is not None and not valid(setting):
            raise _api_error(key, f"{scope!r} {rule}")
    return merged


def _is_rate(rate: object) -> bool:
    if not isinstance(rate, str):
        return False
    number, _, period = rate.partition("/")
    return number.isdigit() and int(number) > 0 and period[:1] in _RATE_PERIODS


def _seconds(given: Mapping[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = given.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise _api_error(key, f"must be a number of seconds, at least {minimum:g}.")
    return float(value)


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    name: str
    default: Any
    #: ``validate(name, value)`` returns the value as the app uses it, or raises :class:`SettingError`.
    validate: Callable[[str, Any], Any]
    #: One line for ``docs/settings.md``.
    doc: str
    #: How ``docs/settings.md`` shows the default.
    shown_default: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "KCP_MERCHANTS",
        None,
        _validate_merchants,
        'The merchants: a dict of alias → `{"BACKEND", "OPTIONS"}`, like `DATABASES`. `BACKEND` is `"sandbox"`, '
        '`"ppcli"` or a dotted path to a gateway class; `OPTIONS` are below. Several merchants are several aliases.',
        'one alias, `"default"`, on the sandbox; its `MODE` must be set when `DEBUG` is off',
    ),
    Setting(
        "KCP_ENCRYPTION_KEYS",
        [],
        _validate_encryption_keys,
        'A list of `"id:<base64 of 32 bytes>"` keys (AES-256-GCM) for account numbers at rest: the first encrypts, '
        "all decrypt.",
        "built-in development key in test mode; required in real mode",
    ),
    Setting(
        "KCP_INDEX_KEY",
        "",
        _validate_index_key,
        '`"<base64 of 32 bytes>"`: the HMAC-SHA256 key of the blind index that finds an account number without '
        "decrypting. Never `SECRET_KEY`, never one of the encryption keys.",
        "built-in development key in test mode; required in real mode",
    ),
    Setting(
        "KCP_RECONCILE_MAX_ATTEMPTS",
        3,
        _whole_number(1, 100),
        "How many times `kcp_reconcile` retries one open row before marking it for review (1 to 100).",
        "`3`",
    ),
    Setting(
        "KCP_API",
        None,
        _validate_api,
        "The REST API: permissions, authentication, merchant, daily caps, throttles, idempotency. "
        "Its keys are in [api.md](api.md#settings-kcp_api).",
        "`{}` (every key at its default)",
    ),
    Setting(
        "KCP_REFUND_VERIFICATION_MAX_AGE",
        dt.timedelta(days=7),
        _duration,
        "How old a verification may be when a refund is paid into its account: a `timedelta` or a number of seconds.",
        "7 days",
    ),
    Setting(
        "KCP_REFUND_ACCOUNT_RULE",
        "",
        _dotted_path,
        "Which verified account may receive a payment's refund: a dotted path to `f(payment, verification, user) -> "
        "bool`. Empty: the verification was made for the payment's order (`reference`), and one that staff "
        "entered is refunded by another user ([refunds.md](refunds.md#whose-account)).",
        "empty (the built-in rule)",
    ),
    Setting(
        "KCP_NOTICE_IPS",
        list(DEFAULT_NOTICE_IPS),
        _networks,
        "The addresses or networks KCP's notices are accepted from; anything else gets 403. Behind a proxy, list "
        "the proxy in `KCP_TRUSTED_PROXIES`, not here ([notices.md](notices.md)).",
        "KCP's published sender addresses",
    ),
    Setting(
        "KCP_TRUSTED_PROXIES",
        None,
        _trusted_proxies,
        "The reverse proxies (addresses or networks) whose `X-Forwarded-For` is believed, by the REST API and the "
        'notice view alike. Replaces `KCP_API["TRUSTED_PROXIES"]`, still read (with a deprecation warning) when '
        "this is unset.",
        "`[]` (no proxy: `REMOTE_ADDR` is the client)",
    ),
    Setting(
        "KCP_IN_FLIGHT_MARGIN",
        dt.timedelta(seconds=60),
        _duration,
        "Added to a merchant's `TIMEOUT`: how long a PENDING row counts as still being sent (a refund cannot be "
        "resolved before; a bulk item run again leaves it alone until then, then marks it UNKNOWN).",
        "60 seconds",
    ),
    Setting(
        "KCP_ADMIN_BULK_THRESHOLD",
        20,
        _whole_number(0),
        "The admin action runs more selected rows than this in the background (`0`: every run).",
        "`20`",
    ),
    Setting(
        "KCP_ADMIN_BULK_MAX",
        10_000,
        _whole_number(1),
        "The most rows one admin action may verify.",
        "`10000`",
    ),
    Setting(
        "KCP_BULK_CONCURRENCY",
        8,
        _whole_number(1),
        "Gateway calls in flight at once per running bulk task, so per worker process.",
        "`8`",
    ),
    Setting(
        "KCP_BULK_CHUNK_SIZE",
        250,
        _whole_number(1),
        "Items per background task, rounded up to a multiple of `KCP_BULK_CONCURRENCY`.",
        "`250`",
    ),
    Setting(
        "KCP_BULK_TASK_BACKEND",
        "default",
        _name,
        "The `TASKS` alias that takes background bulk runs.",
        '`"default"`',
    ),
    Setting(
        "KCP_BULK_QUEUE_NAME",
        "default",
        _name,
        "The queue of that backend that takes them.",
        '`"default"`',
    ),
)
_BY_NAME = {setting.name: setting for setting in SETTINGS}


def _row(name: str) -> Setting:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise LookupError(f"{name} is not a kcp-django setting (known: {', '.join(_BY_NAME)}).") from None


def raw(name: str) -> Any:
    """The setting as configured now (or its default), before validation."""
    row = _row(name)
    value = getattr(settings, name, None)
    return row.default if value is None else value


def get(name: str) -> Any:
    """The setting as the app uses it, validated: ``get("KCP_X")`` is ``kcp_settings.X``.

    Raises :class:`SettingError` (a ``KcpConfigurationError``, so an ``ImproperlyConfigured``)
    naming the setting and the rule.
    """
    _row(name)
    return getattr(kcp_settings, name.removeprefix("KCP_"))


class KcpSettings:
    """Every row of :data:`SETTINGS` as a typed attribute named without ``KCP_``, validated when first
    read and kept until a setting changes (``setting_changed``: ``override_settings``, pytest-django's
    ``settings``). An invalid setting raises each time it is read, never stays cached."""

    MERCHANTS: dict[str, MerchantConfig]
    ENCRYPTION_KEYS: list[tuple[str, bytes]]
    INDEX_KEY: bytes
    RECONCILE_MAX_ATTEMPTS: int
    API: ApiSettings
    REFUND_VERIFICATION_MAX_AGE: dt.timedelta
    NOTICE_IPS: tuple[IpNetwork, ...]
    TRUSTED_PROXIES: tuple[IpNetwork, ...]
    IN_FLIGHT_MARGIN: dt.timedelta
    ADMIN_BULK_THRESHOLD: int
    ADMIN_BULK_MAX: int
    BULK_CONCURRENCY: int
    BULK_CHUNK_SIZE: int
    BULK_TASK_BACKEND: str
    BULK_QUEUE_NAME: str

    def __getattr__(self, attribute: str) -> Any:
        name = f"KCP_{attribute}"
        if name not in _BY_NAME:
            raise AttributeError(f"{attribute!r} is not a kcp-django setting (known: {', '.join(_BY_NAME)}).")
        value = _BY_NAME[name].validate(name, raw(name))
        self.__dict__[attribute] = value
        return value

    def merchant(self, alias: str = DEFAULT_ALIAS) -> MerchantConfig:
        """``KCP_MERCHANTS[alias]`` validated (:func:`get_merchant`)."""
        return get_merchant(alias)

    def reload(self) -> None:
        """Forget every value read so far; the next read validates the settings again."""
        self.__dict__.clear()
        get_merchant.cache_clear()


#: The app's settings, typed: ``kcp_settings.BULK_CONCURRENCY``, ``kcp_settings.merchant("default")``.
kcp_settings = KcpSettings()

#: Django settings that change what a ``KCP_*`` setting validates to.
_ALSO_READ = frozenset({"DEBUG", "SECRET_KEY"})


def reconcile_max_attempts() -> int:
    """``KCP_RECONCILE_MAX_ATTEMPTS`` (kept for callers; new code reads ``kcp_settings.RECONCILE_MAX_ATTEMPTS``)."""
    return kcp_settings.RECONCILE_MAX_ATTEMPTS


#: Environment variables :func:`settings_from_env` reads into ``KCP_MERCHANTS['default']['OPTIONS']``.
OPTION_VARIABLES = {
    "MODE": "KCP_MODE",
    "SITE_CD": "KCP_SITE_CD",
    "SITE_KEY": "KCP_SITE_KEY",
    "HOME_DIR": "KCP_HOME_DIR",
    "BIN": "KCP_BIN",
    "LOG_DIR": "KCP_LOG_DIR",
    "LOG_LEVEL": "KCP_LOG_LEVEL",
    "TIMEOUT": "KCP_TIMEOUT",
}


def _number_from_env(env: Any, variable: str, default: float, convert: Callable[[str], float], rule: str) -> float:
    text = str(env.str(variable, default="")).strip()
    if not text:
        return default
    try:
        return convert(text)
    except ValueError:
        raise SettingError(variable, f"{rule}, not {text!r}.", variable) from None


def settings_from_env(env: Any = None) -> dict[str, Any]:
    """Build ``KCP_MERCHANTS``, ``KCP_ENCRYPTION_KEYS`` and ``KCP_INDEX_KEY`` from the environment.

    Reads ``KCP_MODE``, ``KCP_SITE_CD``, ``KCP_SITE_KEY``, ``KCP_GATEWAY``, ``KCP_HOME_DIR``,
    ``KCP_BIN``, ``KCP_LOG_DIR``, ``KCP_LOG_LEVEL``, ``KCP_TIMEOUT``, ``KCP_ENCRYPTION_KEYS`` (comma
    separated) and ``KCP_INDEX_KEY`` with django-environ, for a settings module to merge:
    ``globals().update(settings_from_env(env))``. The merchant remembers which variable fed each
    option, so a later error names the variable; a number that is not one is refused here, naming
    its variable.
    """
    import environ

    env = env or environ.Env()
    gateway = env.str("KCP_GATEWAY", default="sandbox")
    options = {
        # Unset stays unset: test mode with DEBUG on, an error with DEBUG off (production must choose).
        "MODE": env.str("KCP_MODE", default=""),
        "SITE_CD": env.str("KCP_SITE_CD", default=""),
        "SITE_KEY": env.str("KCP_SITE_KEY", default=""),
        "HOME_DIR": env.str("KCP_HOME_DIR", default=""),
        "BIN": env.str("KCP_BIN", default=""),
        "LOG_DIR": env.str("KCP_LOG_DIR", default=""),
        "LOG_LEVEL": int(
            _number_from_env(env, "KCP_LOG_LEVEL", 3, int, "must be a whole number (KCP's samples use 3)")
        ),
        "TIMEOUT": _number_from_env(env, "KCP_TIMEOUT", 15.0, float, "must be a number of seconds (at most 300)"),
    }
    entry = {"BACKEND": GATEWAY_SHORTCUTS.get(gateway, gateway), "OPTIONS": _FromEnvironment(options, OPTION_VARIABLES)}
    return {
        "KCP_MERCHANTS": {DEFAULT_ALIAS: _FromEnvironment(entry, {"BACKEND": "KCP_GATEWAY"})},
        "KCP_ENCRYPTION_KEYS": env.list("KCP_ENCRYPTION_KEYS", default=[]),
        "KCP_INDEX_KEY": env.str("KCP_INDEX_KEY", default=""),
    }


@receiver(setting_changed)
def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("KCP_") or setting in _ALSO_READ:
        kcp_settings.reload()
