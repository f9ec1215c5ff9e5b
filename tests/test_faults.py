"""Fault injection: whatever breaks during a verification, the row tells the truth and nothing is lost.

Through the real pp_cli gateway (a fake kit whose ``bin/pp_cli`` is kcp-django's fake client, with
its ``KCP_FAKE_MODE`` faults), the sandbox, and a database that stops taking writes at the moment
the answer is stored. Every case counts the rows before and after: one request, one row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from kcp_django.exceptions import AnswerNotStored, KcpConfigurationError
from kcp_django.maintenance.reconcile import reconcile
from kcp_django.models import AccountVerification
from kcp_django.verifications import verify_refund_account
from tests.support import outages
from tests.support.kit import make_fake_kit, merchants_with, ppcli_merchants

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNT = "123-456-789012"
DIGITS = "123456789012"


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    return make_fake_kit(tmp_path / "kcp")


def assert_nothing_secret_in(row: AccountVerification, site_key: str) -> None:
    for text in (row.failure_reason, str(row.raw_response), row.res_msg):
        assert DIGITS not in text
        assert "홍길동" not in text
        assert site_key not in text


def verify_once(**kwargs: object) -> AccountVerification:
    before = AccountVerification.objects.count()
    row = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", **kwargs)
    assert AccountVerification.objects.count() == before + 1, "one request, one row"
    return AccountVerification.objects.get(pk=row.pk)


# (KCP_FAKE_MODE, extra environment, TIMEOUT, state, words of the stored reason)
PP_CLI_FAULTS = [
    pytest.param("hang", {}, 1, "UNKNOWN", "no answer within 1s", id="timeout"),
    pytest.param("slow", {"KCP_FAKE_SLEEP": "3"}, 1, "UNKNOWN", "no answer within 1s", id="slower-than-timeout"),
    pytest.param("crash", {}, 2, "UNKNOWN", "killed by signal SIGSEGV", id="crash"),
    pytest.param("killed", {}, 2, "UNKNOWN", "killed by signal SIGKILL", id="sigkill"),
    pytest.param("empty", {}, 2, "UNKNOWN", "KCP client error 9502", id="empty-output"),
    pytest.param("exit", {"KCP_FAKE_EXIT_STATUS": "3"}, 2, "UNKNOWN", "exited with status 3", id="exit-status"),
    pytest.param("garbage", {}, 2, "UNKNOWN", "has no res_cd", id="garbage"),
    pytest.param("undecodable", {}, 2, "UNKNOWN", "not EUC-KR/CP949", id="undecodable"),
    # 10 MiB before the answer: drained and dropped; the last line is still KCP's answer.
    pytest.param("huge", {}, 10, "VERIFIED", "", id="10MB-output"),
    # A grandchild keeps stdout open after pp_cli answered and exited: the answer counts, nothing hangs.
    pytest.param("spawn", {}, 5, "VERIFIED", "", id="grandchild-holds-pipe"),
]


@pytest.mark.parametrize(("mode", "env", "timeout", "state", "reason"), PP_CLI_FAULTS)
def test_a_pp_cli_fault_ends_in_a_truthful_state(
    kit: Path, monkeypatch: pytest.MonkeyPatch, mode: str, env: dict[str, str], timeout: int, state: str, reason: str
) -> None:
    monkeypatch.setenv("KCP_FAKE_MODE", mode)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    merchants = ppcli_merchants(kit, timeout=timeout)
    with override_settings(KCP_MERCHANTS=merchants):
        row = verify_once()

    assert row.state == state, row.failure_reason
    assert reason in row.failure_reason
    if state == "VERIFIED":
        assert len(row.tno) == 14 and row.res_cd == "0000"
    else:
        assert row.tno == ""
    assert_nothing_secret_in(row, merchants["default"]["OPTIONS"]["SITE_KEY"])


# A missing or non-executable binary is a configuration error, refused before any row exists (no
# never-sent UNKNOWN row for kcp_reconcile to retry): see tests/test_services.py. A binary that is
# there but cannot run (below) is only found out by running it, so that one still stores a row.


def test_a_missing_binary_stores_no_row_and_says_where_it_looked(tmp_path: Path) -> None:
    with (
        override_settings(KCP_MERCHANTS=ppcli_merchants(tmp_path / "no-kit")),
        pytest.raises(KcpConfigurationError, match="pp_cli not found at"),
    ):
        verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")

    assert not AccountVerification.objects.exists()


def test_a_binary_without_execute_permission_stores_no_row(tmp_path: Path) -> None:
    binary = tmp_path / "kcp" / "bin" / "pp_cli"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"#!/bin/sh\necho res_cd=0000\n")
    binary.chmod(0o644)
    with (
        override_settings(KCP_MERCHANTS=ppcli_merchants(tmp_path / "kcp")),
        pytest.raises(KcpConfigurationError, match="is not executable"),
    ):
        verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")

    assert not AccountVerification.objects.exists()


def test_a_binary_for_another_machine_is_unknown(tmp_path: Path) -> None:
    binary = tmp_path / "kcp" / "bin" / "pp_cli"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"\x7fELF\x01\x01\x01" + bytes(64))  # not runnable here: exec fails
    binary.chmod(0o755)
    with override_settings(KCP_MERCHANTS=ppcli_merchants(tmp_path / "kcp")):
        row = verify_once()

    assert row.state == "UNKNOWN"
    assert "could not start pp_cli" in row.failure_reason


def test_the_sandboxs_timeout_is_unknown() -> None:
    before = AccountVerification.objects.count()
    row = verify_refund_account(bank_code="04", account_no="999-000-1234", owner_nm="홍길동")

    assert AccountVerification.objects.count() == before + 1
    assert AccountVerification.objects.get(pk=row.pk).state == "UNKNOWN"
    assert "timeout" in row.failure_reason


# --- the database at the moment the answer is stored ------------------------------------------


@pytest.fixture
def outage_gateway() -> Iterator[None]:
    with override_settings(KCP_MERCHANTS=merchants_with("tests.support.outages.OutageGateway")):
        yield
    if outages.planned is not None:
        outages.planned.stop()
        outages.planned = None
    outages.close_all()


def test_a_brief_database_outage_while_storing_is_ridden_out(
    outage_gateway: None, caplog: pytest.LogCaptureFixture
) -> None:
    outages.planned = outages.Outage(lasting=False)

    row = verify_once()

    assert row.state == "VERIFIED"
    assert len(row.tno) == 14
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retries, "the first write met the outage"
    assert all(DIGITS not in message for message in retries)


def test_a_lasting_database_outage_leaves_a_pending_row_for_kcp_reconcile(outage_gateway: None) -> None:
    outage = outages.planned = outages.Outage(lasting=True)
    before = AccountVerification.objects.count()

    with pytest.raises(AnswerNotStored) as caught:
        verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", ordr_idxx="OUTAGE-1")
    outage.stop()

    row = AccountVerification.objects.get(ordr_idxx="OUTAGE-1")
    assert AccountVerification.objects.count() == before + 1, "the request is not lost"
    assert row.state == "PENDING"
    assert caught.value.public_id == row.public_id
    assert str(row.public_id) in str(caught.value)
    assert "stays PENDING" in str(caught.value) and "kcp_reconcile" in str(caught.value)
    assert "state=VERIFIED res_cd=0000" in str(caught.value), "the lost answer is named for the operator"
    assert DIGITS not in str(caught.value)

    with override_settings(KCP_MERCHANTS=merchants_with("sandbox")):
        report = reconcile(older_than=dt.timedelta(0))

    assert (report.retried, report.verified) == (1, 1)
    row.refresh_from_db()
    assert row.state == "VERIFIED" and len(row.tno) == 14
    assert row.reconcile_attempts == 1 and row.claimed_by == ""


def test_kcp_verify_says_the_row_stays_pending_when_the_database_is_gone(outage_gateway: None) -> None:
    outages.planned = outages.Outage(lasting=True)
    out, err = StringIO(), StringIO()

    with pytest.raises(SystemExit) as exited:
        call_command(
            "kcp_verify", "--bank-code", "04", "--account-no", ACCOUNT, "--owner-nm", "홍길동", stdout=out, stderr=err
        )
    outages.planned.stop()

    assert exited.value.code == 3
    assert "stays PENDING" in err.getvalue() and "kcp_reconcile" in err.getvalue()
    assert DIGITS not in out.getvalue() + err.getvalue()
    assert AccountVerification.objects.get().state == "PENDING"
