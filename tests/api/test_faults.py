"""The database failing during a request: a 503 naming it, never a 500; no crash report shows the account,
of a verification or of a refund."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models.signals import post_init, pre_save
from django.test import override_settings
from django.views.debug import ExceptionReporter

from kcp_django.gateways.sandbox import outbox, refund_outbox
from kcp_django.models import AccountVerification, AttemptCounter, Refund
from kcp_django.payments import register_payment
from kcp_django.signals import verification_finished
from tests.api_support import VERIFICATIONS, api_settings, client_for, make_user, request_body

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNT = "110-234-567890"
DIGITS = "110234567890"
NAME = "홍길동"
NO_CAPS = {"LIMITS": {"reference": None, "user": None, "account": None}}
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="an EXCLUSIVE lock is SQLite's")


# --- the database failing during a POST ------------------------------------------------------------


class Lock:
    """Another connection holding SQLite's EXCLUSIVE lock: every write of the request meets it."""

    def __enter__(self) -> Lock:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 100")  # the request's writes give up after 100 ms
        self.holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        self.holder.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.holder.execute("ROLLBACK")
        self.holder.close()
        connection.close()  # the next request gets a connection with the usual busy timeout


@sqlite_only
@pytest.mark.parametrize(
    ("kcp_api", "headers", "where"),
    [
        pytest.param({}, {"HTTP_IDEMPOTENCY_KEY": "locked-1"}, "the Idempotency-Key claim", id="claim"),
        pytest.param({}, {}, "the daily caps", id="caps"),
        pytest.param(NO_CAPS, {}, "the service's row", id="service"),
    ],
)
def test_a_locked_database_is_503_database_unavailable(
    customer: Any, kcp_api: dict[str, Any], headers: dict[str, str], where: str
) -> None:
    client = client_for(customer)
    with api_settings(**kcp_api):
        with Lock():
            response = client.post(VERIFICATIONS, request_body(), **headers)
        again = client.post(VERIFICATIONS, request_body(), **headers)

    assert response.status_code == 503, where
    assert response.json() == {
        "code": "database_unavailable",
        "message": "데이터베이스가 사용 중이거나 응답하지 않습니다. 잠시 후 다시 시도해 주세요(Retry-After 참고).",
    }
    assert response["Retry-After"] == "5"
    # Nothing reached KCP, and the same request (the same key) goes through once the database answers.
    assert again.status_code == 201
    assert len(outbox) == 1
    assert AccountVerification.objects.count() == 1


@sqlite_only
def test_a_lock_while_reading_the_session_user_is_503_too(customer: Any) -> None:
    client = client_for()
    client.login(username="customer", password="pw-customer")
    with api_settings(**NO_CAPS), Lock():
        # Reading the session waits for an EXCLUSIVE lock as a write does (outside WAL mode).
        response = client.post(VERIFICATIONS, request_body())

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert len(outbox) == 0


