"""``manage.py kcp_check [--merchant ALIAS]``: is this server ready to run KCP's ``pp_cli``?

One line per check, ``OK`` or ``FAIL`` with the cause and the fix; exit status 1 when any check
fails. For a pp_cli merchant it checks the settings, the layout table, the binary, KCP's own
installation check (``pp_cli -h`` must answer S102), the log folder, and that neither the log
folder nor KCP's folders are web-served (guide §2.4). The site key is never printed.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kcp_django import conf
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


class Command(BaseCommand):
    help = "Check a KCP merchant's settings and, for pp_cli, the binary, its log folder and their placement."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", default=conf.DEFAULT_ALIAS, help="KCP_MERCHANTS alias (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:
        settings_check, merchant = check_settings(options["merchant"])
        checks = [settings_check]
        if merchant is not None:
            if merchant.backend == conf.PPCLI_BACKEND:
                checks += installation_checks(merchant)
            elif merchant.backend == conf.SANDBOX_BACKEND:
                checks.append(Check("backend", True, "the sandbox needs no binary: only the settings were checked"))
            else:
                checks.append(
                    Check("backend", True, f"{merchant.backend} is not pp_cli: only the settings were checked")
                )
        for check in checks:
            status = self.style.SUCCESS("OK  ") if check.ok else self.style.ERROR("FAIL")
            self.stdout.write(f"{status} {check.name}: {check.detail}")
        failed = sum(not check.ok for check in checks)
        if failed:
            raise CommandError(f"{failed} of {len(checks)} checks failed.", returncode=1)
        self.stdout.write("All checks passed.")
