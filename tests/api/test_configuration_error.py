"""POST verifications/ when the merchant's gateway must not or cannot be used: 503 ``configuration_error``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from kcp_django.gateways.sandbox import outbox
from kcp_django.models import AccountVerification, AttemptCounter, IdempotencyKey
from tests.api_support import VERIFICATIONS, api_settings, client_for, make_user, request_body

pytestmark = pytest.mark.django_db(transaction=True)

REAL_ON_SANDBOX = {
    "default": {
        "BACKEND": "sandbox",
        "OPTIONS": {"MODE": "real", "SITE_CD": "A52Q7", "SITE_KEY": "Zq9vX2mK7pL4sT8wR3nB6yC1_"},
    }
}
PPCLI_WITHOUT_KIT = {"default": {"BACKEND": "ppcli", "OPTIONS": {"MODE": "test", "HOME_DIR": "/nonexistent/kcp"}}}


@pytest.fixture(autouse=True)
def _settings() -> Iterator[None]:
    with api_settings():
        yield


@pytest.fixture
def customer() -> Any:
    return make_user("customer")


@pytest.mark.parametrize("merchants", [REAL_ON_SANDBOX, PPCLI_WITHOUT_KIT], ids=["test-double", "no-binary"])
def test_a_misconfigured_gateway_answers_503_and_stores_nothing(
    customer: Any, merchants: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(KCP_MERCHANTS=merchants), caplog.at_level(logging.ERROR, logger="kcp_django.api"):
        response = client_for(customer).post(VERIFICATIONS, request_body())

    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "configuration_error"
    assert body["message"].startswith("계좌 인증을 사용할 수 없습니다")
    assert "Location" not in response
    assert "Retry-After" not in response, "waiting fixes nothing: someone must fix the settings"
    # The cause is for the operator: in the server's log, never in the answer.
    assert "KCP_MERCHANTS" not in response.content.decode()
    assert any("KCP_MERCHANTS['default']" in record.getMessage() for record in caplog.records)
    assert not AccountVerification.objects.exists()
    assert len(outbox) == 0


def test_the_message_is_english_on_request(customer: Any) -> None:
    with override_settings(KCP_MERCHANTS=REAL_ON_SANDBOX):
        response = client_for(customer).post(VERIFICATIONS, request_body(), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 503
    assert response.json()["message"].startswith("Account verification is unavailable")


def test_the_idempotency_key_is_free_again_once_the_settings_are_fixed(customer: Any) -> None:
    client = client_for(customer)
    with override_settings(KCP_MERCHANTS=REAL_ON_SANDBOX):
        refused = client.post(VERIFICATIONS, request_body(), HTTP_IDEMPOTENCY_KEY="refund-42")
    assert refused.status_code == 503
    assert not IdempotencyKey.objects.exists()

    answered = client.post(VERIFICATIONS, request_body(), HTTP_IDEMPOTENCY_KEY="refund-42")

    assert answered.status_code == 201
    assert answered.json()["status"] == "verified"


def test_configuration_refusals_use_up_no_daily_attempt(customer: Any) -> None:
    """Guards issue 18 item 5: three ``configuration_error`` answers raised the account, reference and
    user counters to 3, though nothing reached KCP; a cap of 1 then refused the first real attempt."""
    client = client_for(customer)
    with api_settings(LIMITS={"user": 1, "reference": 1, "account": 1}):
        with override_settings(KCP_MERCHANTS=REAL_ON_SANDBOX):
            refused = [client.post(VERIFICATIONS, request_body()).status_code for _ in range(3)]

        answered = client.post(VERIFICATIONS, request_body())

    assert refused == [503, 503, 503]
    assert answered.status_code == 201, answered.json()
    assert sorted(AttemptCounter.objects.values_list("scope", "count")) == [
        ("account", 1),
        ("reference", 1),
        ("user", 1),
    ]


def test_with_debug_off_a_merchant_without_mode_answers_503_and_stores_nothing(customer: Any) -> None:
    # A production server whose environment forgot KCP_MODE must not verify on the sandbox.
    no_mode = {"default": {"BACKEND": "sandbox", "OPTIONS": {}}}
    with override_settings(DEBUG=False, KCP_MERCHANTS=no_mode):
        response = client_for(customer).post(VERIFICATIONS, request_body())

    assert response.status_code == 503
    assert response.json()["code"] == "configuration_error"
    assert not AccountVerification.objects.exists()
    assert len(outbox) == 0
