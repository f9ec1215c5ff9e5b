"""kcp_reconcile: stuck PENDING/UNKNOWN rows are retried once per run within the cap, or handed to staff."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kcp_django.gateways.sandbox import outbox
from kcp_django.maintenance.reconcile import ReconcileReport, reconcile, retry_verification
from kcp_django.management.durations import duration
from kcp_django.models import AccountVerification
from kcp_django.signals import verification_finished
from kcp_django.verifications import verify_refund_account
from tests.support.gateways import CountingGateway
from tests.support.kit import make_fake_kit, merchants_with
from tests.support.shop import ROOT, copy_of, operator_environment

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNT = "123-456-789012"
NOW = dt.timedelta(0)
EXPLODING = "tests.support.gateways.ExplodingGateway"


def unknown_row(ordr_idxx: str, account_no: str = ACCOUNT, *, minutes_ago: int = 11) -> AccountVerification:
    """An UNKNOWN row (its gateway broke) with no progress for ``minutes_ago``."""
    with override_settings(KCP_MERCHANTS=merchants_with(EXPLODING)):
        row = verify_refund_account(bank_code="04", account_no=account_no, owner_nm="홍길동", ordr_idxx=ordr_idxx)
    assert row.state == "UNKNOWN"
    AccountVerification.objects.filter(pk=row.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=minutes_ago))
    return row


def test_a_stuck_unknown_row_is_retried_with_its_own_order_number() -> None:
    row = unknown_row("STUCK-1")
    finished: list[str] = []

    def receiver(verification: AccountVerification, **kwargs: object) -> None:
        finished.append(verification.state)

    verification_finished.connect(receiver)
    try:
        report = reconcile(older_than=dt.timedelta(minutes=10))
    finally:
        verification_finished.disconnect(receiver)

    assert (report.retried, report.verified, report.marked_for_review) == (1, 1, 0)
    row.refresh_from_db()
    assert row.state == "VERIFIED" and len(row.tno) == 14
    assert [request.ordr_idxx for request in outbox] == ["STUCK-1"]
    assert row.reconcile_attempts == 1
    assert (row.claimed_by, row.claimed_until) == ("", None)
    assert "RuntimeError" in row.failure_reason, "the earlier failure stays on record"
    assert finished == ["VERIFIED"]


def test_rows_with_recent_progress_and_final_rows_are_left_alone() -> None:
    unknown_row("RECENT-1", minutes_ago=2)
    verified = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")
    rejected = verify_refund_account(bank_code="04", account_no="000-111-2222", owner_nm="홍길동")
    AccountVerification.objects.filter(pk__in=[verified.pk, rejected.pk]).update(
        updated_at=timezone.now() - dt.timedelta(days=1)
    )
    outbox.clear()

    report = reconcile(older_than=dt.timedelta(minutes=10))

    assert report.retried == 0
    assert len(outbox) == 0
    assert AccountVerification.objects.get(ordr_idxx="RECENT-1").state == "UNKNOWN"


def test_a_pending_row_whose_process_died_is_completed() -> None:
    row = unknown_row("DIED-1")
    AccountVerification.objects.filter(pk=row.pk).update(state="PENDING", failure_reason="")

    report = reconcile(older_than=NOW)

    assert (report.retried, report.verified) == (1, 1)
    assert AccountVerification.objects.get(pk=row.pk).state == "VERIFIED"


@override_settings(KCP_RECONCILE_MAX_ATTEMPTS=2)
def test_a_row_that_stays_unknown_is_marked_for_review_after_the_cap_and_then_left_alone() -> None:
    row = unknown_row("NEVER-1", account_no="999-000-1234")  # the sandbox never answers 999...

    first = reconcile(older_than=NOW)
    second = reconcile(older_than=NOW)
    third = reconcile(older_than=NOW)

    assert (first.retried, first.still_unknown, first.marked_for_review) == (1, 1, 0)
    assert (second.retried, second.still_unknown, second.marked_for_review) == (1, 1, 1)
    assert (third.retried, third.marked_for_review) == (0, 0)
    row.refresh_from_db()
    assert row.state == "UNKNOWN" and row.needs_review
    assert row.reconcile_attempts == 2
    assert "timeout" in row.failure_reason, "the reason is kept for staff"
    assert len(outbox) == 2


def test_a_pending_row_out_of_attempts_gets_a_reason_when_marked() -> None:
    row = unknown_row("NOREASON-1")
    AccountVerification.objects.filter(pk=row.pk).update(state="PENDING", failure_reason="", reconcile_attempts=3)

    report = reconcile(older_than=NOW)

    assert (report.retried, report.marked_for_review) == (0, 1)
    row.refresh_from_db()
    assert row.needs_review and row.state == "PENDING"
    assert "no stored outcome after 3 retries" in row.failure_reason


def test_running_again_at_once_does_nothing() -> None:
    for number in range(3):
        unknown_row(f"AGAIN-{number}", account_no=f"999-000-{number:04d}")

    first = reconcile(older_than=dt.timedelta(minutes=10))
    second = reconcile(older_than=dt.timedelta(minutes=10))

    assert (first.retried, first.still_unknown) == (3, 3)
    assert second.retried == 0
    assert len(outbox) == 3


def test_a_row_leased_by_another_reconciler_is_skipped_until_the_lease_runs_out() -> None:
    row = unknown_row("LEASED-1")
    AccountVerification.objects.filter(pk=row.pk).update(
        claimed_by="other-host:1:x", claimed_until=timezone.now() + dt.timedelta(minutes=1)
    )

    assert reconcile(older_than=NOW).retried == 0

    AccountVerification.objects.filter(pk=row.pk).update(claimed_until=timezone.now() - dt.timedelta(seconds=1))
    assert reconcile(older_than=NOW).verified == 1


def test_the_outcome_is_not_stored_once_the_lease_is_lost() -> None:
    row = unknown_row("LOST-1")

    with override_settings(KCP_MERCHANTS=merchants_with("tests.support.gateways.LeaseLostGateway")):
        report = reconcile(older_than=NOW)

    assert (report.retried, report.superseded, report.verified) == (1, 1, 0)
    row.refresh_from_db()
    assert row.state == "UNKNOWN", "the other reconciler owns the row now"
    assert row.claimed_by == "another-host:1:x"


def test_a_row_that_cannot_be_decrypted_goes_to_staff_with_its_id() -> None:
    row = unknown_row("TAMPERED-1")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE kcp_django_accountverification SET account_no = %s WHERE id = %s",
            ["kcp1$k1$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", row.pk],
        )

    report = reconcile(older_than=NOW)

    assert (report.retried, report.marked_for_review) == (0, 1)
    assert len(outbox) == 0
    row = AccountVerification.objects.get(pk=row.pk)  # (refresh_from_db would decrypt)
    assert row.needs_review and row.state == "UNKNOWN"
    assert f"pk={row.pk}" in row.failure_reason and "account_no" in row.failure_reason
    assert any(f"row {row.pk}" in problem for problem in report.problems)


def test_a_row_of_a_merchant_no_longer_configured_goes_to_staff() -> None:
    row = unknown_row("GONE-1")
    AccountVerification.objects.filter(pk=row.pk).update(merchant="closed-shop")

    report = reconcile(older_than=NOW)

    assert report.marked_for_review == 1
    row.refresh_from_db()
    assert row.needs_review
    assert "closed-shop" in row.failure_reason


def test_real_mode_never_retries_through_a_test_double() -> None:
    row = unknown_row("DOUBLE-1")
    real_on_sandbox = {
        "default": {
            "BACKEND": "sandbox",
            "OPTIONS": {"MODE": "real", "SITE_CD": "A52Q7", "SITE_KEY": "Zq9vX2mK7pL4sT8wR3nB6yC1_"},
        }
    }
    with override_settings(KCP_MERCHANTS=real_on_sandbox):
        report = reconcile(older_than=NOW)

    assert (report.retried, report.verified, report.marked_for_review) == (0, 0, 1)
    assert len(outbox) == 0
    row.refresh_from_db()
    assert row.state == "UNKNOWN" and row.needs_review
    assert "test double" in row.failure_reason


@pytest.mark.parametrize(("reconcilers", "stuck"), [(2, 12), (4, 24)])
def test_reconcilers_running_at_once_retry_each_row_exactly_once(reconcilers: int, stuck: int) -> None:
    rows = [unknown_row(f"PAR-{number:02d}", account_no=f"1002-333-{number:06d}") for number in range(stuck)]
    CountingGateway.calls.clear()
    CountingGateway.meeting = threading.Barrier(reconcilers, timeout=30)
    start = threading.Barrier(reconcilers)
    reports: list[object] = []

    def run() -> None:
        try:
            start.wait()
            reports.append(reconcile(older_than=NOW))
        except Exception as exc:  # collected and asserted below
            reports.append(exc)
        finally:
            connection.close()

    with override_settings(KCP_MERCHANTS=merchants_with("tests.support.gateways.CountingGateway")):
        threads = [threading.Thread(target=run) for _ in range(reconcilers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    CountingGateway.meeting = None

    assert all(isinstance(report, ReconcileReport) for report in reports), reports
    done = [report for report in reports if isinstance(report, ReconcileReport)]
    assert dict(CountingGateway.calls) == {row.ordr_idxx: 1 for row in rows}
    assert sum(report.retried for report in done) == sum(report.verified for report in done) == stuck
    assert all(report.retried > 0 for report in done), "all were in the gateway at once"
    assert set(AccountVerification.objects.values_list("state", flat=True)) == {"VERIFIED"}
    assert AccountVerification.objects.count() == stuck


def test_the_claim_skips_locked_rows_where_the_database_can() -> None:
    unknown_row("SKIP-1")

    with CaptureQueriesContext(connection) as queries:
        assert reconcile(older_than=NOW).verified == 1

    locking = [query["sql"] for query in queries if "FOR UPDATE" in query["sql"]]
    if connection.features.has_select_for_update_skip_locked:
        assert locking and all("SKIP LOCKED" in sql for sql in locking)
    elif not connection.features.has_select_for_update:
        assert locking == []  # SQLite: writers are serialised; the guarded UPDATE is the claim


def test_staff_can_retry_a_row_marked_for_review() -> None:
    row = unknown_row("REVIEWED-1")
    AccountVerification.objects.filter(pk=row.pk).update(needs_review=True, reconcile_attempts=3)

    report = retry_verification(row.pk)

    assert (report.retried, report.verified) == (1, 1)
    row.refresh_from_db()
    assert row.state == "VERIFIED" and not row.needs_review


def test_inside_the_callers_transaction_the_outcome_commits_with_it() -> None:
    row = unknown_row("COMMIT-1")

    with transaction.atomic():
        report = reconcile(older_than=NOW)

    assert report.verified == 1
    assert AccountVerification.objects.get(pk=row.pk).state == "VERIFIED"


def test_a_callers_rollback_leaves_the_row_open_for_the_next_run() -> None:
    row = unknown_row("ROLLBACK-1")

    with pytest.raises(RuntimeError), transaction.atomic():
        reconcile(older_than=NOW)
        raise RuntimeError("the caller's own work failed")

    stored = AccountVerification.objects.get(pk=row.pk)
    assert (stored.state, stored.claimed_by) == ("UNKNOWN", "")
    assert reconcile(older_than=NOW).verified == 1


def test_the_command_prints_its_counts() -> None:
    unknown_row("CMD-1")
    unknown_row("CMD-2", account_no="999-000-1234")
    out = StringIO()

    call_command("kcp_reconcile", "--older-than", "10m", stdout=out)

    assert "retried 2 (verified 1, rejected 0, still unknown 1" in out.getvalue()
    assert "marked for review 0" in out.getvalue()


@override_settings(KCP_RECONCILE_MAX_ATTEMPTS=1)
def test_rows_marked_for_review_make_the_command_exit_1_once() -> None:
    """Guards issue 18 item 6: ``kcp_reconcile`` exited 0 after marking rows for review, so cron's alert on
    a non-zero status never fired. The run that marks them exits 1 naming the count; the next run, with
    nothing new for a person, exits 0."""
    unknown_row("REVIEW-1", account_no="999-000-1234")  # the sandbox never answers 999...
    AccountVerification.objects.update(reconcile_attempts=1)
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError) as caught:
        call_command("kcp_reconcile", "--older-than", "0", stdout=out, stderr=err)

    assert caught.value.returncode == 1
    assert "1 verification(s) marked for review" in str(caught.value)
    assert "marked for review 1" in out.getvalue()
    call_command("kcp_reconcile", "--older-than", "0", stdout=StringIO(), stderr=StringIO())


def test_a_wrong_option_exits_2_like_argparse() -> None:
    with pytest.raises(CommandError) as caught:
        call_command("kcp_reconcile", "--max-attempts", "0")
    assert caught.value.returncode == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", NOW),
        ("45s", dt.timedelta(seconds=45)),
        ("10m", dt.timedelta(minutes=10)),
        ("180d", dt.timedelta(days=180)),
    ],
)
def test_durations_read_like_the_docs(text: str, expected: dt.timedelta) -> None:
    assert duration(text) == expected


@pytest.mark.parametrize("text", ["ten minutes", "10", "-5m", "1.5h", "10y"])
def test_the_command_refuses_a_bad_duration(text: str) -> None:
    with pytest.raises(CommandError, match="not a duration"):
        call_command("kcp_reconcile", f"--older-than={text}")


@pytest.mark.parametrize("value", [0, -1, "3", True, 101])
def test_a_broken_attempt_cap_is_named(value: object) -> None:
    with override_settings(KCP_RECONCILE_MAX_ATTEMPTS=value), pytest.raises(CommandError) as caught:
        call_command("kcp_reconcile")

    assert "KCP_RECONCILE_MAX_ATTEMPTS" in str(caught.value)
    assert caught.value.returncode == 4


# --- the process killed between the PENDING commit and KCP's answer ---------------------------


def _row(database: Path, ordr_idxx: str) -> dict[str, object] | None:
    with sqlite3.connect(database, timeout=5) as db:
        db.row_factory = sqlite3.Row
        found = db.execute(
            "SELECT state, tno, res_cd, reconcile_attempts FROM kcp_django_accountverification WHERE ordr_idxx = ?",
            [ordr_idxx],
        ).fetchone()
    return dict(found) if found else None


def _fake_pid(kit: Path) -> int | None:
    for log in kit.glob("log/*/*_pp_cli.log"):
        found = re.search(r"fake pp_cli pid (\d+)\] mode=hang", log.read_text("cp949", "replace"))
        if found:
            return int(found.group(1))
    return None


def _wait_for(probe: object, timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_a_process_killed_mid_call_leaves_a_pending_row_that_kcp_reconcile_completes(
    tmp_path: Path, migrated_shop: Path
) -> None:
    kit = make_fake_kit(tmp_path / "kcp")
    database = tmp_path / "shop.sqlite3"
    env = operator_environment()
    env |= {"DATABASE_URL": copy_of(migrated_shop, database), "KCP_GATEWAY": "ppcli", "KCP_HOME_DIR": str(kit)}
    manage = [sys.executable, "manage.py"]
    verify = [*manage, "kcp_verify", "--bank-code", "04", "--account-no", ACCOUNT, "--owner-nm", "홍길동"]

    shop = subprocess.Popen(
        [*verify, "--ordr-idxx", "KILLED-1"],
        cwd=ROOT,
        env={**env, "KCP_FAKE_MODE": "hang", "KCP_TIMEOUT": "120"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pp_cli_pid = None
    try:
        assert _wait_for(lambda: _row(database, "KILLED-1")) == {
            "state": "PENDING",
            "tno": "",
            "res_cd": "",
            "reconcile_attempts": 0,
        }
        pp_cli_pid = _wait_for(lambda: _fake_pid(kit))  # KCP's client is running: the call is in flight
        shop.send_signal(signal.SIGKILL)
        assert shop.wait(timeout=10) == -signal.SIGKILL
    finally:
        shop.kill()
        if isinstance(pp_cli_pid, int):  # its own process group outlives the killed shop process
            os.killpg(pp_cli_pid, signal.SIGKILL)

    assert _row(database, "KILLED-1") == {"state": "PENDING", "tno": "", "res_cd": "", "reconcile_attempts": 0}

    done = subprocess.run(
        [*manage, "kcp_reconcile", "--older-than", "0"],
        cwd=ROOT,
        env={**env, "KCP_TIMEOUT": "5"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "retried 1 (verified 1," in done.stdout
    completed = _row(database, "KILLED-1")
    assert completed is not None
    assert (completed["state"], completed["res_cd"], completed["reconcile_attempts"]) == ("VERIFIED", "0000", 1)
    assert re.fullmatch(r"\d{14}", str(completed["tno"]))
    assert "123456789012" not in done.stdout + done.stderr
