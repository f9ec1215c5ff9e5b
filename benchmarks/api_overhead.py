"""Row 1: ``POST /kcp/verifications/`` under gunicorn against a bare DRF endpoint that inserts one row.

Both run in the same gunicorn (2 workers, threaded, so connections are kept alive) on the same
database, with a 0-latency sandbox: what is left is the app's own cost per request. A pool of
client threads, one keep-alive connection each, signed in with a session cookie and CSRF token as
a shop's frontend is, sends requests for a fixed time; candidate and baseline alternate round by
round (the order rotates every round) and the report gives the median throughput of each and the
p50/p99 latency over every request.

A third endpoint, measured in the same rounds, is the bare one making the app's two writes (the
PENDING row committed before KCP is asked, then the answer over it): the candidate against it is
what the app's code costs, apart from what its design does, and it is the row's baseline and
target; the one-insert endpoint's figures are in the details.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils.crypto import get_random_string

from benchmarks.load import LoadResult, percentile, run_load
from benchmarks.measure import Row
from benchmarks.processes import free_port, scratch, start, stop, wait_for_http
from benchmarks.urls import BARE_PATH, TWO_WRITES_PATH

TARGET = 0.95
CANDIDATE_PATH = "/kcp/verifications/"
WORKERS = 2
THREADS = 4


def run(*, rounds: int, seconds: float, connections: int, warmup: float) -> Row:
    session, csrf = _signed_in_session()
    headers = {
        "Content-Type": "application/json",
        "Accept-Language": "en",
        "Cookie": f"sessionid={session}; csrftoken={csrf}",
        "X-CSRFToken": csrf,
        "Host": "127.0.0.1",
    }
    counter = itertools.count()

    def body() -> dict[str, Any]:
        return {
            "bank_code": "04",
            "account_no": "123-456-789012",
            "owner_nm": "홍길동",
            "reference": f"bench-{next(counter)}",
        }

    port = free_port()
    log = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log", dir=scratch())[1])
    server = start(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "gthread",
            "--threads",
            str(THREADS),
            "--keep-alive",
            "75",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "example_project.wsgi:application",
        ],
        log=log,
    )
    try:
        try:
            wait_for_http(port, "/kcp/banks/", server)
        except RuntimeError as exc:
            raise RuntimeError(f"gunicorn: {exc}\n{log.read_text(errors='replace')[-3000:]}") from None
        paths = {"candidate": CANDIDATE_PATH, "baseline": "/" + BARE_PATH, "two_writes": "/" + TWO_WRITES_PATH}
        results: dict[str, list[LoadResult]] = {name: [] for name in paths}

        def phase(name: str, duration: float) -> LoadResult:
            result = run_load(
                port=port, path=paths[name], body=body, headers=headers, connections=connections, duration=duration
            )
            if result.failures or not result.latencies:
                raise RuntimeError(f"{paths[name]}: {len(result.failures)} failed requests, e.g. {result.failures[:3]}")
            return result

        for name in paths:
            phase(name, warmup)  # every worker thread has its database connection and imports done
        names = list(paths)
        for number in range(rounds):
            # Each side goes first, second and third equally often.
            order = names[number % 3 :] + names[: number % 3]
            for name in order if number % 2 == 0 else reversed(order):
                results[name].append(phase(name, seconds))
    finally:
        stop(server)

    def latencies(name: str) -> list[float]:
        return [latency for result in results[name] for latency in result.latencies]

    candidate = statistics.median(r.throughput for r in results["candidate"])
    baseline = statistics.median(r.throughput for r in results["baseline"])
    two_writes = statistics.median(r.throughput for r in results["two_writes"])
    # The target is what the app's code costs: against a bare endpoint making the same two writes.
    # The design's second write is the difference between that endpoint and the one-insert baseline.
    return Row(
        name="API overhead",
        metric="requests/s (POST /kcp/verifications/ vs a bare DRF endpoint making the same two writes)",
        candidate=candidate,
        baseline=two_writes,
        target=f"ratio >= {TARGET}",
        passed=candidate / two_writes >= TARGET,
        details={
            "baseline_rps": round(baseline, 1),
            "candidate_vs_baseline": round(candidate / baseline, 3),
            "candidate_p50_ms": round(percentile(latencies("candidate"), 0.50) * 1000, 2),
            "candidate_p99_ms": round(percentile(latencies("candidate"), 0.99) * 1000, 2),
            "baseline_p50_ms": round(percentile(latencies("baseline"), 0.50) * 1000, 2),
            "baseline_p99_ms": round(percentile(latencies("baseline"), 0.99) * 1000, 2),
            "candidate_vs_two_writes": round(candidate / two_writes, 3),
            "two_writes_vs_baseline": round(two_writes / baseline, 3),
            "two_writes_p50_ms": round(percentile(latencies("two_writes"), 0.50) * 1000, 2),
            "rps_per_round": {name: [round(r.throughput) for r in results[name]] for name in results},
            "requests": {name: len(latencies(name)) for name in results},
            "reconnects": sum(r.reconnects for rs in results.values() for r in rs),
            "gunicorn": f"{WORKERS} workers x {THREADS} threads (gthread)",
            "connections": connections,
            "rounds": rounds,
            "seconds_per_phase": seconds,
            "database": connection.vendor,
        },
    )


def _signed_in_session() -> tuple[str, str]:
    """A session for a new user (as ``.ci/schemathesis`` makes one) and a CSRF token for its cookie."""
    user = get_user_model().objects.create_user(f"bench-{get_random_string(8)}")
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value, get_random_string(32)
