"""The app's settings: merchant aliases and keys, read lazily and validated.

Nothing here is read at import time, so ``override_settings`` works and several merchants can
live side by side. Every error names the setting to fix. This module imports nothing else of the
app.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Mapping
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


def _setting_error(name: str, problem: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}: {problem}")


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
    return list(_merchants_setting())


def _merchants_setting() -> Mapping[str, Any]:
    merchants = getattr(settings, "KCP_MERCHANTS", None)
    if merchants is None:
        return {DEFAULT_ALIAS: {"BACKEND": SANDBOX_BACKEND, "OPTIONS": {"MODE": "test"}}}
    if not isinstance(merchants, Mapping) or not merchants:
        raise _setting_error("KCP_MERCHANTS", "must be a non-empty dict of alias -> {'BACKEND', 'OPTIONS'}.")
    return merchants


@functools.cache
def get_merchant(alias: str = DEFAULT_ALIAS) -> MerchantConfig:
    """The validated configuration of ``KCP_MERCHANTS[alias]``; read again when the setting changes."""
    merchants = _merchants_setting()
    if alias not in merchants:
        known = ", ".join(sorted(merchants))
        raise _setting_error(f"KCP_MERCHANTS[{alias!r}]", f"no such merchant alias (configured: {known}).")
    return _build_merchant(alias, merchants[alias])


def _build_merchant(alias: str, entry: Any) -> MerchantConfig:
    where = f"KCP_MERCHANTS[{alias!r}]"
    if not isinstance(entry, Mapping):
        raise _setting_error(where, "must be a dict with 'BACKEND' and 'OPTIONS'.")
    backend = GATEWAY_SHORTCUTS.get(str(entry.get("BACKEND", "sandbox")), str(entry.get("BACKEND", "")))
    if not backend or "." not in backend:
        raise _setting_error(f"{where}['BACKEND']", "must be 'sandbox', 'ppcli' or a dotted path to a gateway class.")
    options = entry.get("OPTIONS", {})
    if not isinstance(options, Mapping):
        raise _setting_error(f"{where}['OPTIONS']", "must be a dict.")
    opt = f"{where}['OPTIONS']"

    mode = str(options.get("MODE", "test")).lower()
    if mode not in ("test", "real"):
        raise _setting_error(f"{opt}['MODE']", f"must be 'test' or 'real', not {mode!r}.")

    site_cd = str(options.get("SITE_CD", "") or "").strip()
    site_key = str(options.get("SITE_KEY", "") or "").strip()
    if mode == "test" and not site_cd:
        site_cd = "T0000"
    if mode == "test" and not site_key and site_cd.upper() in TEST_CREDENTIALS:
        site_key = TEST_CREDENTIALS[site_cd.upper()]
    if not SITE_CD_PATTERN.match(site_cd):
        raise _setting_error(f"{opt}['SITE_CD']", "must be the 5-character site code KCP issued (e.g. 'A52Q7').")
    if mode == "real" and TEST_SITE_CD_PATTERN.match(site_cd):
        raise _setting_error(
            f"{opt}['SITE_CD']",
            f"{site_cd!r} is a KCP test site code; real mode needs the code from your contract.",
        )
    if not site_key:
        raise _setting_error(f"{opt}['SITE_KEY']", "is empty; set it from the server's environment (KCP_SITE_KEY).")
    if mode == "real" and site_key in TEST_CREDENTIALS.values():
        raise _setting_error(f"{opt}['SITE_KEY']", "is KCP's public test key; real mode needs your own site key.")
    if FORBIDDEN_IN_CREDENTIALS.search(site_key) or len(site_key) > 64:
        raise _setting_error(f"{opt}['SITE_KEY']", "holds characters KCP's client cannot carry, or is too long.")

    try:
        timeout = float(options.get("TIMEOUT", 15))
    except (TypeError, ValueError):
        raise _setting_error(f"{opt}['TIMEOUT']", "must be a number of seconds.") from None
    if not 0 < timeout <= 300:
        raise _setting_error(f"{opt}['TIMEOUT']", "must be between 0 and 300 seconds.")
    try:
        log_level = int(options.get("LOG_LEVEL", 3))
    except (TypeError, ValueError):
        raise _setting_error(f"{opt}['LOG_LEVEL']", "must be a whole number (KCP's samples use 3).") from None

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
    return [get_merchant(alias) for alias in _merchants_setting()]


def _decode_key(name: str, encoded: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise _setting_error(name, "is not valid base64 (make one with `manage.py kcp_generate_keys`).") from None
    if len(raw) != 32:
        raise _setting_error(name, f"must decode to 32 bytes, not {len(raw)} (use `manage.py kcp_generate_keys`).")
    return raw


def uses_development_keys() -> bool:
    return not getattr(settings, "KCP_ENCRYPTION_KEYS", None) or not getattr(settings, "KCP_INDEX_KEY", None)


def _development_keys_allowed() -> bool:
    return all(merchant.mode == "test" for merchant in all_merchants())


def get_encryption_keys() -> list[tuple[str, bytes]]:
    """``[(key_id, 32-byte key), ...]``: the first encrypts, all decrypt."""
    configured = getattr(settings, "KCP_ENCRYPTION_KEYS", None)
    if not configured:
        if not _development_keys_allowed():
            raise _setting_error("KCP_ENCRYPTION_KEYS", "is required in real mode (make one with `kcp_generate_keys`).")
        configured = [DEVELOPMENT_ENCRYPTION_KEY]
    if isinstance(configured, str):
        configured = [configured]
    keys: list[tuple[str, bytes]] = []
    for position, item in enumerate(configured):
        name = f"KCP_ENCRYPTION_KEYS[{position}]"
        key_id, sep, encoded = str(item).partition(":")
        if not sep or not KEY_ID_PATTERN.match(key_id):
            raise _setting_error(name, "must look like 'k1:<base64 of 32 bytes>' (a short key id, a colon, the key).")
        if any(existing == key_id for existing, _ in keys):
            raise _setting_error(name, f"repeats key id {key_id!r}; every key needs its own id.")
        keys.append((key_id, _decode_key(name, encoded)))
    return keys


def get_index_key() -> bytes:
    """The HMAC key of the blind index over account numbers. Never ``SECRET_KEY``."""
    configured = getattr(settings, "KCP_INDEX_KEY", None)
    if not configured:
        if not _development_keys_allowed():
            raise _setting_error("KCP_INDEX_KEY", "is required in real mode (make one with `kcp_generate_keys`).")
        configured = DEVELOPMENT_INDEX_KEY
    key = _decode_key("KCP_INDEX_KEY", str(configured))
    if configured == getattr(settings, "SECRET_KEY", None):
        raise _setting_error("KCP_INDEX_KEY", "must not be SECRET_KEY.")
    return key


def settings_from_env(env: Any = None) -> dict[str, Any]:
    """Build ``KCP_MERCHANTS``, ``KCP_ENCRYPTION_KEYS`` and ``KCP_INDEX_KEY`` from the environment.

    Reads ``KCP_MODE``, ``KCP_SITE_CD``, ``KCP_SITE_KEY``, ``KCP_GATEWAY``, ``KCP_HOME_DIR``,
    ``KCP_BIN``, ``KCP_LOG_DIR``, ``KCP_LOG_LEVEL``, ``KCP_TIMEOUT``, ``KCP_ENCRYPTION_KEYS`` (comma
    separated) and ``KCP_INDEX_KEY`` with django-environ, for a settings module to merge:
    ``globals().update(settings_from_env(env))``.
    """
    import environ

    env = env or environ.Env()
    gateway = env.str("KCP_GATEWAY", default="sandbox")
    options: dict[str, Any] = {
        "MODE": env.str("KCP_MODE", default="test"),
        "SITE_CD": env.str("KCP_SITE_CD", default=""),
        "SITE_KEY": env.str("KCP_SITE_KEY", default=""),
        "HOME_DIR": env.str("KCP_HOME_DIR", default=""),
        "BIN": env.str("KCP_BIN", default=""),
        "LOG_DIR": env.str("KCP_LOG_DIR", default=""),
        "LOG_LEVEL": env.int("KCP_LOG_LEVEL", default=3),
        "TIMEOUT": env.float("KCP_TIMEOUT", default=15.0),
    }
    return {
        "KCP_MERCHANTS": {
            DEFAULT_ALIAS: {"BACKEND": GATEWAY_SHORTCUTS.get(gateway, gateway), "OPTIONS": options},
        },
        "KCP_ENCRYPTION_KEYS": env.list("KCP_ENCRYPTION_KEYS", default=[]),
        "KCP_INDEX_KEY": env.str("KCP_INDEX_KEY", default=""),
    }


DEFAULT_RECONCILE_MAX_ATTEMPTS = 3


def reconcile_max_attempts() -> int:
    """``KCP_RECONCILE_MAX_ATTEMPTS``: how many times ``kcp_reconcile`` retries one row before staff must look."""
    value = getattr(settings, "KCP_RECONCILE_MAX_ATTEMPTS", DEFAULT_RECONCILE_MAX_ATTEMPTS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise _setting_error("KCP_RECONCILE_MAX_ATTEMPTS", "must be a whole number from 1 to 100 (default 3).")
    return value


@receiver(setting_changed)
def _forget_merchants(*, setting: str, **kwargs: Any) -> None:
    if setting == "KCP_MERCHANTS":
        get_merchant.cache_clear()
