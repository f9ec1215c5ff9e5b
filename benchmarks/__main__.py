"""``python -m benchmarks``: run every benchmark, print a table and write JSON.

``--quick`` runs each on a tiny size (what the test suite checks); the figures then mean nothing.
The database is a throwaway SQLite file, or, when ``DATABASE_URL`` names a database server, a
throwaway database created on that server and dropped at the end. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.measure import Row

#: ``--sqlite-journal`` choices and the journal mode each sets.
JOURNAL_MODES = {"wal": "WAL", "rollback": "DELETE"}

#: Benchmark name (for ``--only``) -> keyword arguments, full size and quick.
SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "api": {
        "full": {"rounds": 12, "seconds": 2.5, "connections": 8, "warmup": 2.0},
        "quick": {"rounds": 1, "seconds": 0.3, "connections": 2, "warmup": 0.2},
    },
    "service": {
        "full": {"repetitions": 31, "calls": 12},
        "quick": {"repetitions": 2, "calls": 2},
    },
    "ppcli": {
        "full": {"repetitions": 31, "calls": 12},
        "quick": {"repetitions": 2, "calls": 2},
    },
    "bulk": {
        "full": {
            "repetitions": 3,
            "rows": 1000,
            "latency": 0.05,
            "workers": 1,
            "threads": 8,
            "memory_rows": 10_000,
            "memory_latency": 0.005,
        },
        "quick": {
            "repetitions": 1,
            "rows": 16,
            "latency": 0.01,
            "workers": 1,
            "threads": 4,
            "memory_rows": 40,
            "memory_latency": 0.001,
        },
    },
    "refund": {
        "full": {"repetitions": 31, "calls": 12},
        "quick": {"repetitions": 2, "calls": 2},
    },
    "celery": {
        "full": {"rows": 2000, "latency": 0.05, "threads": 8, "workers": [1, 2, 4]},
        "quick": {"rows": 16, "latency": 0.01, "threads": 2, "workers": [1, 2]},
    },
}


def _setup_django(*, sqlite_journal: str = "wal") -> str | None:
    """Set Django up on a fresh database; the name of the database to restore afterwards, if any."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    if connection.vendor == "sqlite":
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            # Write-ahead logging, which stays with the file: readers and the writer stop waiting for
            # each other. With SQLite's default rollback journal, the concurrent rows measure its
            # lock waits rather than the app (docs/benchmarks.md).
            cursor.execute(f"PRAGMA journal_mode={JOURNAL_MODES[sqlite_journal]}")
        return None
    # A database of its own on the server DATABASE_URL names, created (and migrated) as the test
    # runner creates its test database; the processes the benchmarks start find it by name.
    original = str(connection.settings_dict["NAME"])
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    os.environ["KCP_BENCH_DATABASE_NAME"] = str(connection.settings_dict["NAME"])
    return original


def _teardown_django(original_database: str | None) -> None:
    from django.db import connection

    from benchmarks.processes import scratch

    if original_database is not None:
        connection.creation.destroy_test_db(original_database, verbosity=0)
    else:
        connection.close()
    shutil.rmtree(scratch(), ignore_errors=True)


def _benchmarks() -> dict[str, Callable[..., Row | list[Row]]]:
    from benchmarks import (
        api_overhead,
        bulk_runs,
        celery_scaling,
        ppcli_overhead,
        refund_overhead,
        service_overhead,
    )

    return {
        "api": api_overhead.run,
        "service": service_overhead.run,
        "ppcli": ppcli_overhead.run,
        "bulk": bulk_runs.run,
        "refund": refund_overhead.run,
        "celery": celery_scaling.run,
    }


def _number(value: float) -> str:
    return f"{value:>12.6f}" if abs(value) < 1 else f"{value:>12.4f}" if abs(value) < 1000 else f"{value:>12.1f}"


def format_table(rows: list[Row]) -> str:
    header = f"{'benchmark':<24} {'candidate':>12} {'baseline':>12} {'ratio':>8}  {'target':<34} result"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.name:<24} {_number(row.candidate)} {_number(row.baseline)} {row.ratio:>8.3f}  {row.target:<34} "
            f"{'ok' if row.passed else 'MISSED'}"
        )
        lines.append(f"    ({row.metric})")
        for key, value in row.details.items():
            lines.append(f"    {key}: {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the benchmarks run")
    parser.add_argument("--only", action="append", choices=sorted(SIZES), help="run only these benchmarks (repeatable)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results.json"), help="where to write JSON")
    parser.add_argument(
        "--sqlite-journal",
        choices=sorted(JOURNAL_MODES),
        default="wal",
        help="SQLite only: write-ahead log (default) or SQLite's default rollback journal",
    )
    parser.add_argument(
        "--bulk-workers",  # rows 4, 5 and 7
        type=int,
        choices=[1, 2, 4],
        default=1,
        help="db_worker processes for the bulk rows; the concurrency stays the same, split between them",
    )
    options = parser.parse_args(argv)

    original_database = _setup_django(sqlite_journal=options.sqlite_journal)
    size = "quick" if options.quick else "full"
    rows: list[Row] = []
    started = time.monotonic()
    try:
        for name, run in _benchmarks().items():
            if options.only and name not in options.only:
                continue
            print(f"running {name}...", file=sys.stderr, flush=True)
            arguments = dict(SIZES[name][size])
            if name == "bulk" and options.bulk_workers > 1:
                concurrency = arguments["workers"] * arguments["threads"]
                arguments.update(workers=options.bulk_workers, threads=max(1, concurrency // options.bulk_workers))
            result = run(**arguments)
            rows.extend(result if isinstance(result, list) else [result])
        from django.db import connection

        database = connection.vendor
        if database == "sqlite":
            database += f" ({options.sqlite_journal} journal)"
    finally:
        _teardown_django(original_database)

    print(format_table(rows))
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(
        json.dumps(
            {
                "quick": options.quick,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "database": database,
                "seconds": round(time.monotonic() - started, 1),
                "rows": [
                    {
                        "name": r.name,
                        "metric": r.metric,
                        "candidate": r.candidate,
                        "baseline": r.baseline,
                        "ratio": r.ratio,
                        "target": r.target,
                        "passed": r.passed,
                        **r.details,
                    }
                    for r in rows
                ],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
