"""The service end to end on the real database, with the embedded sandbox."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from kcp_django.exceptions import DuplicateOrderError, InvalidRequest, KcpConfigurationError
from kcp_django.gateways.base import VerificationRequest
from kcp_django.gateways.sandbox import OUTBOX_SIZE, outbox
from kcp_django.models import AccountVerification
from kcp_django.signals import verification_finished
from kcp_django.validation import NormalizedInput, normalize
from kcp_django.verifications import Claim, claim_many, send_claimed, verify_refund_account
from tests.support.gateways import ObservingGateway
from tests.support.kit import make_fake_kit, merchants_with, ppcli_merchants

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNT = "123-456-789012"
DIGITS = "123456789012"


def test_a_matching_holder_is_verified_with_kcps_answer_stored() -> None:
    row = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", reference="order-1")

    stored = AccountVerification.objects.get(pk=row.pk)
    assert stored.state == "VERIFIED"
    assert stored.res_cd == "0000"
    assert stored.res_msg == "정상처리"
    assert len(stored.tno) == 14 and stored.tno.isdigit()
    assert stored.app_time is not None and stored.app_time.utcoffset() is not None
    assert abs(stored.app_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert stored.account_no == DIGITS
    assert stored.account_no_masked == "********9012"
    assert stored.reference == "order-1"
    assert stored.completed_at is not None
    assert len(outbox) == 1


@pytest.mark.parametrize(
    ("account_no", "owner_nm", "state", "res_cd"),
    [
        ("000-111-2222", "홍길동", "REJECTED", "8105"),
        ("123-456-789012", "홍불일치", "REJECTED", "8104"),
        ("999-000-1234", "홍길동", "UNKNOWN", ""),
    ],
)
def test_each_sandbox_outcome_ends_in_the_documented_state(
    account_no: str, owner_nm: str, state: str, res_cd: str
) -> None:
    row = verify_refund_account(bank_code="88", account_no=account_no, owner_nm=owner_nm)

    stored = AccountVerification.objects.get(pk=row.pk)
    assert (stored.state, stored.res_cd) == (state, res_cd)
    assert stored.tno == ""
    if state == "UNKNOWN":
        assert "timeout" in stored.failure_reason


def test_bad_input_stores_nothing_and_calls_no_gateway() -> None:
    with pytest.raises(InvalidRequest) as caught:
        verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동,")

    assert [e.field for e in caught.value.errors] == ["owner_nm"]
    assert AccountVerification.objects.count() == 0
    assert len(outbox) == 0


@pytest.mark.parametrize("client_ip", ["1.2.3.4&res_cd=0000;x|y<z>", "203.0.113.7 extra", "fe80::1%eth0"])
def test_a_client_ip_that_is_not_an_address_stores_nothing_and_calls_no_gateway(client_ip: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", client_ip=client_ip)

    assert [(e.field, e.rule) for e in caught.value.errors] == [("client_ip", "ip_address")]
    assert AccountVerification.objects.count() == 0
    assert len(outbox) == 0


def test_an_unknown_client_ip_is_stored_as_none_and_sent_empty() -> None:
    row = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", client_ip="")

    assert AccountVerification.objects.get(pk=row.pk).client_ip is None
    assert next(iter(outbox)).cust_ip == ""


def test_merged_bank_codes_are_stored_as_the_current_bank() -> None:
    row = verify_refund_account(bank_code="26", account_no=ACCOUNT, owner_nm="홍길동")

    assert row.bank_code == "88"


def test_the_same_order_number_twice_is_answered_once() -> None:
    first = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", ordr_idxx="ORDER-1")
    second = verify_refund_account(bank_code="4", account_no=DIGITS, owner_nm=" 홍길동 ", ordr_idxx="ORDER-1")

    assert second.pk == first.pk
    assert second.tno == first.tno
    assert len(outbox) == 1
    assert AccountVerification.objects.count() == 1


def test_a_verification_is_two_writes_and_no_lookup() -> None:
    # The pending row goes in first and its answer over it; an order number seen before is found by
    # the unique constraint, not by a query before every call.
    with CaptureQueriesContext(connection) as captured:
        verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", ordr_idxx="ORDER-W")

    statements = [query["sql"].split(None, 1)[0].upper() for query in captured.captured_queries]
    assert statements == ["INSERT", "UPDATE"]


@pytest.mark.django_db
def test_a_repeated_order_number_inside_the_tests_transaction_leaves_it_usable() -> None:
    # Inside a test's transaction the service writes on the test's connection, each insert in a
    # savepoint: a repeat must not break that transaction.
    assert connection.in_atomic_block
    first = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", ordr_idxx="ORDER-T")
    second = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", ordr_idxx="ORDER-T")
    with pytest.raises(DuplicateOrderError):
        verify_refund_account(bank_code="04", account_no="111-222-333", owner_nm="홍길동", ordr_idxx="ORDER-T")

    assert second.pk == first.pk
    assert AccountVerification.objects.filter(ordr_idxx="ORDER-T").count() == 1
    assert len(outbox) == 1


def test_the_sandbox_outbox_keeps_the_latest_requests_only() -> None:
    # A demo shop or a load test keeps its process running: the outbox must not grow without end.
    for n in range(OUTBOX_SIZE + 2):
        outbox.append(VerificationRequest(ordr_idxx=f"OB-{n}", bank_code="04", account_no=DIGITS, owner_nm="홍길동"))

    kept = [request.ordr_idxx for request in outbox]
    assert len(kept) == OUTBOX_SIZE
    assert (kept[0], kept[-1]) == ("OB-2", f"OB-{OUTBOX_SIZE + 1}")


def test_an_order_number_reused_for_another_account_is_refused() -> None:
    verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", ordr_idxx="ORDER-2")

    with pytest.raises(DuplicateOrderError):
        verify_refund_account(bank_code="04", account_no="111-222-333", owner_nm="홍길동", ordr_idxx="ORDER-2")
    assert len(outbox) == 1


def test_racing_requests_with_one_order_number_make_one_row_and_one_call() -> None:
    threads_count = 50
    barrier = threading.Barrier(threads_count)
    results: list[object] = []

    def send() -> None:
        try:
            barrier.wait()
            row = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", ordr_idxx="RACE-1")
            results.append(row.pk)
        except Exception as exc:  # collected and asserted below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(results) == threads_count
    assert all(isinstance(pk, int) for pk in results), results
    assert len(set(results)) == 1
    assert AccountVerification.objects.filter(ordr_idxx="RACE-1").count() == 1
    assert len(outbox) == 1


def test_the_pending_row_is_committed_and_unlocked_while_the_gateway_works() -> None:
    ObservingGateway.seen.clear()
    with override_settings(KCP_MERCHANTS=merchants_with("tests.support.gateways.ObservingGateway")):
        row = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")

    assert ObservingGateway.seen == {"state": "PENDING", "wrote": True}
    assert row.state == "VERIFIED"


def test_inside_the_callers_transaction_a_user_created_there_is_recorded_on_commit() -> None:
    # PostgreSQL and MariaDB check the new row's foreign key against the caller's own new user;
    # on SQLite the caller has written, and holds the database's write lock, before verifying.
    with transaction.atomic():
        user = get_user_model().objects.create_user("new-customer", password="pw")
        row = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", user=user)
        assert row.state == "VERIFIED"

    stored = AccountVerification.objects.get()
    assert (stored.state, stored.requested_by, stored.res_cd) == ("VERIFIED", user, "0000")
    assert len(outbox) == 1


def test_inside_the_callers_transaction_after_it_wrote_the_call_is_made_once() -> None:
    with transaction.atomic():
        get_user_model().objects.create_user("someone", password="pw")
        first = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", ordr_idxx="TXN-REPEAT")
        again = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", ordr_idxx="TXN-REPEAT")

    assert first.pk == again.pk
    assert AccountVerification.objects.filter(ordr_idxx="TXN-REPEAT").count() == 1
    assert len(outbox) == 1


def test_a_rolled_back_call_leaves_its_trail_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    user = get_user_model().objects.create_user("customer", password="pw")
    finished: list[AccountVerification] = []

    def receiver(verification: AccountVerification, **kwargs: object) -> None:
        finished.append(verification)

    verification_finished.connect(receiver)
    caplog.set_level("WARNING", logger="kcp_django.trail")
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            row = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", user=user)
            raise RuntimeError("the caller's own work failed")
    finally:
        verification_finished.disconnect(receiver)

    # The caller's rollback took the row; the trail names the paid call by its order number.
    assert not AccountVerification.objects.exists()
    assert finished == []
    trail = [record.getMessage() for record in caplog.records if record.name == "kcp_django.trail"]
    assert len(trail) == 2
    assert all(row.ordr_idxx in line for line in trail)
    assert "account=********9012" in trail[0]
    assert f"state=VERIFIED res_cd=0000 tno={row.tno}" in trail[1]
    assert DIGITS not in " ".join(trail)


def test_outside_any_transaction_the_pending_row_is_committed_before_the_call_and_no_trail_is_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("WARNING", logger="kcp_django.trail")
    ObservingGateway.seen.clear()
    with override_settings(KCP_MERCHANTS=merchants_with("tests.support.gateways.ObservingGateway")):
        verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")

    assert ObservingGateway.seen == {"state": "PENDING", "wrote": True}
    assert [record for record in caplog.records if record.name == "kcp_django.trail"] == []


def test_the_signal_is_sent_once_after_commit() -> None:
    finished: list[str] = []

    def receiver(verification: AccountVerification, **kwargs: object) -> None:
        finished.append(verification.state)

    verification_finished.connect(receiver)
    try:
        with transaction.atomic():
            verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")
            assert finished == []
    finally:
        verification_finished.disconnect(receiver)
    assert finished == ["VERIFIED"]


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        ("tests.support.gateways.ExplodingGateway", "RuntimeError"),
        ("tests.support.gateways.NoResultCodeGateway", "without res_cd"),
        ("tests.support.gateways.ClientErrorGateway", "9502"),
    ],
)
def test_a_broken_gateway_leaves_an_unknown_row_with_its_reason(backend: str, reason: str) -> None:
    with override_settings(KCP_MERCHANTS=merchants_with(backend)):
        row = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")

    stored = AccountVerification.objects.get(pk=row.pk)
    assert stored.state == "UNKNOWN"
    assert reason in stored.failure_reason
    assert DIGITS not in str(stored.raw_response)


def test_the_requesting_user_and_ip_are_kept() -> None:
    user = get_user_model().objects.create_user("buyer", password="pw")

    row = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", user=user, client_ip="10.1.2.3")

    stored = AccountVerification.objects.get(pk=row.pk)
    assert stored.requested_by == user
    assert stored.client_ip == "10.1.2.3"
    assert next(iter(outbox)).cust_ip == "10.1.2.3"


def test_no_plain_account_number_reaches_the_database() -> None:
    verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")

    with connection.cursor() as cursor:
        cursor.execute("SELECT account_no, raw_response FROM kcp_django_accountverification")
        (stored_value, raw_response) = cursor.fetchone()
    assert DIGITS not in str(stored_value)
    assert DIGITS not in str(raw_response)
    if connection.vendor == "sqlite":
        connection.close()  # flush everything to the file before reading it
        assert DIGITS.encode() not in Path(settings.DATABASES["default"]["NAME"]).read_bytes()


def test_lookups_on_the_encrypted_column_fail_clearly() -> None:
    from django.core.exceptions import FieldError

    with pytest.raises(FieldError, match=r"blind index|account_index"):
        list(AccountVerification.objects.filter(account_no=DIGITS))


# --- a gateway that must not or cannot be used: refused before anything is stored ------------

REAL_OPTIONS = {"MODE": "real", "SITE_CD": "A52Q7", "SITE_KEY": "Zq9vX2mK7pL4sT8wR3nB6yC1_"}


def test_the_configuration_error_is_an_improperly_configured() -> None:
    assert issubclass(KcpConfigurationError, ImproperlyConfigured)


@pytest.mark.parametrize("backend", ["sandbox", "tests.support.gateways.ExplodingGateway"])
def test_real_mode_refuses_a_test_double_and_stores_nothing(backend: str) -> None:
    with (
        override_settings(KCP_MERCHANTS={"default": {"BACKEND": backend, "OPTIONS": REAL_OPTIONS}}),
        pytest.raises(KcpConfigurationError, match=r"KCP_MERCHANTS\['default'\]\['BACKEND'\].*test double"),
    ):
        verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")

    assert not AccountVerification.objects.exists()
    assert len(outbox) == 0


@pytest.mark.parametrize(
    "options",
    [{}, {"HOME_DIR": "/nonexistent/kcp"}, {"BIN": "/nonexistent/pp_cli"}],
    ids=["no-home-no-bin", "missing-binary", "missing-bin"],
)
def test_pp_cli_that_could_send_nothing_is_refused_and_stores_nothing(options: dict[str, str]) -> None:
    merchants = {"default": {"BACKEND": "ppcli", "OPTIONS": {"MODE": "test", "SITE_KEY": "x" * 20, **options}}}
    with (
        override_settings(KCP_MERCHANTS=merchants),
        pytest.raises(KcpConfigurationError, match=r"KCP_MERCHANTS\['default'\]\['OPTIONS'\]"),
    ):
        verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", ordr_idxx="ORD-CFG-1")

    assert not AccountVerification.objects.exists(), "no never-sent UNKNOWN row for kcp_reconcile to retry"


def test_a_non_executable_pp_cli_is_refused_and_stores_nothing(tmp_path: Path) -> None:
    kit = make_fake_kit(tmp_path / "kcp")
    binary = kit / "bin" / "pp_cli"
    binary.unlink()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o644)
    with override_settings(KCP_MERCHANTS=ppcli_merchants(kit)), pytest.raises(KcpConfigurationError, match="chmod 755"):
        verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")

    assert not AccountVerification.objects.exists()


def test_the_fake_pp_cli_in_real_mode_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    """Guards issue 18 item 3: the fake pp_cli in real mode used to store an UNKNOWN row (and an UNKNOWN
    refund blocks its payment); the gateway's readiness check now refuses it before any row exists."""
    kit = make_fake_kit(tmp_path / "kcp")
    merchants = {"default": {"BACKEND": "ppcli", "OPTIONS": {**REAL_OPTIONS, "HOME_DIR": str(kit), "TIMEOUT": 10}}}
    with (
        override_settings(KCP_MERCHANTS=merchants),
        pytest.raises(KcpConfigurationError, match=r"fake pp_cli.*real mode"),
    ):
        verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")

    assert not AccountVerification.objects.exists()


