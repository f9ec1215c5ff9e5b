"""Row 3: the pp_cli gateway calling the fake client, against ``subprocess.run`` of the same argv."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.measure import Row, alternate
from benchmarks.processes import scratch
from kcp_django.conf import MerchantConfig
from kcp_django.gateways.base import VerificationRequest
from kcp_django.gateways.ppcli.client import PpCliGateway, args_for, build_arg, child_environment, find_binary
from kcp_django.gateways.ppcli.layout import load_layout, render

TARGET = 1.05


def fake_kit() -> Path:
    home = Path(tempfile.mkdtemp(prefix="kit-", dir=scratch()))
    (home / "bin").mkdir()
    (home / "log").mkdir()
    (home / "bin" / "pp_cli").symlink_to(Path(sys.executable).with_name("kcp-fake-pp-cli"))
    return home


def run(*, repetitions: int, calls: int) -> Row:
    home = fake_kit()
    merchant = MerchantConfig(
        alias="bench",
        backend="kcp_django.gateways.ppcli.PpCliGateway",
        mode="test",
        site_cd="T0000",
        site_key="3grptw1.zW0GSo4PQdaGvsF__",
        home_dir=str(home),
        log_dir=str(home / "log"),
        timeout=15,
    )
    request = VerificationRequest(ordr_idxx="BENCH-P-1", bank_code="04", account_no="123456789012", owner_nm="홍길동")
    gateway = PpCliGateway(merchant)
    argv = [
        os.fsencode(find_binary(merchant)),
        b"-h",
        build_arg(args_for(merchant, render(load_layout(None), request))),
    ]
    environment = child_environment()

    def through_gateway() -> None:
        assert gateway.verify(request).is_success

    def bare_subprocess() -> None:
        subprocess.run(argv, capture_output=True, check=True, env=environment, timeout=15)

    gateway_time, bare_time = alternate(through_gateway, bare_subprocess, repetitions=repetitions, calls=calls)
    return Row(
        name="pp_cli client overhead",
        metric="seconds per call (gateway / subprocess.run)",
        candidate=gateway_time,
        baseline=bare_time,
        target=f"ratio <= {TARGET}",
        passed=gateway_time / bare_time <= TARGET,
    )
