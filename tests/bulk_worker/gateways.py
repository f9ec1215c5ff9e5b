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
    """Appends ``<ordr_idxx> <start> <end> <pid>`` to ``OPTIONS["CALL_LOG"]`` after every call.

    With ``OPTIONS["LOG_STARTS"]`` it also appends ``<ordr_idxx> <start> - <pid>`` before the call,
    so a call whose process was killed before it ended is still counted (:func:`read_starts`).
    """

    def verify(self, request: VerificationRequest) -> GatewayResult:
        started = time.time()
        if self.merchant.options.get("LOG_STARTS"):
            self._append(f"{request.ordr_idxx} {started:.6f} - {os.getpid()}\n")
        try:
            return super().verify(request)
        finally:
            self._append(f"{request.ordr_idxx} {started:.6f} {time.time():.6f} {os.getpid()}\n")

    def _append(self, line: str) -> None:
        # One write() on an O_APPEND descriptor: lines from many processes never interleave.
        descriptor = os.open(self.merchant.options["CALL_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)


@dataclass(frozen=True)
class Call:
    ordr_idxx: str
    started: float
    ended: float
    pid: int


def read_calls(path: Path) -> list[Call]:
    """The calls that ended."""
    if not path.exists():
        return []
    calls = []
    for line in path.read_text().splitlines():
        ordr_idxx, started, ended, pid = line.split()
        if ended != "-":
            calls.append(Call(ordr_idxx, float(started), float(ended), int(pid)))
    return calls


def read_starts(path: Path) -> list[tuple[str, int]]:
    """``(ordr_idxx, pid)`` of every call that started, ended or not (needs ``LOG_STARTS``)."""
    if not path.exists():
        return []
    return [(line.split()[0], int(line.split()[3])) for line in path.read_text().splitlines() if line.split()[2] == "-"]


def most_in_flight(calls: list[Call]) -> int:
    """The largest number of calls that were running at the same moment."""
    events = sorted([(c.started, 1) for c in calls] + [(c.ended, -1) for c in calls])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak
