"""Each rule that ties a refund to its payment, through every face: the service, ``kcp_refund``,
REST and the admin action. A refused refund stores nothing and sends nothing."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from kcp_django.admin.refund_action import REFUND_ACTION_NAME
from kcp_django.exceptions import RefundRefused
from kcp_django.gateways.sandbox import refund_outbox
from kcp_django.models import AccountVerification, Refund
from kcp_django.refunds import request_refund
from kcp_django.verifications import verify_refund_account
from tests.support.admin import CHANGELIST, make_staff
from tests.support.forms import inputs
from tests.support.payments import ORDER, pay

pytestmark = pytest.mark.django_db(transaction=True)  # a refund refuses to run inside a transaction

TNO = "20261127000601"
UNREGISTERED = "20261127000699"
PERMISSIONS = ("kcp_django.view_accountverification", "kcp_django.request_refund", "kcp_django.view_refund")


def by_service(verification: AccountVerification, tno: str, sender: AbstractUser) -> str:
    with pytest.raises(RefundRefused) as refused:
        request_refund(kind="escrow-cancel", tno=tno, verification=verification, user=sender)
    return refused.value.rule


def by_command(verification: AccountVerification, tno: str, sender: AbstractUser) -> str:
    out = io.StringIO()
    args = ["--kind", "escrow-cancel", "--tno", tno, "--verification", str(verification.public_id), "--json"]
    with pytest.raises(SystemExit) as ended:
        call_command("kcp_refund", *args, "--skip-checks", stdout=out, stderr=io.StringIO())
    assert ended.value.code == 2
    answer: dict[str, Any] = json.loads(out.getvalue())
    return str(answer["rule"])


def by_rest(verification: AccountVerification, tno: str, sender: AbstractUser) -> str:
    client = Client()
    client.force_login(sender)
    body = {"kind": "escrow-cancel", "tno": tno, "verification": str(verification.public_id)}
    response = client.post("/kcp/refunds/", body, content_type="application/json")
    assert response.status_code == 409, response.content
    return str(response.json()["code"])


def by_admin(verification: AccountVerification, tno: str, sender: AbstractUser) -> str:
    client = Client(headers={"accept-language": "en"})
    client.force_login(sender)
    page1 = client.post(
        reverse(CHANGELIST), {"action": REFUND_ACTION_NAME, "_selected_action": [str(verification.pk)], "index": "0"}
    )
    data = inputs(page1)
    data.update({"kcp_refund-kind": "escrow-cancel", "kcp_refund-tno": tno})
    page2 = client.post(reverse(CHANGELIST), data)
    page = page2.content.decode() + client.post(reverse(CHANGELIST), inputs(page2)).content.decode()
    for rule, words in RULE_WORDS.items():
        if words in page:
            return rule
    raise AssertionError("the admin showed no refusal: " + page[-2000:])


#: What the admin says for each rule (it shows the message, not the rule's id).
RULE_WORDS = {
    "payment_unknown": "is registered for this merchant",
    "account_not_for_payment": "was not verified for this payment",
    "verification_mode": "another site code or mode",
}

FACES: dict[str, Callable[[AccountVerification, str, AbstractUser], str]] = {
    "service": by_service,
    "command": by_command,
    "rest": by_rest,
    "admin": by_admin,
}


@pytest.fixture
def staff() -> AbstractUser:
    return make_staff("refunder", *PERMISSIONS)


def verified(reference: str = ORDER, user: AbstractUser | None = None) -> AccountVerification:
    return verify_refund_account(
        bank_code="04", account_no="123-456-789012", owner_nm="홍길동", reference=reference, user=user
    )


def assert_nothing_stored_or_sent() -> None:
    assert not Refund.objects.exists()
    assert len(refund_outbox) == 0


@pytest.mark.parametrize("face", FACES)
def test_a_payment_nobody_registered_is_refused(face: str, staff: AbstractUser) -> None:
    verification = verified()
    refund_outbox.clear()

    assert FACES[face](verification, UNREGISTERED, staff) == "payment_unknown"
    assert_nothing_stored_or_sent()


@pytest.mark.parametrize("face", FACES)
def test_an_account_verified_for_another_order_is_refused(face: str, staff: AbstractUser) -> None:
    pay(TNO)
    verification = verified(reference="ORDER-2")
    refund_outbox.clear()

    assert FACES[face](verification, TNO, staff) == "account_not_for_payment"
    assert_nothing_stored_or_sent()


@pytest.mark.parametrize("face", ["service", "rest", "admin"])  # the command line names no user
def test_no_one_refunds_into_an_account_they_entered_themselves(face: str, staff: AbstractUser) -> None:
    pay(TNO)
    verification = verified(user=staff)  # staff typed the account in, not the payer
    refund_outbox.clear()

    assert FACES[face](verification, TNO, staff) == "account_not_for_payment"
    assert_nothing_stored_or_sent()
    # Another member of staff may.
    colleague = make_staff("colleague", *PERMISSIONS)
    assert request_refund(kind="escrow-cancel", tno=TNO, verification=verification, user=colleague).state == "ACCEPTED"


@pytest.mark.parametrize("face", FACES)
def test_a_verification_of_another_site_or_mode_is_refused(face: str, staff: AbstractUser) -> None:
    pay(TNO)
    verification = verified()
    AccountVerification.objects.filter(pk=verification.pk).update(site_cd="T0007")
    verification.refresh_from_db()
    refund_outbox.clear()

    assert FACES[face](verification, TNO, staff) == "verification_mode"
    assert_nothing_stored_or_sent()
