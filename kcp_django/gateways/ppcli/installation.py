"""Is this server ready to run KCP's ``pp_cli``? The checks behind ``manage.py kcp_check``.

For a pp_cli merchant: the layout table, the binary, KCP's own installation check (``pp_cli -h``
must answer S102), the log folder, and that neither the log folder nor KCP's folders are
web-served (guide §2.4). Nothing here sends a request to KCP or prints the site key.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from kcp_django.exceptions import GatewayUnavailable
from kcp_django.gateways.base import REFUND_KINDS
from kcp_django.gateways.ppcli.client import find_binary, is_fake_pp_cli, last_line, parse_answer, run_bounded
from kcp_django.gateways.ppcli.layout import load_layout
from kcp_django.gateways.ppcli.refund_layout import refund_layout

if TYPE_CHECKING:
    from kcp_django.conf import MerchantConfig

INSTALL_CHECK_TIMEOUT = 5.0


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it passed, and the cause or the fix."""

    name: str
    ok: bool
    detail: str


def check_layout(merchant: MerchantConfig) -> Check:
    try:
        layout = load_layout(merchant.options.get("LAYOUT"))
    except ImproperlyConfigured as exc:
        return Check("layout", False, str(exc))
    custom = "custom OPTIONS['LAYOUT']" if merchant.options.get("LAYOUT") else "default (inferred) layout"
    return Check("layout", True, f"{custom}, tx_cd {layout.tx_cd}")


def validate_refund_layouts(override: object) -> None:
    """Raise ``ImproperlyConfigured`` unless ``OPTIONS["REFUND_LAYOUTS"]`` renders every refund kind
    (:mod:`kcp_django.conf` runs it when a merchant is first read)."""
    for kind in REFUND_KINDS:
        refund_layout(kind, override)  # type: ignore[arg-type]


def check_refund_layouts(merchant: MerchantConfig) -> Check:
    """``OPTIONS["REFUND_LAYOUTS"]`` renders every refund kind (the tables are inferred in part)."""
    override = merchant.options.get("REFUND_LAYOUTS")
    try:
        tx_cds = {kind: refund_layout(kind, override)["tx_cd"] for kind in REFUND_KINDS}
    except ImproperlyConfigured as exc:
        return Check("refund layouts", False, str(exc))
    custom = "custom OPTIONS['REFUND_LAYOUTS']" if override else "default refund tables"
    return Check("refund layouts", True, f"{custom}: " + ", ".join(f"{k} tx_cd {v}" for k, v in tx_cds.items()))


def check_binary(merchant: MerchantConfig) -> tuple[Check, str | None]:
    try:
        binary = find_binary(merchant)
    except GatewayUnavailable as exc:
        return Check("binary", False, exc.reason), None
    return Check("binary", True, f"{binary} is executable"), binary


#: The field kcp-django's fake pp_cli adds to its installation-check answer (KCP's never sends it).
FAKE_MARKER = "kcp_fake"


def runs_fake_pp_cli(merchant: MerchantConfig) -> str | None:
    """The path of ``merchant``'s binary when it is kcp-django's fake pp_cli, else ``None`` (also when
    there is no binary: :func:`check_binary` reports that). Reads its first KiB; runs nothing."""
    try:
        binary = find_binary(merchant)
    except GatewayUnavailable:
        return None
    return binary if is_fake_pp_cli(binary) else None


def check_installation(binary: str, *, real_mode: bool = False) -> Check:
    """KCP's own check: ``pp_cli -h`` without an argument answers ``res_cd=S102`` on stdout.

    kcp-django's fake pp_cli answers it too, with ``kcp_fake=1``: fine in test mode, a failure in
    real mode (``real_mode``), where it would stand in for KCP.
    """
    name = "installation (pp_cli -h)"
    try:
        output = run_bounded([binary, "-h"], INSTALL_CHECK_TIMEOUT)
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
        fields = parse_answer(last_line(output.stdout))
    except UnicodeDecodeError:
        fields = {}
    res_cd = fields.get("res_cd", "")
    if FAKE_MARKER in fields:
        if real_mode:
            return Check(
                name,
                False,
                f"{binary} is kcp-django's fake pp_cli (kcp-fake-pp-cli), a test double that never asks KCP, "
                "and the merchant is in real mode: install KCP's own pp_cli from the kit of your contract there.",
            )
        return Check(name, True, f"answered res_cd={res_cd}: kcp-django's fake pp_cli (a test double, test mode)")
    if res_cd == "S102":
        return Check(name, True, "answered res_cd=S102, as KCP's guide expects")
    got = f"res_cd={res_cd}" if res_cd else "nothing readable"
    return Check(
        name,
        False,
        f"answered {got} (exit status {output.returncode}), expected res_cd=S102. Check that {binary} is KCP's "
        "pp_cli for this platform, uploaded in binary mode, with mode 755 (guide §2.2.2).",
    )


def check_log_dir(merchant: MerchantConfig) -> Check:
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


def installation_checks(merchant: MerchantConfig) -> list[Check]:
    """Everything ``kcp_check`` verifies for a pp_cli merchant, in order, without sending a request."""
    checks = [check_layout(merchant), check_refund_layouts(merchant)]
    binary_check, binary = check_binary(merchant)
    checks.append(binary_check)
    if binary is not None:
        checks.append(check_installation(binary, real_mode=merchant.mode == "real"))
    checks.append(check_log_dir(merchant))
    folders = {"log dir": merchant.log_dir, "home dir": merchant.home_dir}
    if binary is not None:
        folders["binary's folder"] = os.path.dirname(os.path.abspath(binary))
    checks += [check_not_served(label, folder) for label, folder in folders.items() if folder]
    return checks


def web_served_folders() -> list[tuple[str, Path]]:
    """``(setting, folder)`` for STATIC_ROOT, MEDIA_ROOT and every STATICFILES_DIRS entry."""
    served: list[tuple[str, Path]] = []
    for setting in ("STATIC_ROOT", "MEDIA_ROOT"):
        value = getattr(settings, setting, None)
        if value:
            served.append((setting, Path(value).resolve()))
    for index, entry in enumerate(getattr(settings, "STATICFILES_DIRS", None) or ()):
        folder = entry[1] if isinstance(entry, (tuple, list)) else entry
        if folder:
            served.append((f"STATICFILES_DIRS[{index}]", Path(folder).resolve()))
    return served
