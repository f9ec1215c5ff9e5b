"""The threads a bulk run keeps from one chunk to the next (kcp_django.admin.crew)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from kcp_django.admin.bulk import run_items, start_bulk
from kcp_django.admin.crew import run_together
from kcp_django.admin.sources import AccountSource
from tests.shopapp.models import RefundRequest
from tests.support.admin import make_refunds


def test_jobs_that_wait_on_each_other_all_start_at_once() -> None:
    first_started, second_started = threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        first_started.set()
        seen.append(second_started.wait(timeout=10))

    def second() -> None:
        second_started.set()
        seen.append(first_started.wait(timeout=10))

    # More jobs than any idle thread: each still gets a thread of its own at once.
    run_together([first, second, first, second])()

    assert seen == [True] * 4


def test_an_error_a_job_lets_escape_is_logged_and_its_thread_serves_again(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("escaped")

    run_together([broken])()
    done: list[str] = []
    run_together([lambda: done.append("ran")])()

    assert done == ["ran"]
    assert "a bulk run's thread met an error it did not expect" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_with_the_default_conn_max_age_a_chunk_leaves_no_connection_open() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("counts the server's sessions on PostgreSQL")
    bulk, _ = start_bulk(
        model=RefundRequest,
        source=AccountSource(bank_code="bank_code", account_no="account_no", owner_nm="holder_name"),
        object_ids=[r.pk for r in make_refunds(12)],
        confirmation_token="c" * 32,
        merchant="default",
        in_background=True,
    )

    counts = run_items(bulk.items.values_list("pk", flat=True), concurrency=4)

    assert counts.verified == 12
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        (sessions,) = cursor.fetchone()
    assert sessions == 1  # this test's own: the run's threads closed theirs (CONN_MAX_AGE = 0)
