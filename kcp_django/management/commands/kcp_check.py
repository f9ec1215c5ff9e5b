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

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kcp_django import conf
from kcp_django.checks.readiness import check_backend, check_settings, installation_checks


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
