"""Bad input answered 400 with the error shape, never a crash."""

from __future__ import annotations

from typing import Any

import pytest

from kcp_django.api.parsers import MAX_DEPTH
from kcp_django.gateways.sandbox import outbox
from tests.support.api import VERIFICATIONS, client_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 100_000 + "]" * 100_000, id="arrays-past-the-recursion-limit"),
        pytest.param('{"a": ' * 100_000 + "1" + "}" * 100_000, id="objects-past-the-recursion-limit"),
        pytest.param("[" * 100_000, id="unclosed"),
        pytest.param(
            '{"bank_code": "04", "account_no": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}",
            id="one-level-past-the-limit-inside-a-field",
        ),
    ],
)
def test_deeply_nested_json_is_a_parse_error_not_a_crash(customer: Any, body: str) -> None:
    response = client_for(customer).generic("POST", VERIFICATIONS, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "parse_error",
        "message": "요청 본문을 읽을 수 없습니다. JSON 객체로 보내 주세요.",
    }
    assert len(outbox) == 0


def test_nesting_up_to_the_limit_is_read_and_judged_field_by_field(customer: Any) -> None:
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    body = '{"bank_code": "04", "account_no": ' + nested + ', "owner_nm": "홍길동", "reference": "r-1"}'

    response = client_for(customer).generic("POST", VERIFICATIONS, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert [error["rule"] for error in response.json()["errors"]["account_no"]] == ["type"]
