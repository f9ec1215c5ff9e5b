"""Daily caps (in the database) and rate throttles (in the cache) on POST verifications/."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from kcp_django.api import limits
from kcp_django.conf import kcp_settings
from kcp_django.gateways.sandbox import outbox
from kcp_django.models import AccountVerification, AttemptCounter
from kcp_django.timezones import KST
from tests.api_support import VERIFICATIONS, api_settings, client_for, make_user, request_body, run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 50


def account(number: int) -> str:
    return f"110-234-{number:06d}"


def assert_cap_answer(response: Any) -> None:
    assert response.status_code == 429
    assert response.json() == {
        "code": "limit_exceeded",
        "message": "계좌 인증 시도 횟수를 초과했습니다. 나중에 다시 시도해 주세요.",
    }
    assert 0 < int(response["Retry-After"]) <= 86400


def test_after_the_per_reference_cap_the_gateway_is_not_called() -> None:
    client = client_for(make_user("customer"))
    answers = [client.post(VERIFICATIONS, request_body(account_no=account(n), reference="R-1")) for n in range(5)]
    calls, rows = len(outbox), AccountVerification.objects.count()

    refused = client.post(VERIFICATIONS, request_body(account_no=account(9), reference="R-1"))

    assert [answer.status_code for answer in answers] == [201] * 5
    assert_cap_answer(refused)
    assert (len(outbox), AccountVerification.objects.count()) == (calls, rows) == (5, 5)


def test_another_customer_cannot_spend_the_attempts_of_a_reference_they_guessed() -> None:
    stranger = client_for(make_user("stranger"))
    spent = [
        stranger.post(VERIFICATIONS, request_body(account_no=account(n), reference="refund-2026-0002"))
        for n in range(6)
    ]
    owner = client_for(make_user("customer"))

    answer = owner.post(VERIFICATIONS, request_body(account_no=account(7), reference="refund-2026-0002"))

    assert [response.status_code for response in spent] == [201] * 5 + [429]
    assert answer.status_code == 201
    assert answer.json()["status"] == "verified"


def test_anonymous_callers_if_allowed_have_the_reference_cap_per_address() -> None:
    with api_settings(PERMISSION_CLASSES=["rest_framework.permissions.AllowAny"], LIMITS={"reference": 2}):
        spent = [
            client_for().post(
                VERIFICATIONS, request_body(account_no=account(n), reference="R-1"), REMOTE_ADDR="198.51.100.1"
            )
            for n in range(3)
        ]
        elsewhere = client_for().post(
            VERIFICATIONS, request_body(account_no=account(8), reference="R-1"), REMOTE_ADDR="198.51.100.2"
        )

    assert [response.status_code for response in spent] == [201, 201, 429]
    assert elsewhere.status_code == 201


def only_references_named_after_the_caller(request: Any, reference: str) -> bool:
    """A ``REFERENCE_OWNER_CHECK`` for these tests: ``<username>-...`` belongs to that user."""
    return bool(request.user.is_authenticated and reference.startswith(f"{request.user.username}-"))


OWNER_CHECK = f"{__name__}.only_references_named_after_the_caller"


def test_a_reference_the_owner_check_refuses_is_403_and_stores_nothing() -> None:
    client = client_for(make_user("stranger"))
    with api_settings(REFERENCE_OWNER_CHECK=OWNER_CHECK):
        refused = client.post(VERIFICATIONS, request_body(reference="customer-refund-2"), HTTP_IDEMPOTENCY_KEY="key-1")
        own = client.post(VERIFICATIONS, request_body(reference="stranger-refund-9"), HTTP_IDEMPOTENCY_KEY="key-1")

    assert refused.status_code == 403
    assert refused.json() == {
        "code": "reference_not_allowed",
        "message": "이 참조값으로는 인증할 수 없습니다. 본인 주문의 환불 페이지에서 계좌를 인증해 주세요.",
    }
    assert own.status_code == 201  # the refusal claimed nothing, not even the Idempotency-Key
    assert (len(outbox), AccountVerification.objects.count()) == (1, 1)
    assert set(AttemptCounter.objects.values_list("count", flat=True)) == {1}  # the refusal counted nowhere
    assert AccountVerification.objects.get().reference == "stranger-refund-9"


def test_the_owner_check_must_be_a_dotted_path() -> None:
    with (
        override_settings(KCP_API={"REFERENCE_OWNER_CHECK": ["shop.api.owns_reference"]}),
        pytest.raises(ImproperlyConfigured, match="REFERENCE_OWNER_CHECK"),
    ):
        _ = kcp_settings.API


def test_a_refused_attempt_uses_up_nothing_else() -> None:
    user = make_user("customer")
    client = client_for(user)
    with api_settings(LIMITS={"reference": 1}):
        client.post(VERIFICATIONS, request_body(reference="R-1"))
        assert_cap_answer(client.post(VERIFICATIONS, request_body(account_no=account(2), reference="R-1")))

    assert limits.attempts_today("user", f"user:{user.pk}") == 1
    assert AttemptCounter.objects.filter(scope="account").order_by("count").values_list("count", flat=True)[0] == 0


def test_the_per_user_cap_counts_every_reference_and_account() -> None:
    client = client_for(make_user("customer"))
    with api_settings(LIMITS={"user": 3}):
        answers = [
            client.post(VERIFICATIONS, request_body(account_no=account(n), reference=f"R-{n}")) for n in range(4)
        ]
        other_user = client_for(make_user("other")).post(VERIFICATIONS, request_body(reference="R-9"))

    assert [answer.status_code for answer in answers[:3]] == [201] * 3
    assert_cap_answer(answers[3])
    assert other_user.status_code == 201


def test_the_per_account_cap_spans_users_and_spellings_of_the_number() -> None:
    spellings = [("04", "110-234-567890"), ("4", "110234567890"), ("06", "110 234 567890")]  # 06 merged into 04
    with api_settings(LIMITS={"account": 3}):
        answers = [
            client_for(make_user(f"user{n}")).post(
                VERIFICATIONS, request_body(bank_code=bank, account_no=number, reference=f"R-{n}")
            )
            for n, (bank, number) in enumerate(spellings)
        ]
        refused = client_for(make_user("late")).post(VERIFICATIONS, request_body(reference="R-late"))
        other_bank = client_for(make_user("late2")).post(VERIFICATIONS, request_body(bank_code="88", reference="R-x"))

    assert [answer.status_code for answer in answers] == [201] * 3
    assert_cap_answer(refused)
    assert other_bank.status_code == 201


def test_a_scope_set_to_none_is_not_capped() -> None:
    client = client_for(make_user("customer"))
    with api_settings(LIMITS={"reference": None, "account": None}):
        answers = [client.post(VERIFICATIONS, request_body()) for _ in range(7)]

    assert {answer.status_code for answer in answers} == {201}
    assert not AttemptCounter.objects.filter(scope__in=["reference", "account"]).exists()


def test_the_per_account_cap_holds_exactly_under_concurrent_requests() -> None:
    users = [make_user(f"racer{n}") for n in range(THREADS)]

    def attempt(index: int) -> int:
        body = request_body(reference=f"R-{index}")
        return int(client_for(users[index]).post(VERIFICATIONS, body).status_code)

    statuses = run_concurrently(THREADS, attempt)

    assert sorted(statuses) == [201] * 5 + [429] * (THREADS - 5), statuses
    assert len(outbox) == 5
    assert AccountVerification.objects.count() == 5
    assert list(AttemptCounter.objects.filter(scope="account").values_list("count", flat=True)) == [5]


def test_several_caps_are_taken_all_or_nothing_under_concurrency() -> None:
    caps = [limits.Cap("account", "shared-account", 10), limits.Cap("reference", "shared-reference", 5)]

    def attempt(index: int) -> str:
        try:
            limits.take_attempt(caps)
        except limits.CapReached as exc:
            return exc.scope
        return "taken"

    results = run_concurrently(THREADS, attempt)

    assert sorted(results) == ["reference"] * (THREADS - 5) + ["taken"] * 5, results
    counts = dict(AttemptCounter.objects.values_list("scope", "count"))
    assert counts == {"account": 5, "reference": 5}


def test_counters_start_over_at_midnight_korean_time() -> None:
    cap = [limits.Cap("user", "user:1", 1)]
    evening = dt.datetime(2026, 11, 27, 23, 59, 30, tzinfo=KST)

    limits.take_attempt(cap, now=evening)
    with pytest.raises(limits.CapReached) as caught:
        limits.take_attempt(cap, now=evening)
    limits.take_attempt(cap, now=evening + dt.timedelta(seconds=31))

    assert caught.value.retry_after == 30
    assert limits.seconds_until_reset(dt.datetime(2026, 11, 27, 14, 59, 59, tzinfo=dt.UTC)) == 1
    with override_settings(TIME_ZONE="America/New_York"):  # clocks go forward at 2:00 on 8 March 2026
        half_past_midnight = dt.datetime(2026, 3, 8, 5, 30, tzinfo=dt.UTC)
        assert limits.seconds_until_reset(half_past_midnight) == 22 * 3600 + 1800


def test_prune_deletes_the_counters_of_past_days() -> None:
    today = dt.date(2026, 11, 27)
    AttemptCounter.objects.create(scope="user", key="a", day=today - dt.timedelta(days=2), count=3)
    AttemptCounter.objects.create(scope="user", key="a", day=today, count=1)

    assert limits.prune(before=today) == 1
    assert list(AttemptCounter.objects.values_list("day", flat=True)) == [today]


def test_the_rate_throttle_answers_429_with_retry_after() -> None:
    client = client_for(make_user("customer"))
    with api_settings(THROTTLE_RATES={"kcp_verify": "2/min"}):
        answers = [client.post(VERIFICATIONS, request_body(reference=f"R-{n}")) for n in range(3)]
        polled = client.get(answers[0]["Location"])

    assert [answer.status_code for answer in answers] == [201, 201, 429]
    assert answers[2].json() == {"code": "throttled", "message": "요청이 너무 많습니다. 잠시 후 다시 시도해 주세요."}
    assert 0 < int(answers[2]["Retry-After"]) <= 60
    assert polled.status_code == 200  # reads have their own rate
    assert len(outbox) == 2


def test_anonymous_callers_are_throttled_by_their_ip() -> None:
    with api_settings(THROTTLE_RATES={"kcp_read": "1/min"}):
        first = client_for().get("/kcp/banks/", REMOTE_ADDR="198.51.100.1")
        second = client_for().get("/kcp/banks/", REMOTE_ADDR="198.51.100.1")
        elsewhere = client_for().get("/kcp/banks/", REMOTE_ADDR="198.51.100.2")

    assert (first.status_code, second.status_code, elsewhere.status_code) == (200, 429, 200)


def test_anonymous_callers_if_allowed_are_capped_by_their_ip() -> None:
    with api_settings(PERMISSION_CLASSES=["rest_framework.permissions.AllowAny"], LIMITS={"user": 2}):
        answers = [
            client_for().post(VERIFICATIONS, request_body(reference=f"R-{n}"), REMOTE_ADDR="198.51.100.1")
            for n in range(3)
        ]
        elsewhere = client_for().post(VERIFICATIONS, request_body(reference="R-x"), REMOTE_ADDR="198.51.100.2")
        keyed = client_for().post(VERIFICATIONS, request_body(reference="R-y"), HTTP_IDEMPOTENCY_KEY="k-1")
        polled = client_for().get(answers[0]["Location"], REMOTE_ADDR="198.51.100.1")

    assert [answer.status_code for answer in answers] == [201, 201, 429]
    assert elsewhere.status_code == 201
    assert keyed.status_code == 400
    assert keyed.json()["code"] == "idempotency_key_needs_user"
    assert polled.status_code == 404  # nobody can show that an anonymous caller asked
    assert AccountVerification.objects.filter(requested_by=None).count() == 3
