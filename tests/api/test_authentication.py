"""How callers sign in to the API: session authentication unless KCP_API lists other classes."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kcp_django.gateways.sandbox import outbox
from tests.support.api import VERIFICATIONS, api_settings, client_for, request_body

pytestmark = pytest.mark.django_db(transaction=True)

SESSION = "rest_framework.authentication.SessionAuthentication"
BASIC = "rest_framework.authentication.BasicAuthentication"


def basic(username: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{username}:pw-{username}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {credentials}"}


def test_http_basic_is_refused_unless_the_project_lists_it(customer: Any) -> None:
    refused = client_for().post(VERIFICATIONS, request_body(reference="basic-1"), **basic("customer"))
    with api_settings(AUTHENTICATION_CLASSES=[SESSION, BASIC]):
        accepted = client_for().post(VERIFICATIONS, request_body(reference="basic-2"), **basic("customer"))

    assert refused.status_code == 403  # session authentication sends no WWW-Authenticate challenge
    assert refused.json()["code"] == "not_authenticated"
    assert accepted.status_code == 201
    assert len(outbox) == 1


def test_session_sign_in_works_by_default(customer: Any) -> None:
    client = client_for()
    client.login(username="customer", password="pw-customer")

    assert client.post(VERIFICATIONS, request_body()).status_code == 201
