"""Fifty concurrent requests through the API for one order number: one row, one gateway call,
no server error and no IntegrityError reaching a caller (on whatever DATABASE_URL names)."""

from __future__ import annotations

from typing import Any

import pytest

from kcp_django.gateways.sandbox import outbox
from kcp_django.models import AccountVerification
from tests.support.api import api_settings, client_for, make_user, request_body, run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 50


def test_fifty_requests_with_one_order_number_make_one_row_and_one_call() -> None:
    customer = make_user("racer")

    def send(index: int) -> tuple[int, Any]:
        response = client_for(customer).post("/kcp/verifications/", request_body(ordr_idxx="RACE-API-1"))
        return response.status_code, response.json()

    with api_settings(LIMITS={"reference": None, "user": None, "account": None}):
        results = run_concurrently(THREADS, send)

    assert all(isinstance(result, tuple) for result in results), results
    assert {status for status, _ in results} <= {201, 202}
    assert len({body["id"] for _, body in results}) == 1
    assert AccountVerification.objects.filter(ordr_idxx="RACE-API-1").count() == 1
    assert len(outbox) == 1
