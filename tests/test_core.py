"""The one core every call to KCP goes through: set-up before a row, one reading of answers, robust signals."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db.models import F
from django.test import override_settings
from django.utils import timezone

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


def _pending_row() -> AccountVerification:
    row = verify_refund_account(**ACCOUNT)
    AccountVerification.objects.filter(pk=row.pk).update(state=VerificationState.PENDING, res_cd="")
    return AccountVerification.objects.get(pk=row.pk)


def test_the_guarded_write_lands_only_while_the_guard_holds() -> None:
    row = _pending_row()
    moment = timezone.now()
    answer = {"state": VerificationState.VERIFIED, "res_cd": "0000", "raw_response": {"res_cd": "0000"}}

    written = core.guarded_update(
        AccountVerification, row.pk, {**answer, "completed_at": moment}, {"state": "PENDING"}, using="default"
    )
    again = core.guarded_update(AccountVerification, row.pk, answer, {"state": "PENDING"}, using="default")

    stored = AccountVerification.objects.get(pk=row.pk)
    assert (written, again) == (1, 0)
    assert (stored.state, stored.res_cd, stored.raw_response, stored.completed_at) == (
        VerificationState.VERIFIED,
        "0000",
        {"res_cd": "0000"},
        moment,
    )


def test_a_write_of_the_values_already_there_still_counts_as_landed() -> None:
    # MariaDB counts changed rows unless the connection asks for matched ones: a store that
    # landed must never read as "someone moved the row first".
    row = _pending_row()
    same = {"state": VerificationState.PENDING, "res_cd": ""}

    assert core.guarded_update(AccountVerification, row.pk, same, {"state": "PENDING"}, using="default") == 1


@pytest.mark.parametrize(
    ("guard", "lands"),
    [
        ({"state": ("PENDING", "UNKNOWN")}, True),
        ({"state": ("UNKNOWN",), "claimed_by": ""}, False),
        ({"state": "PENDING", "claimed_until": None}, True),
        ({"state": "PENDING", "claimed_by": "kcp_reconcile@elsewhere"}, False),
    ],
)
def test_every_entry_of_the_guard_must_hold(guard: core.Guard, lands: bool) -> None:
    row = _pending_row()

    written = core.guarded_update(AccountVerification, row.pk, {"res_msg": "checked"}, guard, using="default")

    assert written == int(lands)
    assert AccountVerification.objects.get(pk=row.pk).res_msg == ("checked" if lands else row.res_msg)


@pytest.mark.parametrize(
    ("values", "guard", "problem"),
    [
        ({"res_cd": F("res_msg")}, {"state": "PENDING"}, "query expression"),
        ({"res_cd": "0000"}, {"state": ()}, "allows no value"),
        ({"no_such_column": "x"}, {"state": "PENDING"}, "no field named"),
    ],
)
def test_a_guarded_write_it_cannot_make_exactly_is_refused(
    values: dict[str, Any], guard: core.Guard, problem: str
) -> None:
    row = _pending_row()

    with pytest.raises((TypeError, ValueError, FieldDoesNotExist), match=problem):
        core.guarded_update(AccountVerification, row.pk, values, guard, using="default")

    assert AccountVerification.objects.get(pk=row.pk).state == VerificationState.PENDING
