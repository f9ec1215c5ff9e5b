"""KCP's virtual-account deposit notice (TX00) through the real view and database: it records the deposit
on the registered payment it names, or is kept and flagged for staff."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from kcp_django.models import KcpNotice, Payment
from kcp_django.payments import register_payment
from tests.notices.notice_support import post, result_of

pytestmark = pytest.mark.django_db(transaction=True)

TNO = "20261127000601"
PAID = 25_000


def tx00(**changes: str) -> dict[str, str]:
    """KCP's deposit notice for the payment TNO, with ``changes`` applied."""
    fields = {
        "site_cd": "T0000",
        "tno": TNO,
        "order_no": "KCPD-ORDER-1",
        "tx_cd": "TX00",
        "tx_tm": "20261130120000",
        "ipgm_name": "홍길동",
        "remitter": "홍길동",
        "ipgm_mnyx": str(PAID),
        "bank_code": "04",
        "account": "56211234567890",
        "op_cd": "00",
        "noti_id": "1",
    }
    fields.update(changes)
    return fields


@pytest.fixture
def payment() -> Payment:
    return register_payment(tno=TNO, amount=PAID, reference="ORDER-1")


def test_a_deposit_notice_records_the_deposit_on_its_payment(payment: Payment) -> None:
    answer = post(tx00())

    assert result_of(answer) == "0000"
    notice = KcpNotice.objects.get()
    assert (notice.matched, notice.needs_review, notice.review_reason) == (True, False, "")
    payment.refresh_from_db()
    assert payment.deposit_notice == notice
    assert payment.deposited_at is not None
    assert notice.fields["account"] == "********7890" and notice.fields["ipgm_name"] == "홍*동"


@pytest.mark.parametrize("amount", ["24999", "25001", "", "25,000"])
def test_another_amount_is_stored_and_flagged_and_records_nothing(payment: Payment, amount: str) -> None:
    assert result_of(post(tx00(ipgm_mnyx=amount))) == "0000"

    notice = KcpNotice.objects.get()
    assert (notice.matched, notice.needs_review) == (False, True)
    assert f"does not match the amount of payment {TNO} (25000 won)" in notice.review_reason
    assert notice.review_reason.startswith(f"ipgm_mnyx {amount or '(none)'} ")
    payment.refresh_from_db()
    assert (payment.deposited_at, payment.deposit_notice) == (None, None)


def test_a_deposit_of_a_payment_nobody_registered_is_stored_and_flagged() -> None:
    assert result_of(post(tx00())) == "0000"

    notice = KcpNotice.objects.get()
    assert (notice.matched, notice.needs_review) == (False, True)
    assert notice.review_reason == f"no registered payment of tno {TNO} for site_cd T0000"
    assert not Payment.objects.exists()


def test_a_payment_of_another_site_code_is_not_this_notices() -> None:
    default = settings.KCP_MERCHANTS["default"]
    other = {**default, "OPTIONS": {**default["OPTIONS"], "SITE_CD": "T0001"}}
    with override_settings(KCP_MERCHANTS={**settings.KCP_MERCHANTS, "other": other}):
        theirs = register_payment(tno=TNO, amount=PAID, reference="ORDER-1", merchant="other")

        assert result_of(post(tx00())) == "0000"

    notice = KcpNotice.objects.get()
    assert notice.needs_review and "for site_cd T0000" in notice.review_reason
    theirs.refresh_from_db()
    assert theirs.deposited_at is None


def test_a_second_deposit_notice_of_a_paid_payment_is_flagged_and_the_first_stays(payment: Payment) -> None:
    assert result_of(post(tx00())) == "0000"
    first = KcpNotice.objects.get()

    assert result_of(post(tx00(tx_tm="20261130130000", noti_id="2"))) == "0000"

    second = KcpNotice.objects.exclude(pk=first.pk).get()
    assert (second.matched, second.needs_review) == (False, True)
    assert second.review_reason == f"the deposit of payment {TNO} was already recorded by an earlier notice"
    payment.refresh_from_db()
    assert payment.deposit_notice == first


def test_the_same_deposit_notice_sent_again_is_one_row_and_no_review(payment: Payment) -> None:
    answers = [post(tx00()), post(tx00())]

    assert [result_of(answer) for answer in answers] == ["0000", "0000"]
    notice = KcpNotice.objects.get()
    assert (notice.matched, notice.needs_review) == (True, False)


def test_a_deposit_notice_without_a_tno_is_flagged(payment: Payment) -> None:
    fields: dict[str, Any] = tx00()
    del fields["tno"]

    assert result_of(post(fields)) == "0000"

    notice = KcpNotice.objects.get()
    assert notice.needs_review and notice.review_reason == "the notice has no tno"
