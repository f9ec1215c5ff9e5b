"""A shop's receiver that fails changes no answer; staff can send the signal again."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from kcp_django.models import Refund
from kcp_django.refunds import request_refund, send_signal_again
from kcp_django.signals import refund_accepted
from kcp_django.verifications import verify_refund_account
from tests.support.admin import make_staff
from tests.support.payments import ORDER, pay

pytestmark = pytest.mark.django_db(transaction=True)

REFUNDS_ADMIN = "admin:kcp_django_refund_changelist"

TNO = "20261127000701"


@pytest.fixture
def heard() -> Any:
    received: list[str] = []
    failing = {"on": True}

    def receiver(refund: Refund, **kwargs: Any) -> None:
        if failing["on"]:
            raise RuntimeError("the shop's mailer is down")
        received.append(refund.ordr_idxx)

    refund_accepted.connect(receiver, dispatch_uid="payments-signals")
    yield received, failing
    refund_accepted.disconnect(dispatch_uid="payments-signals")


def accepted_refund() -> Refund:
    pay(TNO)
    verification = verify_refund_account(
        bank_code="04", account_no="123-456-789012", owner_nm="홍길동", reference=ORDER
    )
    return request_refund(kind="escrow-cancel", tno=TNO, verification=verification)


def test_a_failing_refund_accepted_receiver_leaves_the_refund_accepted(
    heard: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="kcp_django"):
        refund = accepted_refund()

    assert refund.state == "ACCEPTED"
    assert Refund.objects.get().state == "ACCEPTED"
    assert any(r.name == "kcp_django" and "receiver" in r.getMessage() for r in caplog.records)


def test_staff_send_the_signal_again_once_the_receiver_works(heard: Any) -> None:
    received, failing = heard
    refund = accepted_refund()
    failing["on"] = False

    client = Client(headers={"accept-language": "en"})
    client.force_login(make_staff("resolver", "kcp_django.view_refund", "kcp_django.resolve_refund"))
    done = client.post(
        reverse(REFUNDS_ADMIN), {"action": "signal_again", "_selected_action": [str(refund.pk)]}, follow=True
    )

    assert received == [refund.ordr_idxx]
    assert any("Signals sent again for 1 of 1" in str(m) for m in done.context["messages"])
    assert send_signal_again(Refund.objects.get()) and received == [refund.ordr_idxx] * 2
