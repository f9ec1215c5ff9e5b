"""Bulk runs on Celery: two worker processes with different host names share one run through
RabbitMQ, each row asked of KCP once; and a worker killed mid-run loses nothing and repeats nothing.

Its own CI step (RabbitMQ and PostgreSQL), not part of the default suite::

    KCP_CELERY_PROOF=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        pytest --ds tests.bulk_worker.celery_settings tests/admin/test_bulk_celery.py -s

The workers are started with the command docs/deployment.md gives, after its start gate
(``kcp_check``); only the host name and the queue are changed. ``KCP_BULK_QUEUE_NAME`` picks a
queue of one's own on a shared broker; ``KCP_CELERY_BROKER_URL`` the broker.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from kcp_django.admin.bulk import BulkCounts, recent_progress, start_bulk
from kcp_django.admin.sources import AccountSource
from kcp_django.admin.tasks import enqueue_bulk
from kcp_django.models import AccountVerification, BulkVerification, BulkVerificationItem
from kcp_django.verifications.service import LOST_CALL
from tests.bulk_worker.gateways import read_calls, read_starts
from tests.shopapp.models import RefundRequest
from tests.support.admin import account_number

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("KCP_CELERY_PROOF"),
        reason="the Celery proof needs RabbitMQ and is its own CI step: KCP_CELERY_PROOF=1 pytest --ds "
        "tests.bulk_worker.celery_settings tests/admin/test_bulk_celery.py",
    ),
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = ROOT / "docs" / "deployment.md"


def documented_commands() -> tuple[list[str], list[str]]:
    """The start gate and the worker command of docs/deployment.md's worker section."""
    text = DEPLOYMENT.read_text()
    gate = re.search(r"^python manage\.py kcp_check$", text, re.MULTILINE)
    worker = re.search(r"^celery -A .* worker .*$", text, re.MULTILINE)
    assert gate and worker, "docs/deployment.md gives no worker start gate or worker command"
    return shlex.split(gate.group(0)), shlex.split(worker.group(0))


def with_option(command: list[str], option: str, value: str) -> list[str]:
    index = command.index(option)
    return [*command[: index + 1], value, *command[index + 2 :]]


