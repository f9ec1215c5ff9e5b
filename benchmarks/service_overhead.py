"""Row 2: ``verify_refund_account`` with a 0-latency sandbox against a bare model insert."""

from __future__ import annotations

import itertools

from django.db import connection
from django.test.utils import CaptureQueriesContext

from benchmarks.measure import Row, alternate
from kcp_django.crypto import blind_index, last_four
from kcp_django.models import AccountVerification
from kcp_django.verifications import verify_refund_account

ACCOUNT = "123456789012"


def run(*, repetitions: int, calls: int) -> Row:
    counter = itertools.count()

    def through_service() -> None:
        verify_refund_account(
            bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", ordr_idxx=f"BENCH-S-{next(counter)}"
        )

    index = blind_index("04", ACCOUNT)

    def bare_insert() -> None:
        AccountVerification.objects.create(
            ordr_idxx=f"BENCH-B-{next(counter)}",
            bank_code="04",
            account_no=ACCOUNT,
            account_index=index,
            account_last4=last_four(ACCOUNT),
            owner_nm="홍길동",
            state="VERIFIED",
            res_cd="0000",
        )

    service, bare = alternate(through_service, bare_insert, repetitions=repetitions, calls=calls)
    queries = [_queries_per_call(through_service, n) for n in (1, 10)]
    return Row(
        name="service overhead",
        metric="seconds per call (service / bare insert)",
        candidate=service,
        baseline=bare,
        target="queries per verification constant",
        passed=queries[0] == queries[1],
        details={"queries_per_verification_at_1": queries[0], "queries_per_verification_at_10": queries[1]},
    )


def _queries_per_call(function: object, calls: int) -> float:
    assert callable(function)
    with CaptureQueriesContext(connection) as captured:
        for _ in range(calls):
            function()
    return len(captured.captured_queries) / calls
