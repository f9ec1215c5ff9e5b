"""The sandbox, counted: one line per gateway call in a file, so calls made in other processes
(task workers) can be counted and their overlap measured."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from kcp_django.gateways.base import GatewayResult, VerificationRequest
from kcp_django.gateways.sandbox import SandboxGateway


class CallLoggingSandbox(SandboxGateway):
    """Appends ``<ordr_idxx> <start> <end> <pid>`` to ``OPTIONS["CALL_LOG"]`` after every call."""

    def verify(self, request: VerificationRequest) -> GatewayResult:
        started = time.time()
        try:
            return super().verify(request)
        finally:
            line = f"{request.ordr_idxx} {started:.6f} {time.time():.6f} {os.getpid()}\n".encode()
            # One write() on an O_APPEND descriptor: lines from many processes never interleave.
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
    pid: int


def read_calls(path: Path) -> list[Call]:
    if not path.exists():
        return []
    calls = []
    for line in path.read_text().splitlines():
        ordr_idxx, started, ended, pid = line.split()
        calls.append(Call(ordr_idxx, float(started), float(ended), int(pid)))
    return calls


def most_in_flight(calls: list[Call]) -> int:
    """The largest number of calls that were running at the same moment."""
    events = sorted([(c.started, 1) for c in calls] + [(c.ended, -1) for c in calls])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak
