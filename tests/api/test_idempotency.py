"""Idempotency-Key on POST verifications/: one answer per key, one gateway call, even when racing."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from kcp_django.api import idempotency
from kcp_django.gateways.sandbox import outbox
from kcp_django.models import AccountVerification, IdempotencyKey
from kcp_django.verifications import verify_refund_account
from tests.support.api import VERIFICATIONS, api_settings, client_for, make_user, request_body, run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("paid")]

KEY = "3f1c9a52-8d1e-4c55-9a40-1f0e6b2d7c11"


def post(client: Any, key: str = KEY, **changes: Any) -> Any:
    return client.post(VERIFICATIONS, request_body(**changes), HTTP_IDEMPOTENCY_KEY=key)


def slow_sandbox(seconds: float) -> Any:
    merchant = settings.KCP_MERCHANTS["default"]
    options = {**merchant["OPTIONS"], "SANDBOX_LATENCY": seconds}
    return override_settings(KCP_MERCHANTS={"default": {**merchant, "OPTIONS": options}})


def test_the_same_key_and_body_replay_the_first_answer(customer: Any) -> None:
    client = client_for(customer)
    first = post(client)
    again = post(client, HTTP_ACCEPT_LANGUAGE="en")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()  # the stored answer, even its language
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert len(outbox) == 1
    assert AccountVerification.objects.count() == 1


def test_a_pending_answer_is_replayed_as_202(customer: Any) -> None:
    client = client_for(customer)
    first = post(client, account_no="999-000-1234")
    again = post(client, account_no="999-000-1234")

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert len(outbox) == 1


def test_the_same_key_with_another_body_is_refused(customer: Any) -> None:
    client = client_for(customer)
    post(client)
    refused = post(client, owner_nm="김철수")

    assert refused.status_code == 422
    assert refused.json()["code"] == "idempotency_key_reused"
    assert len(outbox) == 1


def test_keys_belong_to_one_user(customer: Any) -> None:
    mine = post(client_for(customer))
    theirs = post(client_for(make_user("other")))

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert len(outbox) == 2


def test_an_expired_key_starts_afresh(customer: Any) -> None:
    client = client_for(customer)
    first = post(client)
    IdempotencyKey.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    again = post(client)

    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert again.json()["id"] != first.json()["id"]
    assert IdempotencyKey.objects.count() == 1
    assert len(outbox) == 2


def test_keys_live_for_the_configured_time(customer: Any) -> None:
    with api_settings(IDEMPOTENCY_TTL=600):
        post(client_for(customer))

    row = IdempotencyKey.objects.get()
    assert dt.timedelta(seconds=590) < row.expires_at - row.claimed_at <= dt.timedelta(seconds=600)
    assert row.key == hashlib.sha256(KEY.encode()).hexdigest()
    assert KEY not in str(row.__dict__)
    assert "110234567890" not in str(row.__dict__)  # only an HMAC of the body is kept


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "tab\there"])
def test_a_malformed_key_is_400(customer: Any, key: str) -> None:
    response = post(client_for(customer), key=key)

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert len(outbox) == 0


def test_a_refusal_before_any_answer_frees_the_key(customer: Any) -> None:
    client = client_for(customer)
    with api_settings(LIMITS={"reference": 1}):
        client.post(VERIFICATIONS, request_body())
        capped = post(client)
    allowed = post(client)

    assert capped.status_code == 429
    assert allowed.status_code == 201
    assert "Idempotent-Replayed" not in allowed


def test_a_key_still_being_answered_is_409_after_the_wait(customer: Any) -> None:
    idempotency.claim(
        user_pk=customer.pk,
        key=hashlib.sha256(KEY.encode()).hexdigest(),
        body_fingerprint=idempotency.fingerprint({**request_body(), "ordr_idxx": None}),
        ordr_idxx="CLAIMED-1",
        ttl=3600,
        wait=0,
        lease=60,
    )
    with api_settings(IDEMPOTENCY_WAIT=0):
        response = post(client_for(customer))

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_progress"
    assert response["Retry-After"] == "1"
    assert len(outbox) == 0


def test_an_abandoned_claim_is_taken_over_without_calling_kcp_again(customer: Any) -> None:
    # A worker claimed the key, asked KCP with the claim's ordr_idxx, then died before storing an answer.
    idempotency.claim(
        user_pk=customer.pk,
        key=hashlib.sha256(KEY.encode()).hexdigest(),
        body_fingerprint=idempotency.fingerprint({**request_body(), "ordr_idxx": None}),
        ordr_idxx="CLAIMED-2",
        ttl=3600,
        wait=0,
        lease=60,
    )
    verify_refund_account(ordr_idxx="CLAIMED-2", user=customer, **request_body())
    IdempotencyKey.objects.update(claimed_at=timezone.now() - dt.timedelta(seconds=61))

    with api_settings(IDEMPOTENCY_LEASE=60):
        response = post(client_for(customer))

    assert response.status_code == 201
    assert AccountVerification.objects.get().public_id.hex == response.json()["id"].replace("-", "")
    assert len(outbox) == 1
    assert IdempotencyKey.objects.get().status_code == 201


@pytest.mark.parametrize("latency", [0, 0.3])
def test_fifty_clients_sending_one_key_make_one_row_and_one_gateway_call(customer: Any, latency: float) -> None:
    clients = 50

    def send(index: int) -> tuple[int, Any, bool]:
        response = post(client_for(customer))
        return response.status_code, response.json(), "Idempotent-Replayed" in response

    with slow_sandbox(latency), api_settings(IDEMPOTENCY_WAIT=30):
        results = run_concurrently(clients, send)

    assert all(isinstance(result, tuple) for result in results), results
    assert {status for status, _, _ in results} == {201}
    assert len({body["id"] for _, body, _ in results}) == 1
    assert sorted(replayed for _, _, replayed in results) == [False] + [True] * (clients - 1)
    assert AccountVerification.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1
    assert len(outbox) == 1


def test_the_fingerprint_ignores_key_order_but_not_values() -> None:
    assert idempotency.fingerprint({"a": 1, "b": "x"}) == idempotency.fingerprint({"b": "x", "a": 1})
    assert idempotency.fingerprint({"a": 1}) != idempotency.fingerprint({"a": "1"})
