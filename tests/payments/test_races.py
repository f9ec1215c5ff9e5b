"""Different refunds of one payment at once, on whatever DATABASE_URL names: KCP is slow to answer,
so every request arrives while others are out. Per payment, the amounts sent never exceed what was
paid, and a full refund is never sent beside another refund."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from django.test import override_settings

from kcp_django.exceptions import RefundRefused
from kcp_django.gateways.sandbox import refund_outbox
from kcp_django.models import AccountVerification, Refund
from kcp_django.refunds import request_refund
from kcp_django.verifications import verify_refund_account
from tests.support.api import run_concurrently
from tests.support.kit import merchants_with
from tests.support.leak_guard import guard
from tests.support.payments import ORDER, PAID, pay

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNT = "123-456-789012"
TNO = "20261127000301"


@pytest.fixture(autouse=True)
def slow_kcp() -> Iterator[None]:
    refund_outbox.clear()
    with override_settings(KCP_MERCHANTS=merchants_with(SANDBOX_LATENCY=0.2)):
        yield
    refund_outbox.clear()


@pytest.fixture
def verified() -> AccountVerification:
    guard.add_account_text(ACCOUNT)
    pay(TNO)
    row = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", reference=ORDER)
    assert row.state == "VERIFIED"
    return row


def assert_within_the_payment() -> None:
    """What KCP was asked to pay for TNO, judged from the gateway's own record of calls."""
    sent = [request for request in refund_outbox if request.tno == TNO]
    full = [request for request in sent if request.amount is None]
    assert not (full and len(sent) > 1), f"a full refund was sent beside {len(sent) - 1} other(s)"
    assert sum(request.amount or 0 for request in sent) <= PAID
    stored = Refund.objects.filter(tno=TNO).exclude(state="REJECTED")
    assert len(sent) == Refund.objects.filter(tno=TNO).count(), "every stored refund was sent once, no more"
    assert sum(row.amount or 0 for row in stored) <= PAID


def test_a_full_and_a_partial_refund_at_once_send_one_of_them(verified: AccountVerification) -> None:
    def refund(index: int) -> Refund:
        if index == 0:
            return request_refund(kind="vbank-refund", tno=TNO, verification=verified)
        return request_refund(kind="vbank-refund", tno=TNO, verification=verified, amount=4000)

    results = run_concurrently(2, refund)

    assert sum(isinstance(result, Refund) for result in results) == 1, results
    assert all(isinstance(result, Refund | RefundRefused) for result in results), results
    assert len(refund_outbox) == 1
    assert_within_the_payment()


def test_two_first_partial_refunds_with_different_remaining_amounts_take_turns(verified: AccountVerification) -> None:
    def refund(index: int) -> Refund:
        return request_refund(kind="vbank-refund", tno=TNO, verification=verified, amount=6000 + index * 1000)

    results = run_concurrently(2, refund)

    accepted = [result for result in results if isinstance(result, Refund)]
    refused = [result for result in results if isinstance(result, RefundRefused)]
    assert len(accepted) == 1 and len(refused) == 1, results
    assert refused[0].rule == "amount_exceeds_remaining"  # 6,000 + 7,000 would pay out more than 10,000
    assert_within_the_payment()


def test_twenty_mixed_requests_on_one_payment_stay_within_what_was_paid(verified: AccountVerification) -> None:
    rng = random.Random(20261204)
    plans = [None if rng.random() < 0.2 else rng.choice([500, 1500, 2500, 4000]) for _ in range(20)]

    def refund(index: int) -> Refund:
        return request_refund(kind="vbank-refund", tno=TNO, verification=verified, amount=plans[index])

    results = run_concurrently(20, refund)

    unexpected = [result for result in results if not isinstance(result, Refund | RefundRefused)]
    assert unexpected == []
    assert any(isinstance(result, Refund) for result in results)
    assert_within_the_payment()
