"""Deployment checks (``manage.py check --deploy``), ids ``kcp_django.E1xx`` / ``W1xx``.

They read the raw settings, so a setting that ``kcp_django.conf`` refuses outright (``E001``) is
still explained here in deployment terms.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from kcp_django import conf
from kcp_django.crypto import KEY_SIZE
from kcp_django.gateways.ppcli.installation import web_served_folders


@register(Tags.security, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for alias, options in _merchant_options():
        messages += _test_credentials_in_real_mode(alias, options)
        messages += _test_mode_in_production(alias, options)
        messages += _kcp_folders_web_served(alias, options)
    messages += _key_reuse()
    return messages


def _merchant_options() -> Iterator[tuple[str, Mapping[str, Any]]]:
    merchants = conf.raw("KCP_MERCHANTS")
    if merchants is None:
        merchants = {conf.DEFAULT_ALIAS: {"OPTIONS": {}}}
    if not isinstance(merchants, Mapping):
        return  # kcp_django.E001 explains a malformed setting
    for alias, entry in merchants.items():
        options = entry.get("OPTIONS", {}) if isinstance(entry, Mapping) else {}
        yield str(alias), options if isinstance(options, Mapping) else {}


def _mode(options: Mapping[str, Any]) -> str:
    """The mode as written (``""`` when unset: with DEBUG off that is kcp_django.E001)."""
    return str(options.get("MODE") or "").strip().lower()


def _test_credentials_in_real_mode(alias: str, options: Mapping[str, Any]) -> list[CheckMessage]:
    if _mode(options) != "real":
        return []
    site_cd = str(options.get("SITE_CD", "") or "").strip()
    site_key = str(options.get("SITE_KEY", "") or "").strip()
    found = []
    if conf.TEST_SITE_CD_PATTERN.match(site_cd):
        found.append(f"the test site code {site_cd!r}")
    if site_key in conf.TEST_CREDENTIALS.values():
        found.append("KCP's public test site key")
    if not found:
        return []
    return [
        Error(
            f"KCP_MERCHANTS[{alias!r}] is in real mode with {' and '.join(found)}: KCP refuses them on its real "
            "server, so no refund account can be verified.",
            hint="Set KCP_SITE_CD and KCP_SITE_KEY in the server's environment to the values of your KCP contract.",
            id="kcp_django.E101",
        )
    ]


def _test_mode_in_production(alias: str, options: Mapping[str, Any]) -> list[CheckMessage]:
    if _mode(options) != "test" or settings.DEBUG:
        return []
    if conf.declared_backend(alias) == conf.SANDBOX_BACKEND:
        what = (
            "on the sandbox while DEBUG is False: the sandbox asks KCP nothing and answers by fixed rules on the "
            'account number, the holder name and the payment\'s tno, so almost every account "verifies" and '
            'every refund is "accepted" without any money moving.'
        )
    else:
        what = (
            "in test mode while DEBUG is False: accounts and refunds go to KCP's test server (testpaygw.kcp.co.kr), "
            "whose answers say nothing about real accounts and which moves no real money."
        )
    return [
        Warning(
            f"KCP_MERCHANTS[{alias!r}] is {what}",
            hint="Set OPTIONS['MODE'] = 'real' (KCP_MODE=real) on BACKEND 'ppcli' (KCP_GATEWAY=ppcli) with your "
            "contract's site code and key; on a staging server, add 'kcp_django.W101' to SILENCED_SYSTEM_CHECKS.",
            id="kcp_django.W101",
        )
    ]


def _kcp_folders(options: Mapping[str, Any]) -> list[tuple[str, str]]:
    home_dir = str(options.get("HOME_DIR", "") or "")
    log_dir = str(options.get("LOG_DIR", "") or "") or (os.path.join(home_dir, "log") if home_dir else "")
    binary = str(options.get("BIN", "") or "")
    folders = [("LOG_DIR", log_dir), ("HOME_DIR", home_dir), ("BIN", os.path.dirname(binary) if binary else "")]
    return [(name, folder) for name, folder in folders if folder]


def _kcp_folders_web_served(alias: str, options: Mapping[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    served = web_served_folders()
    for name, folder in _kcp_folders(options):
        resolved = Path(folder).resolve()
        for setting, served_folder in served:
            if resolved.is_relative_to(served_folder):
                messages.append(
                    Error(
                        f"KCP_MERCHANTS[{alias!r}]['OPTIONS']['{name}'] ({folder}) is inside {setting} "
                        f"({served_folder}): anyone could download pp_cli's logs, which hold account numbers and "
                        "holder names, or KCP's files.",
                        hint="Move KCP's folder and its log folder outside every folder the web server serves "
                        "(KCP's guide §2.4), e.g. /var/log/kcp.",
                        id="kcp_django.E104",
                    )
                )
                break
    return messages


def _key_bytes(value: object) -> bytes | None:
    text = str(value)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == KEY_SIZE else None


def _key_reuse() -> list[CheckMessage]:
    index_key = conf.raw("KCP_INDEX_KEY")
    configured = conf.raw("KCP_ENCRYPTION_KEYS") or []
    encryption_keys = [configured] if isinstance(configured, str) else list(configured)
    encryption_values = [str(item).partition(":")[2] for item in encryption_keys]
    signing_keys = [getattr(settings, "SECRET_KEY", None), *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    signing_keys = [str(key) for key in signing_keys if key]

    def same(a: str, b: str) -> bool:
        return a == b or (_key_bytes(a) is not None and _key_bytes(a) == _key_bytes(b))

    index_keys = [str(index_key)] if index_key else []
    # Two groups of keys that must not share one, and what sharing one would give away.
    reuses = [
        (
            index_keys,
            signing_keys,
            Error(
                "KCP_INDEX_KEY is SECRET_KEY (or one of SECRET_KEY_FALLBACKS): whoever gets Django's signing key "
                "can also test guesses of account numbers against the blind index.",
                hint="Make a separate key with `manage.py kcp_generate_keys` and set KCP_INDEX_KEY from the "
                "environment.",
                id="kcp_django.E102",
            ),
        ),
        (
            index_keys,
            encryption_values,
            Error(
                "KCP_INDEX_KEY is also one of KCP_ENCRYPTION_KEYS: one leaked key would both decrypt account numbers "
                "and confirm guesses of them.",
                hint="Give the blind index its own key (`manage.py kcp_generate_keys`); changing it means "
                "recomputing account_index for every row.",
                id="kcp_django.E103",
            ),
        ),
        (
            encryption_values,
            signing_keys,
            Error(
                "One of KCP_ENCRYPTION_KEYS is SECRET_KEY (or one of SECRET_KEY_FALLBACKS): whoever gets Django's "
                "signing key can decrypt every stored account number.",
                hint="Prepend a new key made with `manage.py kcp_generate_keys`, run `manage.py kcp_rotate_keys`, "
                "then remove the old one.",
                id="kcp_django.E105",
            ),
        ),
    ]
    return [error for keys, others, error in reuses if any(same(key, other) for key in keys for other in others)]
