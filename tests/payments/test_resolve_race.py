"""Staff resolving a refund while KCP is still answering: no answer is lost, no payment is freed."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from kcp_django.exceptions import RefundRefused
from kcp_django.models import AccountVerification, Payment, Refund
from kcp_django.refunds import request_refund, resolve_refund
from kcp_django.verifications import verify_refund_account
from tests.support.admin import make_staff
from tests.support.gateways import HeldRefundGateway
from tests.support.kit import merchants_with
from tests.support.payments import ORDER, pay

pytestmark = pytest.mark.django_db(transaction=True)

TNO = "20261127000501"


@pytest.fixture
def verified() -> AccountVerification:
    pay(TNO)
    return verify_refund_account(bank_code="04", account_no="123-456-789012", owner_nm="홍길동", reference=ORDER)


@pytest.fixture
def kcp_answering(verified: AccountVerification) -> Iterator[dict[str, Any]]:
    """A refund sent in another thread, held at KCP until the test releases the answer."""
    HeldRefundGateway.entered.clear()
    HeldRefundGateway.release.clear()
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["refund"] = request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
        except BaseException as exc:  # reported to the test
            outcome["error"] = exc
        finally:
            connection.close()

    with override_settings(KCP_MERCHANTS=merchants_with("tests.support.gateways.HeldRefundGateway")):
        thread = threading.Thread(target=send)
        thread.start()
        assert HeldRefundGateway.entered.wait(timeout=30)
        yield outcome
        HeldRefundGateway.release.set()
        thread.join(timeout=30)


def test_a_refund_still_being_sent_cannot_be_resolved(kcp_answering: dict[str, Any]) -> None:
    pending = Refund.objects.get()

    with pytest.raises(RefundRefused) as refused:
        resolve_refund(pending, accepted=False, note="KCP 관리자 화면에 없음")

    assert refused.value.rule == "still_being_sent"
    pending.refresh_from_db()
    assert pending.state == "PENDING" and pending.slot_key is not None


def test_a_late_answer_is_kept_and_the_payment_stays_held(
    kcp_answering: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    pending = Refund.objects.get()
    # The call has hung past the merchant's timeout: staff may resolve it, and find nothing in KCP's admin yet.
    Refund.objects.filter(pk=pending.pk).update(created_at=timezone.now() - dt.timedelta(minutes=10))
    pending.refresh_from_db()
    assert resolve_refund(pending, accepted=False, note="KCP 관리자 화면에 아직 없음")

    with caplog.at_level(logging.ERROR, logger="kcp_django.refunds"):
        HeldRefundGateway.release.set()
        for _ in range(300):
            if "refund" in kcp_answering or "error" in kcp_answering:
                break
            threading.Event().wait(0.1)

    stored = Refund.objects.get()
    assert stored.state == "REJECTED", "the staff's resolution stands"
    assert stored.late_answer["res_cd"] == "0000" and stored.late_answer["state"] == "ACCEPTED"
    assert stored.needs_review
    assert any("still answering" in record.getMessage() for record in caplog.records)
    payment = Payment.objects.get(tno=TNO)
    assert payment.remaining == 0, "a refund KCP may have paid still holds the payment"
    with pytest.raises(RefundRefused):
        request_refund(
            kind="vbank-refund", tno=TNO, bank_code="04", account_no="110-987-654321", owner_nm="김환불", amount=100
        )


def test_the_admin_says_a_refund_in_flight_is_still_being_sent(kcp_answering: dict[str, Any]) -> None:
    pending = Refund.objects.get()
    client = Client(headers={"accept-language": "en"})
    client.force_login(make_staff("resolver", "kcp_django.view_refund", "kcp_django.resolve_refund"))

    done = client.post(
        reverse("admin:kcp_django_refund_changelist"),
        {"action": "resolve_rejected", "_selected_action": [str(pending.pk)]},
        follow=True,
    )

    assert any("still being sent" in str(message) for message in done.context["messages"])
    pending.refresh_from_db()
    assert pending.state == "PENDING"
