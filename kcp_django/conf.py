"""Every ``KCP_*`` setting of the app, in one table, read lazily and validated.

:data:`SETTINGS` lists each setting with its default, its validation and one line of
documentation (``docs/settings.md`` is rendered from it, and a test keeps the two equal).
:func:`get` reads a setting from ``django.conf.settings`` when called, so ``override_settings``
works and several merchants can live side by side; :func:`raw` gives the value as configured,
before validation. Every error names the setting to fix, or the environment variable that fed it
when :func:`settings_from_env` built it. This module imports nothing else of the app at import
time (``KCP_API``'s validator lives with the API, in :mod:`kcp_django.api.conf`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

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


class SettingError(ImproperlyConfigured):
    """A setting breaks a rule: ``setting`` is where it lives in the settings module, ``variable``
    the environment variable that fed it (empty when the settings module set it directly).

    The message names what the user actually set: the variable when there is one.
    """

    def __init__(self, setting: str, problem: str, variable: str = "") -> None:
        self.setting = setting
        self.problem = problem
        self.variable = variable
        super().__init__(f"{variable or setting}: {problem}")


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
        return {DEFAULT_ALIAS: {"BACKEND": SANDBOX_BACKEND, "OPTIONS": {"MODE": "test"}}}
    if not isinstance(value, Mapping) or not value:
        raise _setting_error("KCP_MERCHANTS", "must be a non-empty dict of alias -> {'BACKEND', 'OPTIONS'}.")
    return value


@functools.cache
def get_merchant(alias: str = DEFAULT_ALIAS) -> MerchantConfig:
    """The validated configuration of ``KCP_MERCHANTS[alias]``; read again when the setting changes."""
    merchants = _merchant_entries(raw("KCP_MERCHANTS"))
    if alias not in merchants:
        known = ", ".join(sorted(merchants))
        raise _setting_error(f"KCP_MERCHANTS[{alias!r}]", f"no such merchant alias (configured: {known}).")
    return _build_merchant(alias, merchants[alias])


def _validate_merchants(name: str, value: Any) -> dict[str, MerchantConfig]:
    return {str(alias): _build_merchant(str(alias), entry) for alias, entry in _merchant_entries(value).items()}


def _build_merchant(alias: str, entry: Any) -> MerchantConfig:
    where = f"KCP_MERCHANTS[{alias!r}]"
    if not isinstance(entry, Mapping):
        raise _setting_error(where, "must be a dict with 'BACKEND' and 'OPTIONS'.")
    backend = GATEWAY_SHORTCUTS.get(str(entry.get("BACKEND", "sandbox")), str(entry.get("BACKEND", "")))
    if not backend or "." not in backend:
        raise SettingError(
            f"{where}['BACKEND']",
            "must be 'sandbox', 'ppcli' or a dotted path to a gateway class.",
            _variable(entry, "BACKEND"),
        )
    options = entry.get("OPTIONS", {})
    if not isinstance(options, Mapping):
        raise _setting_error(f"{where}['OPTIONS']", "must be a dict.")

    def error(key: str, problem: str) -> SettingError:
        return SettingError(f"{where}['OPTIONS'][{key!r}]", problem, _variable(options, key))

    mode = str(options.get("MODE", "test")).lower()
    if mode not in ("test", "real"):
        raise error("MODE", f"must be 'test' or 'real', not {mode!r}.")

    site_cd = str(options.get("SITE_CD", "") or "").strip()
    site_key = str(options.get("SITE_KEY", "") or "").strip()
    if mode == "test" and not site_cd:
        site_cd = "T0000"
    if mode == "test" and not site_key and site_cd.upper() in TEST_CREDENTIALS:
        site_key = TEST_CREDENTIALS[site_cd.upper()]
    if not SITE_CD_PATTERN.match(site_cd):
        raise error("SITE_CD", "must be the 5-character site code KCP issued (e.g. 'A52Q7').")
    if mode == "real" and TEST_SITE_CD_PATTERN.match(site_cd):
        raise error("SITE_CD", f"{site_cd!r} is a KCP test site code; real mode needs the code from your contract.")
    if not site_key:
        raise error("SITE_KEY", "is empty; it must be the site key KCP issued with the site code.")
    if mode == "real" and site_key in TEST_CREDENTIALS.values():
        raise error("SITE_KEY", "is KCP's public test key; real mode needs your own site key.")
    if FORBIDDEN_IN_CREDENTIALS.search(site_key) or len(site_key) > 64:
        raise error("SITE_KEY", "holds characters KCP's client cannot carry, or is too long.")

    try:
        timeout = float(options.get("TIMEOUT", 15))
    except (TypeError, ValueError):
        raise error("TIMEOUT", "must be a number of seconds.") from None
    if not 0 < timeout <= 300:
        raise error("TIMEOUT", "must be between 0 and 300 seconds.")
    try:
        log_level = int(options.get("LOG_LEVEL", 3))
    except (TypeError, ValueError):
        raise error("LOG_LEVEL", "must be a whole number (KCP's samples use 3).") from None

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
        options=dict(options),
    )


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
    return all(merchant.mode == "test" for merchant in all_merchants())


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
    keys: list[tuple[str, bytes]] = get("KCP_ENCRYPTION_KEYS")
    return keys


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
    key: bytes = get("KCP_INDEX_KEY")
    return key


#: Validators that live with the code that uses the setting (``KCP_API``: :mod:`kcp_django.api.conf`),
#: registered when that module loads, so that this module imports nothing of the app.
_REGISTERED_VALIDATORS: dict[str, Callable[[Any], Any]] = {}


def register_validator(name: str, validate: Callable[[Any], Any]) -> None:
    """Let the module that owns setting ``name`` validate it (``validate(value)``)."""
    _REGISTERED_VALIDATORS[name] = validate


def _validate_api(name: str, value: Any) -> Any:
    try:
        validate = _REGISTERED_VALIDATORS[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"{name}: read before kcp_django was loaded; add 'kcp_django' to INSTALLED_APPS."
        ) from None
    return validate(value)


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


def _networks(name: str, value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _setting_error(name, "must be a list of IP addresses or networks, e.g. ['203.238.36.58', '10.0.0.0/24'].")
    if not value:
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
        'one alias, `"default"`, on the sandbox in test mode',
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
        "The REST API: permissions, authentication, merchant, daily caps, throttles, idempotency, trusted proxies. "
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
        'the proxy in `KCP_API["TRUSTED_PROXIES"]`, not here ([notices.md](notices.md)).',
        "KCP's published sender addresses",
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
    """The setting as the app uses it: read now from ``django.conf.settings``, validated.

    Raises :class:`SettingError` (an ``ImproperlyConfigured``) naming the setting and the rule.
    """
    return _row(name).validate(name, raw(name))


def reconcile_max_attempts() -> int:
    """``KCP_RECONCILE_MAX_ATTEMPTS``: how many times ``kcp_reconcile`` retries one row before staff must look."""
    attempts: int = get("KCP_RECONCILE_MAX_ATTEMPTS")
    return attempts


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
        "MODE": env.str("KCP_MODE", default="test"),
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
def _forget_merchants(*, setting: str, **kwargs: Any) -> None:
    if setting == "KCP_MERCHANTS":
        get_merchant.cache_clear()
