"""Row 6: the pp_cli gateway sending refunds to the fake client, against ``subprocess.run`` of the same argv."""

from __future__ import annotations

import os
import subprocess

from benchmarks.measure import Row, alternate
from benchmarks.ppcli_overhead import fake_kit
from kcp_django.conf import MerchantConfig
from kcp_django.gateways.base import RefundCall
from kcp_django.gateways.ppcli.client import PpCliGateway, child_environment, find_binary, refund_arg

TARGET = 1.05


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
    # The largest refund: a partial virtual-account refund, every field of its table filled.
    request = RefundCall(
        kind="vbank-refund",
        ordr_idxx="BENCH-R-1",
        tno="20261127000001",
        mod_type="STPD",
        bank_code="04",
        account_no="123456789012",
        owner_nm="홍길동",
        reason="단순 변심",
        mod_ip="203.0.113.7",
        amount=3000,
        remaining=10000,
    )
    gateway = PpCliGateway(merchant)
    argv = [os.fsencode(find_binary(merchant)), b"-h", refund_arg(merchant, request)]
    environment = child_environment()

    def through_gateway() -> None:
        assert gateway.refund(request).is_success

    def bare_subprocess() -> None:
        subprocess.run(argv, capture_output=True, check=True, env=environment, timeout=15)

    gateway_time, bare_time = alternate(through_gateway, bare_subprocess, repetitions=repetitions, calls=calls)
    return Row(
        name="refund client overhead",
        metric="seconds per call (gateway.refund / subprocess.run)",
        candidate=gateway_time,
        baseline=bare_time,
        target=f"ratio <= {TARGET}",
        passed=gateway_time / bare_time <= TARGET,
    )
