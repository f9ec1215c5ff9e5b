"""``manage.py kcp_check [--merchant ALIAS]``: is this server ready to run KCP's ``pp_cli``?

One line per check, ``OK`` or ``FAIL`` with the cause and the fix; exit status 1 when any check
fails. For a pp_cli merchant it checks the settings, the layout table, the binary, KCP's own
installation check (``pp_cli -h`` must answer S102), the log folder, and that neither the log
folder nor KCP's folders are web-served (guide §2.4). The site key is never printed.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kcp_django import conf
from kcp_django.checks_deploy import web_served_folders
from kcp_django.exceptions import GatewayUnavailable
from kcp_django.gateways import ppcli
from kcp_django.gateways.ppcli_layout import load_layout

INSTALL_CHECK_TIMEOUT = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


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


def check_layout(merchant: conf.MerchantConfig) -> Check:
    try:
        layout = load_layout(merchant.options.get("LAYOUT"))
    except ImproperlyConfigured as exc:
        return Check("layout", False, str(exc))
    custom = "custom OPTIONS['LAYOUT']" if merchant.options.get("LAYOUT") else "default (inferred) layout"
    return Check("layout", True, f"{custom}, tx_cd {layout.tx_cd}")


def check_binary(merchant: conf.MerchantConfig) -> tuple[Check, str | None]:
    try:
        binary = ppcli.find_binary(merchant)
    except GatewayUnavailable as exc:
        return Check("binary", False, exc.reason), None
    return Check("binary", True, f"{binary} is executable"), binary


def check_installation(binary: str) -> Check:
    """KCP's own check: ``pp_cli -h`` without an argument answers ``res_cd=S102`` on stdout."""
    name = "installation (pp_cli -h)"
    try:
        output = ppcli.run_bounded([binary, "-h"], INSTALL_CHECK_TIMEOUT)
    except OSError as exc:
        return Check(
            name,
            False,
            f"cannot run {binary}: {exc.strerror}. Use KCP's Linux binary for this CPU (pp_cli_x64 on 64-bit "
            "hosts), uploaded in binary mode, not ASCII (guide §2.2.2).",
        )
    if output.timed_out:
        return Check(name, False, f"no answer within {INSTALL_CHECK_TIMEOUT:g}s; is {binary} KCP's pp_cli?")
    try:
        res_cd = ppcli.parse_answer(ppcli.last_line(output.stdout)).get("res_cd", "")
    except UnicodeDecodeError:
        res_cd = ""
    if res_cd == "S102":
        return Check(name, True, "answered res_cd=S102, as KCP's guide expects")
    got = f"res_cd={res_cd}" if res_cd else "nothing readable"
    return Check(
        name,
        False,
        f"answered {got} (exit status {output.returncode}), expected res_cd=S102. Check that {binary} is KCP's "
        "pp_cli for this platform, uploaded in binary mode, with mode 755 (guide §2.2.2).",
    )


def check_log_dir(merchant: conf.MerchantConfig) -> Check:
    log_dir = merchant.log_dir
    if not log_dir:
        return Check("log dir", False, "not set: set OPTIONS['LOG_DIR'] (or HOME_DIR, whose log/ is the default).")
    if not os.path.isdir(log_dir):
        return Check(
            "log dir",
            False,
            f"{log_dir} does not exist: create it (mkdir -p {log_dir}) writable by the server's user.",
        )
    try:
        handle, probe = tempfile.mkstemp(prefix=".kcp_check-", dir=log_dir)
    except OSError as exc:
        return Check(
            "log dir",
            False,
            f"{log_dir} is not writable ({exc.strerror}): let the server's user write there, pp_cli logs into it.",
        )
    os.close(handle)
    os.unlink(probe)
    return Check("log dir", True, f"{log_dir} exists and is writable")


def check_not_served(label: str, folder: str) -> Check:
    name = f"{label} not web-served"
    resolved = Path(folder).resolve()
    for setting, served in web_served_folders():
        if resolved.is_relative_to(served):
            return Check(
                name,
                False,
                f"{folder} is inside {setting} ({served}): anyone could download KCP's files and logs, which hold "
                "account numbers and names. Move it outside every web-served folder (guide §2.4).",
            )
    return Check(name, True, f"{folder} is outside STATIC_ROOT, MEDIA_ROOT and STATICFILES_DIRS")


def ppcli_checks(merchant: conf.MerchantConfig) -> list[Check]:
    checks = [check_layout(merchant)]
    binary_check, binary = check_binary(merchant)
    checks.append(binary_check)
    if binary is not None:
        checks.append(check_installation(binary))
    checks.append(check_log_dir(merchant))
    folders = {"log dir": merchant.log_dir, "home dir": merchant.home_dir}
    if binary is not None:
        folders["binary's folder"] = os.path.dirname(os.path.abspath(binary))
    checks += [check_not_served(label, folder) for label, folder in folders.items() if folder]
    return checks


class Command(BaseCommand):
    help = "Check a KCP merchant's settings and, for pp_cli, the binary, its log folder and their placement."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", default=conf.DEFAULT_ALIAS, help="KCP_MERCHANTS alias (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:
        settings_check, merchant = check_settings(options["merchant"])
        checks = [settings_check]
        if merchant is not None:
            if merchant.backend == conf.PPCLI_BACKEND:
                checks += ppcli_checks(merchant)
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
