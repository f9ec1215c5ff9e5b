"""``manage.py kcp_check [--merchant ALIAS]``: is this server ready to run KCP's ``pp_cli``?

One line per check, ``OK`` or ``FAIL`` with the cause and the fix; exit status 1 when any check
fails. For a pp_cli merchant it checks the settings, the layout table, the binary, KCP's own
installation check (``pp_cli -h`` must answer S102), the log folder, and that neither the log
folder nor KCP's folders are web-served (guide §2.4). The site key is never printed.

A merchant in real mode fails on a test double: the sandbox (or any backend declaring
``is_test_double``), or kcp-django's own fake pp_cli installed as the kit's binary.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from kcp_django import conf
from kcp_django.gateways.base import check_ready, refuse_test_double
from kcp_django.gateways.ppcli.installation import Check, installation_checks


def check_settings(alias: str) -> tuple[Check, conf.MerchantConfig | None]:
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


class Command(BaseCommand):
    help = "Check a KCP merchant's settings and, for pp_cli, the binary, its log folder and their placement."
    # This command is the diagnosis the system checks point to (kcp_django.E011/E012): it must run,
    # and explain line by line, precisely when they fail.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", default=conf.DEFAULT_ALIAS, help="KCP_MERCHANTS alias (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:
        settings_check, merchant = check_settings(options["merchant"])
        checks = [settings_check]
        if merchant is not None:
            checks.append(check_backend(merchant))
            if merchant.backend == conf.PPCLI_BACKEND:
                checks += installation_checks(merchant)
        for check in checks:
            status = self.style.SUCCESS("OK  ") if check.ok else self.style.ERROR("FAIL")
            self.stdout.write(f"{status} {check.name}: {check.detail}")
        failed = sum(not check.ok for check in checks)
        if failed:
            raise CommandError(f"{failed} of {len(checks)} checks failed.", returncode=1)
        self.stdout.write("All checks passed.")
