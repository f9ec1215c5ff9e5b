"""Rows 4, 5 and 7: bulk runs through a real ``db_worker`` process (django-tasks-db's database backend).

One run is what happens when staff confirm the admin's *Verify refund account* action on N rows of
the verifications list, from the click to the run's end:

1. a ``db_worker`` process is started (``KCP_BULK_CONCURRENCY`` = C threads per running task, the
   sandbox with latency L, every gateway call logged) and waits, warm, for work;
2. ``python -m benchmarks.enqueue`` records the run and queues its chunks, as the admin does, in a
   process of its own; the clock starts just before it records the run;
3. the clock stops at the run's ``finished_at``, written by the worker when the last item ends.

Row 4 compares that wall time with N·L/C, the time the gateway alone needs at that concurrency.
Row 5 compares the worker's peak resident set size at two sizes: the worker reads one chunk of items
(and their source rows) at a time, so ten times the rows should need about the same memory. Row 7
is row 4 at the larger size and a tenth of the latency (the runs of row 5): with KCP's share of
each row small, it shows what the worker itself costs per row; the same rows run again with the
gateway answering at once (L = 0) give that cost alone, reported beside it. Every run is checked
before it counts: each item final, each asked of the gateway exactly once, never more than C calls
at once.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from django.db import connection
from django.utils.crypto import get_random_string

from benchmarks.measure import Row
from benchmarks.processes import ROOT, child_environment, scratch, start, stop, stop_and_measure
from kcp_django.crypto import blind_index, last_four
from kcp_django.models import AccountVerification, BulkVerification, BulkVerificationItem
from tests.bulk_worker.gateways import Call, most_in_flight, read_calls

WALL_TARGET = 1.05
MEMORY_TARGET = 1.10
THROUGHPUT_TARGET = 1.5
HOLDER = "홍길동"


@dataclass(frozen=True)
class BulkRun:
    rows: int
    latency: float
    concurrency: int
    wall: float
    worker_startup: float
    busy: float
    worker_peak_rss: int
    enqueuer_peak_rss: int
    tasks: int
    calls: int
    most_in_flight: int

    @property
    def ideal(self) -> float:
        """N·L/C: the gateway's own time at this concurrency."""
        return self.rows * self.latency / self.concurrency


def run(
    *, repetitions: int, rows: int, latency: float, workers: int, threads: int, memory_rows: int, memory_latency: float
) -> list[Row]:
    # The timed runs first, so that the database's after-work of the large runs (autovacuum, a
    # checkpoint) cannot fall into them; memory does not depend on what ran before, in another process.
    source_ids = make_sources(rows)
    small = [one_run(source_ids, latency=latency, workers=workers, threads=threads) for _ in range(repetitions)]
    source_ids = make_sources(memory_rows)
    large = [one_run(source_ids, latency=memory_latency, workers=workers, threads=threads) for _ in range(repetitions)]
    # The same rows with the gateway answering at once: what the worker itself takes per row, the
    # floor under row 7's wall time whatever KCP's latency.
    floor = [one_run(source_ids, latency=0.0, workers=workers, threads=threads) for _ in range(repetitions)]

    wall = statistics.median(r.wall for r in small)
    ideal = small[0].ideal
    concurrency = workers * threads
    backend = f"django-tasks-db: {workers} db_worker process(es) x {threads} threads (KCP_BULK_CONCURRENCY)"
    bulk_row = Row(
        name="bulk wall time",
        metric=f"seconds (N={rows}, L={latency * 1000:g} ms, C={concurrency} vs N*L/C)",
        candidate=wall,
        baseline=ideal,
        target=f"ratio <= {WALL_TARGET}",
        passed=wall / ideal <= WALL_TARGET,
        details={
            "walls_s": [round(r.wall, 3) for r in small],
            "calls_running_s": round(statistics.median(r.busy for r in small), 3),
            "worker_startup_s": round(statistics.median(r.worker_startup for r in small), 3),
            "gateway_calls": small[0].calls,
            "most_calls_in_flight": max(r.most_in_flight for r in small),
            "tasks": small[0].tasks,
            "repetitions": repetitions,
            "backend": backend,
            "database": connection.vendor,
        },
    )
    worker_small = statistics.median(r.worker_peak_rss for r in small)
    worker_large = statistics.median(r.worker_peak_rss for r in large)
    enqueuer_small = statistics.median(r.enqueuer_peak_rss for r in small)
    enqueuer_large = statistics.median(r.enqueuer_peak_rss for r in large)
    memory_row = Row(
        name="bulk memory",
        metric=f"worker peak RSS, MiB ({memory_rows} rows vs {rows} rows)",
        candidate=worker_large / 2**20,
        baseline=worker_small / 2**20,
        target=f"ratio <= {MEMORY_TARGET}",
        passed=worker_large / worker_small <= MEMORY_TARGET,
        details={
            f"latency_at_{memory_rows}_ms": memory_latency * 1000,
            f"wall_at_{memory_rows}_s": round(statistics.median(r.wall for r in large), 3),
            f"ideal_at_{memory_rows}_s": round(large[0].ideal, 3),
            "worker_peak_rss_mib": {
                str(rows): [round(r.worker_peak_rss / 2**20, 1) for r in small],
                str(memory_rows): [round(r.worker_peak_rss / 2**20, 1) for r in large],
            },
            "enqueuer_peak_rss_mib": {
                str(rows): round(enqueuer_small / 2**20, 1),
                str(memory_rows): round(enqueuer_large / 2**20, 1),
            },
            "enqueuer_ratio": round(enqueuer_large / enqueuer_small, 3),
            "repetitions": repetitions,
        },
    )
    large_wall = statistics.median(r.wall for r in large)
    floor_wall = statistics.median(r.wall for r in floor)
    throughput_row = Row(
        name="bulk throughput",
        metric=f"seconds (N={memory_rows}, L={memory_latency * 1000:g} ms, C={concurrency} vs N*L/C)",
        candidate=large_wall,
        baseline=large[0].ideal,
        target=f"ratio <= {THROUGHPUT_TARGET}",
        passed=large_wall / large[0].ideal <= THROUGHPUT_TARGET if large[0].ideal else False,
        details={
            "walls_s": [round(r.wall, 3) for r in large],
            "calls_running_s": round(statistics.median(r.busy for r in large), 3),
            "rows_per_second": round(memory_rows / large_wall, 1),
            "worker_ms_per_row": round(large_wall / memory_rows * 1000, 3),
            # With L = 0 the wall time is the worker's own; the target needs the L = 5 ms run
            # within 1.5 x N*L/C, so the floor must be below that too.
            "walls_at_L0_s": [round(r.wall, 3) for r in floor],
            "worker_ms_per_row_at_L0": round(floor_wall / memory_rows * 1000, 3),
            "L0_wall_vs_N*L/C": round(floor_wall / large[0].ideal, 3) if large[0].ideal else None,
            "repetitions": repetitions,
            "backend": backend,
            "database": connection.vendor,
        },
    )
    return [bulk_row, memory_row, throughput_row]


def account_number(n: int) -> str:
    """Twelve digits; one row in ten names an account the sandbox does not know (it ends REJECTED)."""
    return f"000{n:09d}" if n % 10 == 0 else f"1{n:011d}"


def make_sources(count: int) -> list[int]:
    """``count`` stored verifications to verify again, as staff select them on the list."""
    prefix = f"BSRC{get_random_string(6)}-"
    AccountVerification.objects.bulk_create(
        (
            AccountVerification(
                ordr_idxx=f"{prefix}{n:06d}",
                bank_code="04",
                account_no=account_number(n),
                account_index=blind_index("04", account_number(n)),
                account_last4=last_four(account_number(n)),
                owner_nm=HOLDER,
                reference=f"bench-refund-{prefix}{n}",
                state="VERIFIED",
                res_cd="0000",
            )
            for n in range(count)
        ),
        batch_size=1000,
    )
    return list(
        AccountVerification.objects.filter(ordr_idxx__startswith=prefix).order_by("pk").values_list("pk", flat=True)
    )


