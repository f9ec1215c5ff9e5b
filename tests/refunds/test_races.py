"""Twenty identical refunds at once make one KCP call (on whatever DATABASE_URL names).

Through the API with one ``Idempotency-Key``, and through the service without a key: every caller
gets the same refund or a clear refusal, never a server error, and KCP is asked once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import override_settings

from kcp_django.exceptions import RefundRefused
from kcp_django.gateways.sandbox import refund_outbox
from kcp_django.models import AccountVerification, Refund
from kcp_django.refunds import request_refund
from tests.support.api import api_settings, client_for, make_user, run_concurrently
from tests.support.kit import merchants_with

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("paid")]

THREADS = 20
ACCOUNT = "123-456-789012"
TNO = "20261127000201"


@pytest.fixture(autouse=True)
def slow_kcp() -> Iterator[None]:
    """KCP takes a moment to answer, so the other requests arrive while the first one is out."""
    refund_outbox.clear()
    with override_settings(KCP_MERCHANTS=merchants_with(SANDBOX_LATENCY=0.3)):
        yield
    refund_outbox.clear()


def test_twenty_api_requests_with_one_key_make_one_kcp_call(verified: AccountVerification) -> None:
    staff = make_user("racer", staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="kcp_django", codename__in=["request_refund"])
    )
    body = {"kind": "escrow-cancel", "tno": TNO, "verification": str(verified.public_id), "reason": "중복 요청"}

    def send(index: int) -> tuple[int, Any]:
        user = type(staff).objects.get(pk=staff.pk)
        response = client_for(user).post("/kcp/refunds/", body, HTTP_IDEMPOTENCY_KEY="race-refund-1")
        return response.status_code, response.json()

    with api_settings():
        results = run_concurrently(THREADS, send)

    assert all(isinstance(result, tuple) for result in results), results
    statuses = [status for status, _ in results]
    assert set(statuses) <= {200, 201, 409}, statuses
    assert statuses.count(201) == 1
    answered = {answer["id"] for status, answer in results if status != 409}
    assert len(answered) == 1
    refusals = {answer["code"] for status, answer in results if status == 409}
    assert refusals <= {"full_refund_exists", "refund_in_progress"}
    assert Refund.objects.count() == 1
    assert len(refund_outbox) == 1


def test_twenty_identical_service_calls_without_a_key_make_one_kcp_call(verified: AccountVerification) -> None:
    def refund(index: int) -> Refund:
        return request_refund(kind="escrow-refund", tno=TNO, verification=verified, reason="중복 요청")

    results = run_concurrently(THREADS, refund)

    refunds = [result for result in results if isinstance(result, Refund)]
    refused = [result for result in results if isinstance(result, RefundRefused)]
    assert len(refunds) + len(refused) == THREADS, [r for r in results if not isinstance(r, Refund | RefundRefused)]
    assert len(refunds) == 1
    assert refused and {refusal.rule for refusal in refused} <= {"full_refund_exists", "refund_in_progress"}
    assert refunds[0].state == "ACCEPTED"
    assert Refund.objects.count() == 1
    assert len(refund_outbox) == 1
