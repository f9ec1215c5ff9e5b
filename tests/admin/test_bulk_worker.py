"""1,000 rows through real ``db_worker`` processes: all final, each asked of KCP exactly once, and
about as fast as the bound on concurrent calls allows.

Its own CI step (PostgreSQL), not part of the default suite::

    KCP_BULK_WORKER_PROOF=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        pytest --ds tests.bulk_worker.settings tests/admin/test_bulk_worker.py -s

``KCP_PROOF_ROWS`` (1000), ``KCP_PROOF_WORKERS`` (2), ``KCP_BULK_CONCURRENCY`` (4 per worker) and
``KCP_SANDBOX_LATENCY`` (0.5 s, about a real KCP round trip) shape the run; C is workers x
concurrency. Wall time runs from starting the workers (their start-up included) to their exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from kcp_django.admin.bulk import start_bulk
from kcp_django.admin.sources import AccountSource
from kcp_django.admin.tasks import enqueue_bulk
from kcp_django.models import AccountVerification, BulkVerificationItem
from tests.bulk_worker.gateways import most_in_flight, read_calls
from tests.shopapp.models import RefundRequest
from tests.support.admin import account_number

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("KCP_BULK_WORKER_PROOF"),
        reason="the bulk worker proof is its own CI step: KCP_BULK_WORKER_PROOF=1 pytest --ds "
        "tests.bulk_worker.settings tests/admin/test_bulk_worker.py",
    ),
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
#: Wall time may exceed N·L/C by this factor (worker start-up, database work, the last chunk's tail).
ALLOWED_OVERHEAD = 1.25


def test_a_thousand_rows_end_final_with_one_gateway_call_each() -> None:
    if "django_tasks_db" not in settings.INSTALLED_APPS:
        pytest.skip("needs --ds tests.bulk_worker.settings (django-tasks-db's database backend)")
    rows = int(os.environ.get("KCP_PROOF_ROWS", "1000"))
    workers = int(os.environ.get("KCP_PROOF_WORKERS", "2"))
    options = settings.KCP_MERCHANTS["default"]["OPTIONS"]
    latency = float(options["SANDBOX_LATENCY"])
    per_worker = settings.KCP_BULK_CONCURRENCY
    concurrency = workers * per_worker
    call_log = Path(options["CALL_LOG"])
    call_log.unlink(missing_ok=True)

    # One row in ten names an account the sandbox does not know: those end REJECTED.
    RefundRequest.objects.bulk_create(
        RefundRequest(
            order_number=f"R{n:05d}",
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
        confirmation_token="proof" + "x" * 27,
        merchant="default",
        in_background=True,
    )
    enqueue_bulk(bulk)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.bulk_worker.settings",
        "KCP_WORKER_TEST_DATABASE": str(connection.settings_dict["NAME"]),
        "KCP_CALL_LOG": str(call_log),
        "KCP_SANDBOX_LATENCY": str(latency),
        "KCP_BULK_CONCURRENCY": str(per_worker),
    }
    command = [sys.executable, "-m", "django", "db_worker", "--batch", "--no-startup-delay", "--interval", "0"]
    ideal = rows * latency / concurrency
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [*command, "--no-reload", "--worker-id", f"proof-{n}", "-v0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(workers)
    ]
    outputs = [process.communicate(timeout=ideal * 4 + 120)[0] for process in processes]
    wall = time.monotonic() - started

    assert [p.returncode for p in processes] == [0] * workers, outputs
    items = BulkVerificationItem.objects.filter(bulk=bulk)
    assert items.count() == rows
    assert not items.filter(finished_at__isnull=True).exists(), "items left waiting"
    assert not items.exclude(error="").exists(), list(items.exclude(error="").values_list("error", flat=True)[:5])
    states = Counter(items.values_list("verification__state", flat=True))
    assert states == {"VERIFIED": rows - rows // 10, "REJECTED": rows // 10}
    assert AccountVerification.objects.count() == rows
    assert items.values("verification").distinct().count() == rows

    calls = read_calls(call_log)
    called = Counter(call.ordr_idxx for call in calls)
    assert len(calls) == rows
    assert set(called) == set(items.values_list("ordr_idxx", flat=True)), "lost items"
    assert max(called.values()) == 1, "an item was sent twice"
    assert most_in_flight(calls) <= concurrency
    for pid in {call.pid for call in calls}:
        assert most_in_flight([call for call in calls if call.pid == pid]) <= per_worker
    busy = max(call.ended for call in calls) - min(call.started for call in calls)
    bulk.refresh_from_db()
    assert bulk.finished_at is not None

    print(
        f"\nbulk worker proof: N={rows} L={latency}s C={concurrency} ({workers} workers x {per_worker}) "
        f"N*L/C={ideal:.2f}s wall={wall:.2f}s ratio={wall / ideal:.3f} (calls running {busy:.2f}s, "
        f"ratio {busy / ideal:.3f}) gateway calls={len(calls)} lost=0 duplicated=0 "
        f"database={connection.vendor}"
    )
    assert wall <= ALLOWED_OVERHEAD * ideal