@sqlite_only
@override_settings(DEBUG=True)
def test_the_report_of_a_database_failure_shows_neither_account_number_nor_name(
    customer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with api_settings(**NO_CAPS), Lock(), caplog.at_level(logging.ERROR, logger="kcp_django.api"):
        response = client_for(customer).post(VERIFICATIONS, request_body(account_no=ACCOUNT, owner_nm=NAME))

    assert response.status_code == 503
    (record,) = [record for record in caplog.records if record.exc_info]
    # What Django's AdminEmailHandler (and error trackers reading the record) build from the log record.
    text = ExceptionReporter(record.request, *record.exc_info).get_traceback_text()  # type: ignore[attr-defined]
    assert "database is locked" in text
    assert "verify_normalized" in text, "the report reaches into the service, where the account is held"
    assert "********************" in text, "the variables are listed, cleansed"
    for secret in (ACCOUNT, DIGITS, NAME):
        assert secret not in text


@override_settings(DEBUG=True)
def test_a_crash_after_the_input_is_read_shows_no_account_number_or_name_on_the_debug_page(customer: Any) -> None:
    def shop_hook(**kwargs: Any) -> None:
        raise RuntimeError("a pre_save hook of the shop failed")

    pre_save.connect(shop_hook, sender=AccountVerification, dispatch_uid="test-crash")
    try:
        client = client_for(customer, raise_request_exception=False)
        response = client.post(VERIFICATIONS, request_body(account_no=ACCOUNT, owner_nm=NAME))
    finally:
        pre_save.disconnect(sender=AccountVerification, dispatch_uid="test-crash")

    page = response.content.decode()
    assert response.status_code == 500
    assert "a pre_save hook of the shop failed" in page, "Django's technical 500 page"
    assert "verify_normalized" in page and "********************" in page
    for secret in (ACCOUNT, DIGITS, NAME):
        assert secret not in page


def test_a_failing_signal_receiver_changes_no_answer(customer: Any, caplog: pytest.LogCaptureFixture) -> None:
    def shop_receiver(**kwargs: Any) -> None:
        raise RuntimeError("a receiver of the shop failed")

    verification_finished.connect(shop_receiver, dispatch_uid="test-receiver")
    try:
        with caplog.at_level(logging.ERROR, logger="kcp_django"):
            response = client_for(customer).post(VERIFICATIONS, request_body(account_no=ACCOUNT, owner_nm=NAME))
    finally:
        verification_finished.disconnect(dispatch_uid="test-receiver")

    assert response.status_code == 201
    assert response.json()["status"] == "verified"
    assert any(r.name == "kcp_django" and "receiver" in r.getMessage() and r.exc_info for r in caplog.records)


@sqlite_only
def test_a_cap_the_database_cannot_count_gives_the_idempotency_key_back(customer: Any) -> None:
    # The claim is stored, then the caps' table is gone (a botched migration): KCP was not asked, so
    # the key is free at once for the same request, rather than held for its lease.
    client = client_for(customer)
    table = AttemptCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        response = client.post(VERIFICATIONS, request_body(), HTTP_IDEMPOTENCY_KEY="caps-gone")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
    again = client.post(VERIFICATIONS, request_body(), HTTP_IDEMPOTENCY_KEY="caps-gone")

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert len(outbox) == 1


@sqlite_only
def test_reading_a_verification_from_a_locked_database_is_503_too(customer: Any) -> None:
    client = client_for(customer)
    location = client.post(VERIFICATIONS, request_body())["Location"]
    with Lock():
        response = client.get(location)

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response["Retry-After"] == "5"


# --- a refund view crashing -------------------------------------------------------------------------

REFUNDS = "/kcp/refunds/"
REFUND_TNO = "20261127000001"
REFUND_NAME = "김환불"


def refund_staff() -> Any:
    user = make_user("refund-desk", staff=True)
    wanted = ("request_refund", "view_refund")
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="kcp_django", codename__in=wanted))
    return type(user).objects.get(pk=user.pk)


@pytest.fixture(autouse=True)
def _refund_payment(db: None) -> None:
    """The payment the refunds below return (tests that verify only never look at it), none sent yet."""
    register_payment(tno=REFUND_TNO, amount=10_000, reference="ORDER-1")
    refund_outbox.clear()


def direct_vbank_refund() -> dict[str, Any]:
    return {
        "kind": "vbank-refund",
        "tno": REFUND_TNO,
        "bank_code": "04",
        "account_no": ACCOUNT,
        "owner_nm": REFUND_NAME,
    }


def assert_technical_page_hides_the_account(response: Any, message: str, frame: str) -> None:
    page = response.content.decode()
    assert response.status_code == 500
    assert message in page, "Django's technical 500 page"
    assert frame in page and "********************" in page, "the view's variables are listed, cleansed"
    for secret in (ACCOUNT, DIGITS, REFUND_NAME):
        assert secret not in page


@override_settings(DEBUG=True)
def test_a_crashing_refund_request_shows_no_account_number_or_name_on_the_debug_page() -> None:
    def shop_hook(**kwargs: Any) -> None:
        raise RuntimeError("a pre_save hook on refunds failed")

    pre_save.connect(shop_hook, sender=Refund, dispatch_uid="test-refund-crash")
    try:
        client = client_for(refund_staff(), raise_request_exception=False)
        response = client.post(REFUNDS, direct_vbank_refund())
    finally:
        pre_save.disconnect(sender=Refund, dispatch_uid="test-refund-crash")

    assert_technical_page_hides_the_account(response, "a pre_save hook on refunds failed", "_request_refund")
    assert not Refund.objects.exists() and len(refund_outbox) == 0


@override_settings(DEBUG=True)
def test_a_crash_reading_a_refund_back_shows_no_account_number_or_name_on_the_debug_page() -> None:
    staff = refund_staff()
    created = client_for(staff).post(REFUNDS, direct_vbank_refund())
    assert created.status_code == 201

    def shop_hook(**kwargs: Any) -> None:
        raise RuntimeError("a post_init hook on refunds failed")

    post_init.connect(shop_hook, sender=Refund, dispatch_uid="test-refund-read-crash")
    try:
        response = client_for(staff, raise_request_exception=False).get(created["Location"])
    finally:
        post_init.disconnect(sender=Refund, dispatch_uid="test-refund-read-crash")

    assert_technical_page_hides_the_account(response, "a post_init hook on refunds failed", "from_db")
