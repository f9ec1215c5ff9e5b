"""The sandbox, counted: the bulk rows' workers log every gateway call, so the benchmark can check that
each item was asked of the gateway exactly once and that no more than C calls ran at once."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from kcp_django.gateways.base import GatewayResult, VerificationRequest
from kcp_django.gateways.sandbox import SandboxGateway


class CountingSandbox(SandboxGateway):
    """Appends ``<ordr_idxx> <start> <end>`` to ``OPTIONS["CALL_LOG"]`` after every call."""

    def verify(self, request: VerificationRequest) -> GatewayResult:
        started = time.time()
        try:
            return super().verify(request)
        finally:
            line = f"{request.ordr_idxx} {started:.6f} {time.time():.6f}\n".encode()
            # One write() on an O_APPEND descriptor: lines written by many threads never interleave.
            descriptor = os.open(self.merchant.options["CALL_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, line)
            finally:
                os.close(descriptor)


@dataclass(frozen=True)
class Call:
    ordr_idxx: str
    started: float
    ended: float


def read_calls(path: Path) -> list[Call]:
    if not path.exists():
        return []
    calls = []
    for line in path.read_text().splitlines():
        ordr_idxx, started, ended = line.split()
        calls.append(Call(ordr_idxx, float(started), float(ended)))
    return calls


def most_in_flight(calls: list[Call]) -> int:
    """The largest number of calls that were running at the same moment."""
    events = sorted([(c.started, 1) for c in calls] + [(c.ended, -1) for c in calls])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak
