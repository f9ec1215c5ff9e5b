"""Row 8: one bulk run shared by 1, 2 and 4 Celery workers (django-tasks-fennel, RabbitMQ).

Each run starts the workers first (``celery worker --pool threads --concurrency 1``, as
docs/deployment.md runs them, each with ``KCP_BULK_CONCURRENCY`` = C calls in flight and the
sandbox at latency L), waits until every one is ready, then ``python -m benchmarks.enqueue``
records the run and queues its chunks on a queue of the run's own; the clock runs from just before
the run is recorded to its ``finished_at``. Every run is checked as rows 4 and 7 are: each item
final, each asked of the gateway exactly once, never more than workers x C calls at once.

The row is the wall time with one worker over the wall time with two (2.0 would be perfect
scaling); four workers are reported beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys

from django.db import connection
from django.utils.crypto import get_random_string

from benchmarks.bulk_runs import check_run, make_sources, wait_for_line, wait_until_finished
from benchmarks.measure import Row
from benchmarks.processes import ROOT, child_environment, scratch, start, stop
from tests.bulk_worker.gateways import read_calls

TARGET = 1.8


def run(*, rows: int, latency: float, threads: int, workers: list[int]) -> Row:
    source_ids = make_sources(rows)
    walls = {count: one_run(source_ids, latency=latency, workers=count, threads=threads) for count in workers}
    one, two = walls[1], walls[2]
    return Row(
        name="worker scaling",
        metric=f"seconds with 1 Celery worker / with 2 (N={rows}, L={latency * 1000:g} ms, C={threads} per worker)",
        candidate=one,
        baseline=two,
        target=f"ratio >= {TARGET}",
        passed=one / two >= TARGET,
        details={
            "walls_s": {str(count): round(wall, 3) for count, wall in walls.items()},
            "ideal_s": {str(count): round(rows * latency / (count * threads), 3) for count in walls},
            "speedup": {str(count): round(one / wall, 3) for count, wall in walls.items()},
            "backend": "django-tasks-fennel on Celery, RabbitMQ; celery worker --pool threads --concurrency 1",
            "database": connection.vendor,
        },
    )


def one_run(source_ids: list[int], *, latency: float, workers: int, threads: int) -> float:
    """Wall seconds of one run over ``source_ids`` shared by ``workers`` Celery workers."""
    folder = scratch()
    tag = get_random_string(8).lower()
    queue = f"kcp-bench-{tag}"
    call_log = folder / f"celery-calls-{tag}.log"
    ids_file = folder / f"celery-ids-{tag}.json"
    ids_file.write_text(json.dumps(source_ids))
    command = [sys.executable, "-m", "celery", "-A", "django_tasks_fennel.app", "worker", "--pool", "threads"]
    command += ["--concurrency", "1", "--queues", queue, "--without-mingle", "--without-gossip", "--loglevel", "INFO"]
    logs = [folder / f"celery-{tag}-{n}.log" for n in range(workers)]
    processes = [
        (
            start(
                [*command, "--hostname", f"bench{n}-{tag}@%h"],
                log=log,
                KCP_BENCH_CELERY_QUEUE=queue,
                KCP_BENCH_SANDBOX_LATENCY=str(latency),
                KCP_BULK_CONCURRENCY=str(threads),
                KCP_BENCH_CALL_LOG=str(call_log),
            ),
            log,
        )
        for n, log in enumerate(logs)
    ]
    try:
        for process, log in processes:
            wait_for_line(log, " ready.", process)
        enqueued = subprocess.run(
            [sys.executable, "-m", "benchmarks.enqueue", str(ids_file)],
            cwd=ROOT,
            env=child_environment(KCP_BENCH_CELERY_QUEUE=queue),
            capture_output=True,
            text=True,
            check=False,
        )
        if enqueued.returncode:
            raise RuntimeError(f"benchmarks.enqueue failed:\n{enqueued.stdout}{enqueued.stderr}")
        info = json.loads(enqueued.stdout.strip().splitlines()[-1])
        ideal = len(source_ids) * latency / (workers * threads)
        finished = wait_until_finished(info["bulk"], processes, timeout=ideal * 10 + 120)
    finally:
        for process, _ in processes:
            stop(process)
    calls = read_calls(call_log)
    check_run(info["bulk"], len(source_ids), calls, workers * threads)
    if min(workers, int(info["tasks"])) > 1 and len({call.pid for call in calls}) < 2:
        raise RuntimeError(f"{workers} workers and {info['tasks']} chunks, but one worker did all the work")
    return finished - float(info["started"])
