"""A small HTTP load generator: N threads, each with one keep-alive connection, for a fixed time."""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadResult:
    """What one phase of load did: every request's latency (seconds) and how long the phase took."""

    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    failures: list[str] = field(default_factory=list)
    reconnects: int = 0

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


def run_load(
    *,
    port: int,
    path: str,
    body: Callable[[], dict[str, Any]],
    headers: dict[str, str],
    connections: int,
    duration: float,
    expect: frozenset[int] = frozenset({200, 201, 202}),
) -> LoadResult:
    """POST JSON ``body()`` to ``path`` from ``connections`` threads until ``duration`` seconds have passed.

    Each thread keeps one HTTP/1.1 connection open and reconnects only when the server closes it. A
    request in flight at the deadline is finished and counted; ``elapsed`` runs until the last one ends.
    """
    result = LoadResult()
    lock = threading.Lock()
    start_together = threading.Barrier(connections + 1)
    deadline = 0.0

    def client() -> None:
        latencies: list[float] = []
        failures: list[str] = []
        reconnects = 0
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start_together.wait()
        try:
            while time.perf_counter() < deadline:
                payload = json.dumps(body()).encode()
                sent = time.perf_counter()
                try:
                    connection.request("POST", path, body=payload, headers=headers)
                    response = connection.getresponse()
                    answer = response.read()
                except (http.client.HTTPException, ConnectionError):
                    # The server closed the kept-alive connection: open another one and go on.
                    connection.close()
                    reconnects += 1
                    continue
                took = time.perf_counter() - sent
                if response.status in expect:
                    latencies.append(took)
                else:
                    failures.append(f"{response.status} {answer[:200]!r}")
                if response.will_close:
                    connection.close()
                    reconnects += 1
        finally:
            connection.close()
            with lock:
                result.latencies.extend(latencies)
                result.failures.extend(failures)
                result.reconnects += reconnects

    threads = [threading.Thread(target=client, name=f"bench-client-{n}") for n in range(connections)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline = started + duration
    start_together.wait()
    for thread in threads:
        thread.join()
    result.elapsed = time.perf_counter() - started
    return result


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]
