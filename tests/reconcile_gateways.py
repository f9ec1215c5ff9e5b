"""Gateways for the reconciliation tests, selected by dotted path in KCP_MERCHANTS."""

from __future__ import annotations

import threading
import time
from collections import Counter

from kcp_django.gateways.base import GatewayResult, VerificationRequest
from kcp_django.gateways.sandbox import SandboxGateway
from kcp_django.models import AccountVerification


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
