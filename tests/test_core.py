"""The one core every call to KCP goes through: set-up before a row, one reading of answers, robust signals."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import override_settings

from kcp_django import core
from kcp_django.core import Verdict
from kcp_django.exceptions import KcpConfigurationError
from kcp_django.gateways.base import GatewayResult
from kcp_django.gateways.sandbox import outbox
from kcp_django.models import AccountVerification, VerificationState
from kcp_django.signals import verification_finished
from kcp_django.verifications import verify_refund_account
from tests.support.kit import merchants_with

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNT = {"bank_code": "04", "account_no": "123-456-789012", "owner_nm": "홍길동"}


def answer(res_cd: str, res_msg: str = "") -> GatewayResult:
    return GatewayResult.from_fields({"res_cd": res_cd, "res_msg": res_msg, "tno": "20261204000001"})


@pytest.mark.parametrize(
    ("res_cd", "operation", "verdict"),
    [
        ("0000", "verify", Verdict.ACCEPTED),
        ("0000", "refund", Verdict.ACCEPTED),
        ("8999", "verify", Verdict.REJECTED),  # the guide's own example of KCP saying no
        ("8999", "refund", Verdict.UNKNOWN),  # no refund code is sourced as a verdict: it must not free a payment
        ("9502", "verify", Verdict.UNKNOWN),  # pp_cli's empty output: made up locally
        ("S202", "refund", Verdict.UNKNOWN),  # could not connect: made up locally
        ("6003", "refund", Verdict.UNKNOWN),
        ("", "verify", Verdict.UNKNOWN),
    ],
)
def test_kcp_answers_read_through_one_table(res_cd: str, operation: core.Operation, verdict: Verdict) -> None:
    outcome = core.classify(answer(res_cd, "메시지"), operation)

    assert outcome.verdict is verdict
    assert bool(outcome.failure_reason) is (verdict is Verdict.UNKNOWN)


def test_a_provider_table_that_lists_its_refusals_reads_any_other_code_as_no_verdict() -> None:
    sandbox = core.ANSWER_CODES["sandbox"]

    assert core.classify(answer("8801"), "refund", sandbox).verdict is Verdict.REJECTED
    unsourced = core.classify(answer("7777", "?"), "refund", sandbox)
    assert unsourced.verdict is Verdict.UNKNOWN
    assert "7777" in unsourced.failure_reason


def test_a_gateway_that_fails_to_start_leaves_no_row_and_sends_nothing() -> None:
    with (
        override_settings(KCP_MERCHANTS=merchants_with("tests.support.gateways.BrokenAtStartGateway")),
        pytest.raises(KcpConfigurationError, match="could not be set up"),
    ):
        verify_refund_account(**ACCOUNT)

    assert AccountVerification.objects.count() == 0


def test_a_gateway_naming_an_unknown_answer_table_is_refused_before_a_row() -> None:
    with (
        override_settings(KCP_MERCHANTS=merchants_with("tests.support.gateways.UnlistedCodesGateway")),
        pytest.raises(KcpConfigurationError, match="no-such-provider"),
    ):
        verify_refund_account(**ACCOUNT)

    assert AccountVerification.objects.count() == 0


def test_every_receiver_runs_and_a_failing_one_changes_no_outcome(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[str] = []

    def failing(**kwargs: Any) -> None:
        raise RuntimeError("the shop's mailer is down")

    def listening(verification: AccountVerification, **kwargs: Any) -> None:
        heard.append(verification.state)

    verification_finished.connect(failing, dispatch_uid="core-failing")
    verification_finished.connect(listening, dispatch_uid="core-listening")
    try:
        with caplog.at_level(logging.ERROR, logger="kcp_django"):
            row = verify_refund_account(**ACCOUNT)
    finally:
        verification_finished.disconnect(dispatch_uid="core-failing")
        verification_finished.disconnect(dispatch_uid="core-listening")

    assert row.state == VerificationState.VERIFIED
    assert heard == [VerificationState.VERIFIED]
    (record,) = [r for r in caplog.records if r.name == "kcp_django" and "receiver" in r.getMessage()]
    assert record.exc_info is not None and "mailer is down" in str(record.exc_info[1])
    assert len(outbox) == 1
