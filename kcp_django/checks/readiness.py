"""Is this server ready to send a merchant's requests? The line-by-line diagnosis behind
``manage.py kcp_check``, which the system checks point to (kcp_django.E011/E012).

Each function returns :class:`Check` lines (``OK`` or ``FAIL`` with the cause and the fix); nothing
here calls KCP or stores anything.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from kcp_django import conf
from kcp_django.gateways.base import check_ready, refuse_test_double
from kcp_django.gateways.ppcli.installation import Check, installation_checks

__all__ = ["Check", "check_backend", "check_settings", "installation_checks"]


def check_settings(alias: str) -> tuple[Check, conf.MerchantConfig | None]:
    """The merchant's settings validate; the site key is never shown."""
    try:
        merchant = conf.get_merchant(alias)
    except ImproperlyConfigured as exc:
        return Check("settings", False, f"{exc}"), None
    detail = (
        f"merchant {alias!r}: backend {merchant.backend}, {merchant.mode} mode, site_cd {merchant.site_cd}, "
        "site key set (not shown)"
    )
    return Check("settings", True, detail), merchant


def check_backend(merchant: conf.MerchantConfig) -> Check:
    """The backend can be imported and is no test double in real mode; for a backend other than
    pp_cli (whose installation is checked line by line), its own ``check_ready``."""
    try:
        gateway_class = import_string(merchant.backend)
    except ImportError as exc:
        return Check("backend", False, f"{merchant.backend} cannot be imported ({exc}): fix BACKEND (KCP_GATEWAY).")
    try:
        refuse_test_double(gateway_class, merchant)
        if merchant.backend != conf.PPCLI_BACKEND:
            check_ready(gateway_class, merchant)
    except ImproperlyConfigured as exc:
        return Check("backend", False, str(exc))
    if merchant.backend == conf.PPCLI_BACKEND:
        return Check("backend", True, "KCP's pp_cli")
    if merchant.backend == conf.SANDBOX_BACKEND:
        return Check("backend", True, "the sandbox needs no binary: only the settings were checked")
    return Check("backend", True, f"{merchant.backend} is not pp_cli: only the settings were checked")
