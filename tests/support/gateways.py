"""The tests' gateways, selected by dotted path in KCP_MERCHANTS: ones that misbehave on purpose,
and counting ones for the reconciliation tests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import ClassVar

from kcp_django.conf import MerchantConfig
from kcp_django.gateways.base import GatewayResult, RefundCall, VerificationRequest
from kcp_django.gateways.sandbox import SandboxGateway
from kcp_django.models import AccountVerification


class ExplodingGateway:
    is_test_double: ClassVar[bool] = True

    def __init__(self, merchant: MerchantConfig) -> None:
        self.merchant = merchant

    def verify(self, request: VerificationRequest) -> GatewayResult:
        raise RuntimeError("the gateway broke in an unexpected way")


class NoResultCodeGateway(ExplodingGateway):
    def verify(self, request: VerificationRequest) -> GatewayResult:
        return GatewayResult.from_fields({"res_msg": "???", "account_no": request.account_no})


class ClientErrorGateway(ExplodingGateway):
    def verify(self, request: VerificationRequest) -> GatewayResult:
        return GatewayResult.from_fields({"res_cd": "9502", "res_msg": "연동 모듈 호출 오류"})


class ObservingGateway(ExplodingGateway):
    """Looks at the database from another connection while the call is in flight."""

    seen: dict[str, object] = {}

    def verify(self, request: VerificationRequest) -> GatewayResult:
        def look() -> None:
            from django.db import connection

            try:
                row = AccountVerification.objects.get(ordr_idxx=request.ordr_idxx)
                ObservingGateway.seen["state"] = row.state
                # A write from another connection must not wait for us: we hold no lock.
                AccountVerification.objects.filter(pk=row.pk).update(reference=row.reference)
                ObservingGateway.seen["wrote"] = True
            finally:
                connection.close()

        thread = threading.Thread(target=look)
        thread.start()
        thread.join(timeout=20)
        return GatewayResult.from_fields({"res_cd": "0000", "res_msg": "정상처리", "tno": "20261127000001"})


class BrokenAtStartGateway(ExplodingGateway):
    """Fails while being constructed (a missing certificate, a bad option): before anything is sent."""

    def __init__(self, merchant: MerchantConfig) -> None:
        raise OSError("the gateway could not read its certificate")


class UnlistedCodesGateway(ExplodingGateway):
    """Names a provider the core's table does not list."""

    answer_codes: ClassVar[str] = "no-such-provider"


class HeldRefundGateway(ExplodingGateway):
    """Answers a refund with 0000 only when the test lets it: staff can act while KCP is answering."""

    entered = threading.Event()
    release = threading.Event()

    def refund(self, request: RefundCall) -> GatewayResult:
        HeldRefundGateway.entered.set()
        HeldRefundGateway.release.wait(timeout=30)
        return GatewayResult.from_fields({"res_cd": "0000", "res_msg": "정상처리", "tno": request.tno})


class CountingGateway(SandboxGateway):
    """The sandbox, counting calls per ordr_idxx.

    With ``meeting`` set, each thread's first call waits there for the others' first calls: the
    reconcilers are then provably inside the gateway at the same time, each on its own row.
    """

    calls: Counter[str] = Counter()
    meeting: threading.Barrier | None = None
    _lock = threading.Lock()
    _thread = threading.local()

    def verify(self, request: VerificationRequest) -> GatewayResult:
        with CountingGateway._lock:
            CountingGateway.calls[request.ordr_idxx] += 1
        if CountingGateway.meeting is not None and not getattr(CountingGateway._thread, "met", False):
            CountingGateway._thread.met = True
            CountingGateway.meeting.wait()
        time.sleep(0.02)
        return super().verify(request)


class LeaseLostGateway(SandboxGateway):
    """While the call is in flight, another reconciler takes the row over (our lease ran out)."""

    def verify(self, request: VerificationRequest) -> GatewayResult:
        from django.db import connection

        def take_over() -> None:
            try:
                AccountVerification.objects.filter(ordr_idxx=request.ordr_idxx).update(claimed_by="another-host:1:x")
            finally:
                connection.close()

        thread = threading.Thread(target=take_over)
        thread.start()
        thread.join(timeout=20)
        return super().verify(request)
