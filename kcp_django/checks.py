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
