"""``python -m benchmarks`` runs and reports its eight rows. Only that: benchmarks are not tests, so no
figure is checked here (docs/benchmarks.md has them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = [
    "API overhead",
    "service overhead",
    "pp_cli client overhead",
    "bulk wall time",
    "bulk memory",
    "bulk throughput",
    "refund client overhead",
    "worker scaling",
]


def test_the_benchmarks_run_on_a_tiny_size_and_report_every_row(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    # The benchmarks choose their own settings; DATABASE_URL, if set, names the server they use.
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}

    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert finished.returncode == 0, finished.stdout + finished.stderr
    report = json.loads(output.read_text())
    assert report["quick"] is True
    assert [row["name"] for row in report["rows"]] == ROWS
    for row in report["rows"]:
        assert {"metric", "candidate", "baseline", "ratio", "target", "passed"} <= set(row), row
    for name in ROWS:
        assert name in finished.stdout
    # Row 7 also reports the worker's own cost per row: the same rows with the gateway answering at once.
    throughput = next(row for row in report["rows"] if row["name"] == "bulk throughput")
    assert len(throughput["walls_at_L0_s"]) == 1
    assert throughput["worker_ms_per_row_at_L0"] > 0