class Workers:
    """``celery worker`` processes started as docs/deployment.md says, each with its own log."""

    def __init__(self, folder: Path, latency: float, call_log: Path) -> None:
        self.folder = folder
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.bulk_worker.celery_settings",
            "KCP_WORKER_TEST_DATABASE": str(connection.settings_dict["NAME"]),
            "KCP_CALL_LOG": str(call_log),
            "KCP_SANDBOX_LATENCY": str(latency),
            "KCP_BULK_CONCURRENCY": str(settings.KCP_BULK_CONCURRENCY),
            "KCP_BULK_QUEUE_NAME": settings.KCP_BULK_QUEUE_NAME,
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        gate, worker = documented_commands()
        # `python manage.py ...` and `celery ...` as this interpreter's modules, on the test settings.
        self.gate = [sys.executable, "-m", "django", *gate[2:]]
        self.worker = with_option([sys.executable, "-m", *worker], "--queues", settings.KCP_BULK_QUEUE_NAME)
        app = worker[worker.index("-A") + 1]
        purge = [sys.executable, "-m", "celery", "-A", app, "purge", "-f", "-Q", settings.KCP_BULK_QUEUE_NAME]
        # Chunks an earlier, interrupted run left on the queue would name items of this database.
        subprocess.run(purge, cwd=ROOT, env=self.env, check=True, capture_output=True, timeout=60)

    def log(self, hostname: str) -> Path:
        return self.folder / f"{hostname.replace('@', '-')}.log"

    def start(self, hostname: str) -> subprocess.Popen[bytes]:
        gate = subprocess.run(self.gate, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120)
        assert gate.returncode == 0, f"the start gate refused: {gate.stdout}{gate.stderr}"
        with self.log(hostname).open("wb") as log:
            process = subprocess.Popen(
                with_option(self.worker, "--hostname", hostname),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes[hostname] = process
        return process

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 90
        for hostname, process in self.processes.items():
            while f"{hostname} ready." not in self.log(hostname).read_text(errors="replace"):
                assert process.poll() is None, f"{hostname} exited:\n{self.log(hostname).read_text()}"
                assert time.monotonic() < deadline, f"{hostname} not ready:\n{self.log(hostname).read_text()}"
                time.sleep(0.05)

    def stop(self) -> None:
        """Warm shutdown: each worker finishes its chunk, then exits."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def tails(self) -> str:
        return "\n".join(f"--- {h}\n{self.log(h).read_text(errors='replace')[-3000:]}" for h in self.processes)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(
        tmp_path, float(settings.KCP_MERCHANTS["default"]["OPTIONS"]["SANDBOX_LATENCY"]), call_log(tmp_path)
    )
    yield started
    started.stop()


def call_log(folder: Path) -> Path:
    return folder / "calls.log"


def make_run(rows: int, token: str) -> BulkVerification:
    # One row in ten names an account the sandbox does not know: those end REJECTED.
    RefundRequest.objects.bulk_create(
        RefundRequest(
            order_number=f"{token[:4]}{n:05d}",
            bank_code="04",
            account_no=f"000{n:09d}" if n % 10 == 0 else account_number(n),
            holder_name="김환불",
        )
        for n in range(rows)
    )
    bulk, _ = start_bulk(
        model=RefundRequest,
        source=AccountSource(bank_code="bank_code", account_no="account_no", owner_nm="holder_name"),
        object_ids=list(RefundRequest.objects.order_by("pk").values_list("pk", flat=True)),
        confirmation_token=token.ljust(32, "x"),
        merchant="default",
        in_background=True,
    )
    return bulk


def wait_finished(bulk: BulkVerification, workers: Workers, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not BulkVerification.objects.filter(pk=bulk.pk, finished_at__isnull=False).exists():
        assert time.monotonic() < deadline, f"run {bulk.pk} did not finish:\n{workers.tails()}"
        time.sleep(0.1)


def expected_states(rows: int) -> Counter[str]:
    return Counter({"VERIFIED": rows - (rows + 9) // 10, "REJECTED": (rows + 9) // 10})


def test_two_hosts_share_one_run_with_one_call_per_row(workers: Workers, tmp_path: Path) -> None:
    rows = int(os.environ.get("KCP_PROOF_ROWS", "2000"))
    bulk = make_run(rows, "two-hosts")
    started = time.monotonic()
    a = workers.start("w1@host-a")
    b = workers.start("w2@host-b")
    workers.wait_ready()
    ready = time.monotonic()
    tasks = enqueue_bulk(bulk)
    try:
        wait_finished(bulk, workers, timeout=600)
        finished = time.monotonic()
    finally:
        workers.stop()

    items = BulkVerificationItem.objects.filter(bulk=bulk)
    assert not items.filter(finished_at__isnull=True).exists()
    assert not items.exclude(error="").exists(), list(items.exclude(error="").values_list("error", flat=True)[:5])
    assert Counter(items.values_list("verification__state", flat=True)) == expected_states(rows)
    assert AccountVerification.objects.count() == rows

    starts = Counter(ordr_idxx for ordr_idxx, _ in read_starts(call_log(tmp_path)))
    calls = read_calls(call_log(tmp_path))
    assert set(starts) == set(items.values_list("ordr_idxx", flat=True)), "rows never sent"
    assert max(starts.values()) == 1, "a row was sent twice"
    assert len(calls) == rows
    by_worker = Counter(call.pid for call in calls)
    assert set(by_worker) == {a.pid, b.pid}, "one of the workers did none of the work"

    # What the admin's progress panel shows for the run, from the database the workers share.
    (progress,) = [run for run in recent_progress(RefundRequest) if run.pk == bulk.pk]
    assert progress.done == rows
    assert progress.counts == BulkCounts(verified=expected_states(rows)["VERIFIED"], rejected=rows // 10)
    latency = float(workers.env["KCP_SANDBOX_LATENCY"])
    ideal = rows * latency / (2 * settings.KCP_BULK_CONCURRENCY)
    print(
        f"\ncelery proof: {rows} rows, {tasks} chunks, 2 workers x {settings.KCP_BULK_CONCURRENCY} calls, "
        f"L={latency}s: workers ready in {ready - started:.1f}s, run took {finished - ready:.1f}s "
        f"(N*L/C={ideal:.2f}s); calls per worker {sorted(by_worker.values())}; database={connection.vendor}"
    )


def test_a_worker_killed_mid_run_loses_nothing_and_repeats_nothing(workers: Workers, tmp_path: Path) -> None:
    rows = int(os.environ.get("KCP_PROOF_KILL_ROWS", "800"))
    bulk = make_run(rows, "killed")
    doomed = workers.start("w1@host-a")
    workers.wait_ready()
    enqueue_bulk(bulk)
    try:
        # Kill host-a once it is well into the run: it has calls in flight at any moment from then on.
        deadline = time.monotonic() + 120
        while sum(call.pid == doomed.pid for call in read_calls(call_log(tmp_path))) < rows // 20:
            assert time.monotonic() < deadline, workers.tails()
            time.sleep(0.02)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        killed_at = time.monotonic()
        # host-b takes over once host-a's calls can no longer be running (the merchant's TIMEOUT and
        # the in-flight margin, seconds in these settings): it finds their rows PENDING and past it.
        in_flight = settings.KCP_MERCHANTS["default"]["OPTIONS"]["TIMEOUT"] + settings.KCP_IN_FLIGHT_MARGIN
        time.sleep(max(0.0, killed_at + in_flight - time.monotonic()))
        survivor = workers.start("w2@host-b")
        wait_finished(bulk, workers, timeout=600)
        finished = time.monotonic()
    finally:
        workers.stop()

    items = BulkVerificationItem.objects.filter(bulk=bulk)
    assert not items.filter(finished_at__isnull=True).exists()
    assert not items.exclude(error="").exists(), list(items.exclude(error="").values_list("error", flat=True)[:5])
    starts = read_starts(call_log(tmp_path))
    sent = Counter(ordr_idxx for ordr_idxx, _ in starts)
    assert max(sent.values()) == 1, "a row was sent twice"
    # Rows host-a had claimed (their PENDING row committed) while waiting for a free call slot were
    # never sent: like the ones in flight, they wait for kcp_reconcile.
    never_sent = set(items.values_list("ordr_idxx", flat=True)) - set(sent)
    ended = {call.ordr_idxx for call in read_calls(call_log(tmp_path))}
    cut_short = {ordr_idxx for ordr_idxx, pid in starts if ordr_idxx not in ended}
    assert cut_short, "no call was in flight when host-a was killed"
    assert {pid for ordr_idxx, pid in starts if ordr_idxx in cut_short} == {doomed.pid}
    assert Counter(pid for _, pid in starts)[survivor.pid] > 0

    # Rows whose call was in flight have no answer: the run marked them UNKNOWN, saying why, and
    # never sent them again.
    assert not AccountVerification.objects.filter(state="PENDING").exists()
    open_rows = set(AccountVerification.objects.filter(state="UNKNOWN").values_list("ordr_idxx", flat=True))
    assert cut_short | never_sent <= open_rows
    assert open_rows - never_sent <= {ordr_idxx for ordr_idxx, pid in starts if pid == doomed.pid}
    reasons = set(AccountVerification.objects.filter(state="UNKNOWN").values_list("failure_reason", flat=True))
    assert reasons == {LOST_CALL}
    (progress,) = [run for run in recent_progress(RefundRequest) if run.pk == bulk.pk]
    assert progress.done == rows
    assert progress.counts.unknown == len(open_rows)
    assert progress.counts.verified + progress.counts.rejected == rows - len(open_rows)

    # kcp_reconcile settles them, once each, with the sandbox's own verdict.
    reconcile_log = Path(settings.KCP_MERCHANTS["default"]["OPTIONS"]["CALL_LOG"])
    reconcile_log.unlink(missing_ok=True)
    call_command("kcp_reconcile", "--older-than", "0", stdout=io.StringIO())
    assert Counter(items.values_list("verification__state", flat=True)) == expected_states(rows)
    again = Counter(ordr_idxx for ordr_idxx, _ in read_starts(reconcile_log))
    assert set(again) == open_rows
    assert max(again.values()) == 1
    print(
        f"\ncelery fault proof: {rows} rows; host-a killed with {len(cut_short)} calls in flight "
        f"and {len(never_sent)} claimed but not sent ({len(open_rows)} rows UNKNOWN); "
        f"host-b finished the run {finished - killed_at:.1f}s later; kcp_reconcile settled {len(open_rows)}; "
        "no row sent twice by the run"
    )