def batch(*accounts: str) -> list[NormalizedInput]:
    return [normalize(bank_code="04", account_no=account, owner_nm="홍길동") for account in accounts]


def test_a_batch_writes_every_pending_row_in_one_insert_before_any_call() -> None:
    requests = batch(ACCOUNT, "000-111-2222")
    with CaptureQueriesContext(connection) as queries:
        claims = claim_many(requests, client_ip="203.0.113.9")

    statements = [query["sql"].split(None, 1)[0].upper() for query in queries.captured_queries]
    assert [statement for statement in statements if statement not in ("BEGIN", "COMMIT")] == ["INSERT"]
    assert len(outbox) == 0
    assert list(AccountVerification.objects.order_by("pk").values_list("ordr_idxx", "state", "client_ip")) == [
        (data.ordr_idxx, "PENDING", "203.0.113.9") for data in requests
    ]
    rows = [send_claimed(claim) for claim in claims if isinstance(claim, Claim)]

    assert [row.state for row in rows] == ["VERIFIED", "REJECTED"]
    assert [stored.state for stored in AccountVerification.objects.order_by("pk")] == ["VERIFIED", "REJECTED"]
    assert [request.ordr_idxx for request in outbox] == [data.ordr_idxx for data in requests]
    assert {request.cust_ip for request in outbox} == {"203.0.113.9"}


def test_a_batch_run_again_calls_nothing_and_names_a_reused_order_number() -> None:
    (first,) = batch(ACCOUNT)
    (claim,) = claim_many([first])
    assert isinstance(claim, Claim)
    send_claimed(claim)
    reused = normalize(bank_code="04", account_no="000-111-2222", owner_nm="홍길동", ordr_idxx=first.ordr_idxx)
    (fresh,) = batch("123-456-000001")

    again, refused, new = claim_many([first, reused, fresh])

    assert isinstance(again, Claim) and not again.created and again.row.state == "VERIFIED"
    assert isinstance(refused, DuplicateOrderError)
    assert isinstance(new, Claim) and new.created
    assert send_claimed(again).pk == claim.row.pk
    assert len(outbox) == 1  # nothing sent for the repeat
    send_claimed(new)
    assert len(outbox) == 2 and AccountVerification.objects.count() == 2


def test_a_batch_for_a_broken_merchant_stores_nothing() -> None:
    broken = override_settings(KCP_MERCHANTS=merchants_with("tests.no_such.Gateway"))
    with broken, pytest.raises(ImproperlyConfigured):
        claim_many(batch(ACCOUNT))
    assert not AccountVerification.objects.exists()
