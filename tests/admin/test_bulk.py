"""Bulk runs: items, chunks on the tasks framework, the bound on concurrent calls, running twice."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import django
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kcp_django.admin.bulk import run_items, start_bulk
from kcp_django.admin.sources import AccountSource
from kcp_django.admin.tasks import enqueue_bulk
from kcp_django.conf import kcp_settings
from kcp_django.gateways.sandbox import outbox
from kcp_django.models import AccountVerification, BulkVerification, BulkVerificationItem
from kcp_django.verifications.service import LOST_CALL
from tests.bulk_worker.gateways import most_in_flight, read_calls
from tests.shopapp.models import RefundRequest
from tests.support.admin import REFUND_CHANGELIST, make_refunds, make_staff, run_action
from tests.support.kit import merchants_with

pytestmark = pytest.mark.django_db(transaction=True)

REFUND_SOURCE = AccountSource(bank_code="bank_code", account_no="account_no", owner_nm="holder_name")
TASKS_PACKAGE = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
STORING_BACKEND = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}


def start(refunds: list[RefundRequest], token: str = "t" * 32, **kwargs: Any) -> BulkVerification:
    bulk, created = start_bulk(
        model=RefundRequest,
        source=REFUND_SOURCE,
        object_ids=[r.pk for r in refunds],
        confirmation_token=token,
        merchant="default",
        in_background=True,
        **kwargs,
    )
    assert created
    return bulk


def item_ids(bulk: BulkVerification) -> list[int]:
    return list(bulk.items.values_list("pk", flat=True))


@override_settings(KCP_BULK_CHUNK_SIZE=3, KCP_BULK_CONCURRENCY=2)
def test_a_run_is_queued_in_chunks_of_whole_rounds_and_every_item_ends_once() -> None:
    bulk = start(make_refunds(7))

    assert enqueue_bulk(bulk) == 2  # chunks of 4: two rounds of two concurrent calls

    bulk.refresh_from_db()
    assert bulk.finished_at is not None
    assert bulk.items.filter(verification__state="VERIFIED").count() == 7
    assert len(outbox) == 7
    assert {r.ordr_idxx for r in outbox} == set(bulk.items.values_list("ordr_idxx", flat=True))


def test_a_run_writes_its_items_a_batch_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kcp_django.admin.bulk.ITEM_BATCH_SIZE", 3)
    refunds = make_refunds(7)

    with CaptureQueriesContext(connection) as captured:
        bulk = start(refunds)

    inserts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("INSERT") and "item" in q["sql"]]
    assert len(inserts) == 3  # 3 + 3 + 1: never the whole selection in memory at once
    assert sorted(bulk.items.values_list("object_id", flat=True)) == sorted(str(r.pk) for r in refunds)
    assert bulk.items.values("ordr_idxx").distinct().count() == 7


def test_tasks_carry_item_primary_keys_only() -> None:
    refunds = make_refunds(4)
    bulk = start(refunds)

    with override_settings(TASKS=STORING_BACKEND, KCP_BULK_CHUNK_SIZE=3, KCP_BULK_CONCURRENCY=3):
        from kcp_django.admin.tasks import verify_bulk_items

        enqueue_bulk(bulk)
        backend = verify_bulk_items.get_backend()
        queued = [(result.args, result.kwargs) for result in backend.results]  # type: ignore[attr-defined]

    ids = sorted(item_ids(bulk))
    assert queued == [([ids[:3]], {}), ([ids[3:]], {})]
    assert len(outbox) == 0
    assert bulk.items.filter(finished_at__isnull=True).count() == 4


def test_calls_in_flight_never_exceed_the_concurrency(tmp_path: Path) -> None:
    calls_file = tmp_path / "calls.log"
    merchants = merchants_with(SANDBOX_LATENCY=0.05, CALL_LOG=str(calls_file))
    merchants["default"]["BACKEND"] = "tests.bulk_worker.gateways.CallLoggingSandbox"
    bulk = start(make_refunds(12))

    with override_settings(KCP_MERCHANTS=merchants):
        counts = run_items(item_ids(bulk), concurrency=3)

    calls = read_calls(calls_file)
    assert counts.verified == 12 and len(calls) == 12
    assert 2 <= most_in_flight(calls) <= 3  # in parallel, never more than the bound


def test_a_worker_reads_the_source_rows_a_batch_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kcp_django.admin.bulk.SOURCE_BATCH_SIZE", 4)
    bulk = start(make_refunds(10))

    with CaptureQueriesContext(connection) as captured:
        counts = run_items(item_ids(bulk), concurrency=1)

    source_table = f"FROM {connection.ops.quote_name(RefundRequest._meta.db_table)}"
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT") and source_table in q["sql"]]
    assert len(reads) == 3  # 4 + 4 + 2 rows: the first calls start before the last rows are read
    assert counts.verified == 10


def test_a_parallel_chunk_claims_one_row_per_call_slot_before_its_first_calls(tmp_path: Path) -> None:
    # The chunk's own thread reads (and claims) as many rows as can be in flight, so the first calls
    # wait for those alone; the preparing thread reads the rest in full batches on its own connection.
    calls_file = tmp_path / "calls.log"
    merchants = merchants_with(CALL_LOG=str(calls_file))
    merchants["default"]["BACKEND"] = "tests.bulk_worker.gateways.CallLoggingSandbox"
    bulk = start(make_refunds(20))

    with override_settings(KCP_MERCHANTS=merchants), CaptureQueriesContext(connection) as captured:
        counts = run_items(item_ids(bulk), concurrency=3)

    source_table = f"FROM {connection.ops.quote_name(RefundRequest._meta.db_table)}"
    queries = [q["sql"] for q in captured.captured_queries]
    (read,) = [sql for sql in queries if sql.startswith("SELECT") and source_table in sql]
    (listed,) = re.findall(r" IN \(([^)]*)\)", read)
    assert len(listed.split(",")) == 3
    assert counts.verified == 20 and len(read_calls(calls_file)) == 20


def test_a_worker_reads_only_the_columns_the_source_names() -> None:
    bulk = start(make_refunds(3))

    with CaptureQueriesContext(connection) as captured:
        counts = run_items(item_ids(bulk), concurrency=1)

    source_table = f"FROM {connection.ops.quote_name(RefundRequest._meta.db_table)}"
    (read,) = [
        q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT") and source_table in q["sql"]
    ]
    assert connection.ops.quote_name("holder_name") in read
    assert connection.ops.quote_name("order_number") not in read  # a column the source never reads
    assert counts.verified == 3


def test_a_source_path_naming_a_property_reads_whole_rows() -> None:
    refunds = make_refunds(3)
    source = AccountSource(
        bank_code="bank_code", account_no="account_no", owner_nm="holder_name", reference="reference"
    )
    bulk, _ = start_bulk(
        model=RefundRequest,
        source=source,
        object_ids=[r.pk for r in refunds],
        confirmation_token="p" * 32,
        merchant="default",
        in_background=True,
    )

    counts = run_items(item_ids(bulk), concurrency=1)

    assert counts.verified == 3
    references = set(AccountVerification.objects.values_list("reference", flat=True))
    assert references == {f"refund-{r.pk}" for r in refunds}  # RefundRequest.reference, a property


def test_a_row_that_cannot_be_read_midway_is_skipped_and_the_rest_still_run() -> None:
    refunds = make_refunds(9)
    bulk = start(refunds)
    RefundRequest.objects.filter(pk=refunds[4].pk).delete()

    counts = run_items(item_ids(bulk), concurrency=3)

    assert (counts.verified, counts.skipped) == (8, 1)
    assert bulk.items.filter(finished_at__isnull=True).count() == 0
    assert bulk.items.get(object_id=str(refunds[4].pk)).error == "source row no longer exists"


def test_a_run_whose_rows_cannot_be_read_at_all_fails_loudly_and_leaves_its_items_for_the_next_run() -> None:
    bulk = start(make_refunds(40))
    # The source model went away (its app removed) between queueing the run and running it.
    BulkVerification.objects.filter(pk=bulk.pk).update(source_model="shopapp.removedmodel")

    with pytest.raises(LookupError):
        run_items(item_ids(bulk), concurrency=3)

    assert bulk.items.filter(finished_at__isnull=True).count() == 40  # the task fails and is run again
    assert AccountVerification.objects.count() == 0  # nothing was claimed, nothing sent
    assert len(outbox) == 0


def test_running_an_item_again_never_asks_kcp_again() -> None:
    bulk = start(make_refunds(3))
    run_items(item_ids(bulk))
    assert len(outbox) == 3

    assert run_items(item_ids(bulk)).total == 0  # finished items are left alone
    # A worker that died after KCP answered but before the item was marked: the item runs again.
    first = BulkVerificationItem.objects.order_by("pk").first()
    assert first is not None and first.verification is not None
    BulkVerificationItem.objects.filter(pk=first.pk).update(finished_at=None, verification=None)
    counts = run_items([first.pk])

    assert counts.verified == 1
    assert len(outbox) == 3
    first.refresh_from_db()
    assert AccountVerification.objects.count() == 3
    assert first.verification is not None and first.verification.ordr_idxx == first.ordr_idxx


def test_a_row_whose_call_can_no_longer_be_running_ends_unknown_and_a_younger_one_waits() -> None:
    bulk = start(make_refunds(2))
    run_items(item_ids(bulk))
    assert len(outbox) == 2
    # Both rows' worker died during the call: PENDING, their items not marked. One was written
    # before its merchant's TIMEOUT plus the in-flight margin, the other just now.
    old, young = BulkVerificationItem.objects.order_by("pk")
    written_at = timezone.now()
    long_ago = written_at - dt.timedelta(seconds=kcp_settings.merchant().timeout) - kcp_settings.IN_FLIGHT_MARGIN
    for item, created_at in ((old, long_ago - dt.timedelta(seconds=1)), (young, written_at)):
        AccountVerification.objects.filter(ordr_idxx=item.ordr_idxx).update(
            state="PENDING", res_cd="", completed_at=None, created_at=created_at
        )
    BulkVerificationItem.objects.update(finished_at=None, verification=None)

    counts = run_items(item_ids(bulk))

    assert counts.unknown == 2 and len(outbox) == 2  # neither is sent again
    lost = AccountVerification.objects.get(ordr_idxx=old.ordr_idxx)
    assert (lost.state, lost.failure_reason) == ("UNKNOWN", LOST_CALL)
    assert AccountVerification.objects.get(ordr_idxx=young.ordr_idxx).state == "PENDING"
    assert BulkVerificationItem.objects.filter(finished_at__isnull=True).count() == 0


@override_settings(KCP_IN_FLIGHT_MARGIN=dt.timedelta(hours=1))
def test_the_in_flight_margin_is_a_setting() -> None:
    bulk = start(make_refunds(1))
    run_items(item_ids(bulk))
    (item,) = BulkVerificationItem.objects.all()
    ten_minutes_ago = timezone.now() - dt.timedelta(minutes=10)
    AccountVerification.objects.update(state="PENDING", res_cd="", completed_at=None, created_at=ten_minutes_ago)
    BulkVerificationItem.objects.update(finished_at=None, verification=None)

    run_items([item.pk])

    assert AccountVerification.objects.get().state == "PENDING"


def test_a_row_deleted_before_its_turn_is_skipped_and_the_run_still_finishes() -> None:
    refunds = make_refunds(2)
    bulk = start(refunds)
    RefundRequest.objects.filter(pk=refunds[0].pk).delete()

    counts = run_items(item_ids(bulk))

    assert (counts.verified, counts.skipped) == (1, 1)
    assert BulkVerificationItem.objects.get(object_id=str(refunds[0].pk)).error == "source row no longer exists"
    bulk.refresh_from_db()
    assert bulk.finished_at is not None


@override_settings(KCP_BULK_TASK_BACKEND="nowhere")
def test_items_that_cannot_be_queued_are_marked_rather_than_left_waiting() -> None:
    bulk = start(make_refunds(2))

    with pytest.raises(Exception, match="nowhere"):
        enqueue_bulk(bulk)

    errors = list(bulk.items.values_list("error", flat=True))
    assert len(errors) == 2 and all(error.startswith("not queued: InvalidTaskBackend") for error in errors)
    bulk.refresh_from_db()
    assert bulk.finished_at is not None
    assert len(outbox) == 0


def test_the_same_token_starts_one_run() -> None:
    refunds = make_refunds(2)
    first = start(refunds, token="a" * 32)

    again, created = start_bulk(
        model=RefundRequest,
        source=REFUND_SOURCE,
        object_ids=[r.pk for r in refunds],
        confirmation_token="a" * 32,
        merchant="default",
        in_background=True,
    )

    assert not created and again.pk == first.pk
    assert BulkVerificationItem.objects.count() == 2


@override_settings(KCP_ADMIN_BULK_THRESHOLD=2, TASKS=STORING_BACKEND)
def test_while_a_worker_has_not_run_the_list_shows_the_rows_queued() -> None:
    refunds = make_refunds(3)
    staff = make_staff("staff", "shopapp.view_refundrequest", "kcp_django.verify_refund_account")
    client = Client()
    client.force_login(staff)

    run_action(client, REFUND_CHANGELIST, [r.pk for r in refunds])
    page = client.get(reverse(REFUND_CHANGELIST)).content.decode()

    assert len(outbox) == 0
    assert 'data-running="true"' in page
    assert 'data-done="0"' in page and 'data-queued="3"' in page
    assert "kcp_django/bulk_progress.js" in page


@override_settings(KCP_ADMIN_BULK_THRESHOLD=1, KCP_BULK_TASK_BACKEND="nowhere")
def test_the_admin_says_so_when_rows_cannot_be_queued() -> None:
    refunds = make_refunds(2)
    staff = make_staff("staff", "shopapp.view_refundrequest", "kcp_django.verify_refund_account")
    client = Client()
    client.force_login(staff)

    _, done = run_action(client, REFUND_CHANGELIST, [r.pk for r in refunds])

    messages = [str(m) for m in done.wsgi_request._messages]
    assert any("대기열에 넣지 못했습니다" in m for m in messages), messages
    assert len(outbox) == 0


@pytest.mark.parametrize("value", [0, -1, "8", True])
def test_a_broken_concurrency_setting_is_named(value: object) -> None:
    with (
        override_settings(KCP_BULK_CONCURRENCY=value),
        pytest.raises(ImproperlyConfigured, match="KCP_BULK_CONCURRENCY"),
    ):
        _ = kcp_settings.BULK_CONCURRENCY