def one_run(source_ids: list[int], *, latency: float, workers: int, threads: int) -> BulkRun:
    """One bulk run over ``source_ids`` by ``workers`` db_worker processes of ``threads`` threads each."""
    folder = scratch()
    tag = get_random_string(8)
    call_log = folder / f"calls-{tag}.log"
    ids_file = folder / f"ids-{tag}.json"
    ids_file.write_text(json.dumps(source_ids))
    rows = len(source_ids)
    concurrency = workers * threads
    ideal = rows * latency / concurrency

    spawned = time.monotonic()
    processes = [
        (
            start(
                [
                    *[sys.executable, "-m", "django", "db_worker", "--no-reload", "--no-startup-delay"],
                    *["--interval", "0.05", "--worker-id", f"bench-{tag}-{n}", "-v1"],
                ],
                log=folder / f"worker-{tag}-{n}.log",
                KCP_BENCH_SANDBOX_LATENCY=str(latency),
                KCP_BULK_CONCURRENCY=str(threads),
                KCP_BENCH_CALL_LOG=str(call_log),
            ),
            folder / f"worker-{tag}-{n}.log",
        )
        for n in range(workers)
    ]
    try:
        for process, log in processes:
            wait_for_line(log, "Starting worker", process)
        startup = time.monotonic() - spawned
        enqueued = subprocess.run(
            [sys.executable, "-m", "benchmarks.enqueue", str(ids_file)],
            cwd=ROOT,
            env=child_environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        if enqueued.returncode:
            raise RuntimeError(f"benchmarks.enqueue failed:\n{enqueued.stdout}{enqueued.stderr}")
        info = json.loads(enqueued.stdout.strip().splitlines()[-1])
        finished = wait_until_finished(info["bulk"], processes, timeout=ideal * 10 + 120)
        worker_peak = max(stop_and_measure(process) for process, _ in processes)
    finally:
        for process, _ in processes:
            stop(process)

    calls = read_calls(call_log)
    check_run(info["bulk"], rows, calls, concurrency)
    return BulkRun(
        rows=rows,
        latency=latency,
        concurrency=concurrency,
        wall=finished - info["started"],
        worker_startup=startup,
        busy=max(c.ended for c in calls) - min(c.started for c in calls),
        worker_peak_rss=worker_peak,
        enqueuer_peak_rss=int(info["peak_rss"]),
        tasks=int(info["tasks"]),
        calls=len(calls),
        most_in_flight=most_in_flight(calls),
    )


def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes], *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(f"db_worker exited with status {process.returncode}:\n{log.read_text()}")
        time.sleep(0.02)
    raise RuntimeError(f"db_worker did not start within {timeout:g}s:\n{log.read_text()}")


def wait_until_finished(
    bulk_id: int, processes: list[tuple[subprocess.Popen[bytes], Path]], *, timeout: float
) -> float:
    """The run's ``finished_at`` as a POSIX timestamp, once a worker has written it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finished = BulkVerification.objects.filter(pk=bulk_id).values_list("finished_at", flat=True).first()
        if finished is not None:
            return finished.timestamp()
        for process, log in processes:
            if process.poll() is not None:
                raise RuntimeError(f"db_worker exited with status {process.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    logs = "\n".join(log.read_text()[-2000:] for _, log in processes)
    raise RuntimeError(f"bulk run {bulk_id} did not finish within {timeout:g}s:\n{logs}")


def check_run(bulk_id: int, rows: int, calls: list[Call], concurrency: int) -> None:
    """The run counts only if every item ended once, through exactly one gateway call each."""
    items = BulkVerificationItem.objects.filter(bulk_id=bulk_id)
    problems = []
    if items.count() != rows or items.filter(finished_at__isnull=True).exists():
        problems.append("items left unfinished")
    errors = list(items.exclude(error="").values_list("error", flat=True)[:3])
    if errors:
        problems.append(f"items skipped: {errors}")
    states = Counter(items.values_list("verification__state", flat=True))
    if states != {"VERIFIED": rows - (rows + 9) // 10, "REJECTED": (rows + 9) // 10}:
        problems.append(f"unexpected outcomes {dict(states)}")
    ordr_idxx = set(items.values_list("ordr_idxx", flat=True))
    called = Counter(call.ordr_idxx for call in calls)
    if set(called) != ordr_idxx or max(called.values(), default=0) != 1:
        problems.append(f"{len(calls)} gateway calls for {len(ordr_idxx)} items")
    if most_in_flight(calls) > concurrency:
        problems.append(f"{most_in_flight(calls)} gateway calls at once, more than {concurrency}")
    if problems:
        raise RuntimeError(f"bulk run {bulk_id} is not valid: {'; '.join(problems)}")
