"""POST verifications/ and GET verifications/{id}/ through the real URLconf and database."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import override_settings
from django.urls import resolve
from django.utils import translation
from rest_framework.serializers import Serializer

from kcp_django.api.serializers import SHOW_RESULT_CODE, VerificationSerializer
from kcp_django.gateways.sandbox import outbox
from kcp_django.models import AccountVerification, IdempotencyKey
from tests import database_outages
from tests.api_support import (
    VERIFICATIONS,
    api_settings,
    client_for,
    make_user,
    request_body,
)
from tests.fake_kit import merchants_with

pytestmark = pytest.mark.django_db(transaction=True)

RESPONSE_FIELDS = {
    "id",
    "status",
    "message",
    "tno",
    "app_time",
    "bank_code",
    "bank_name",
    "account_no_masked",
    "reference",
    "created_at",
}


def test_a_matching_holder_is_verified_with_201_and_a_masked_account(customer: Any) -> None:
    response = client_for(customer).post(VERIFICATIONS, request_body())

    assert response.status_code == 201
    body = response.json()
    assert set(body) == RESPONSE_FIELDS
    assert body["status"] == "verified"
    assert body["message"] == "예금주와 계좌번호가 일치하여 계좌 인증이 완료되었습니다."
    assert len(body["tno"]) == 14 and body["tno"].isdigit()
    assert body["app_time"].endswith("+09:00")
    assert (body["bank_code"], body["bank_name"]) == ("04", "국민은행")
    assert body["account_no_masked"] == "********7890"
    assert body["reference"] == "refund-1"
    assert response["Location"] == f"{VERIFICATIONS}{body['id']}/"
    assert response["Cache-Control"] == "no-store"
    assert len(outbox) == 1


def test_a_mismatching_name_is_rejected_with_201(customer: Any) -> None:
    response = client_for(customer).post(VERIFICATIONS, request_body(owner_nm="홍불일치"))

    assert response.status_code == 201
    assert response.json()["status"] == "rejected"
    assert set(response.json()) == RESPONSE_FIELDS
    assert response.json()["message"] == "계좌를 인증하지 못했습니다. 은행, 계좌번호, 예금주명을 확인해 주세요."


def test_english_is_answered_to_accept_language_en(customer: Any) -> None:
    response = client_for(customer).post(VERIFICATIONS, request_body(), HTTP_ACCEPT_LANGUAGE="en")

    assert response.json()["message"] == "The account holder and the account number match: the account is verified."
    assert response.json()["bank_name"] == "KB Kookmin Bank"
    assert response["Content-Language"] == "en"


def test_no_answer_from_kcp_is_202_with_a_location_that_shows_unknown(customer: Any) -> None:
    client = client_for(customer)

    response = client.post(VERIFICATIONS, request_body(account_no="999-000-1234"))

    assert response.status_code == 202
    assert response.json()["status"] == "unknown"
    polled = client.get(response["Location"])
    assert polled.status_code == 200
    assert polled.json()["status"] == "unknown"
    assert polled.json()["id"] == response.json()["id"]
    assert polled["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("ko", "예금주명에 쓸 수 없는 문자가 있습니다: ';'"),
        ("en", "owner_nm (account holder name) contains characters KCP does not accept: ';'"),
    ],
)
def test_a_forbidden_character_is_400_naming_the_field_and_rule(customer: Any, language: str, message: str) -> None:
    response = client_for(customer).post(VERIFICATIONS, request_body(owner_nm="홍;길동"), HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"] == {"owner_nm": [{"rule": "forbidden_character", "message": message}]}
    assert AccountVerification.objects.count() == 0
    assert len(outbox) == 0


def test_every_broken_rule_is_reported_at_once(customer: Any) -> None:
    response = client_for(customer).post(
        VERIFICATIONS, {"bank_code": "77", "account_no": "12a4", "owner_nm": 7, "ordr_idxx": "x" * 41}
    )

    errors = response.json()["errors"]
    assert response.status_code == 400
    assert {field: [e["rule"] for e in entries] for field, entries in errors.items()} == {
        "bank_code": ["unknown_bank"],
        "account_no": ["digits_only"],
        "owner_nm": ["type"],
        "ordr_idxx": ["max_length"],
        "reference": ["required"],
    }
    assert errors["reference"][0]["message"] == "참조값을 보내 주세요."


def test_missing_and_null_fields_are_required(customer: Any) -> None:
    response = client_for(customer).post(VERIFICATIONS, {"bank_code": None, "reference": "  "})

    rules = {field: [e["rule"] for e in entries] for field, entries in response.json()["errors"].items()}
    assert rules == {
        "bank_code": ["required"],
        "account_no": ["required"],
        "owner_nm": ["required"],
        "reference": ["required"],
    }


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("[1, 2]", "application/json", 400, "invalid"),
        ('"text"', "application/json", 400, "invalid"),
        ("{not json", "application/json", 400, "parse_error"),
        ("bank_code=04", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    customer: Any, body: str, content_type: str, status: int, code: str
) -> None:
    response = client_for(customer).generic("POST", VERIFICATIONS, body, content_type=content_type)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert len(outbox) == 0


def test_anonymous_callers_are_refused_without_a_gateway_call() -> None:
    response = client_for().post(VERIFICATIONS, request_body())

    assert response.status_code in (401, 403)
    assert response.json() == {"code": "not_authenticated", "message": "이 API를 사용하려면 로그인해 주세요."}
    assert len(outbox) == 0
    assert AccountVerification.objects.count() == 0


def test_session_authentication_requires_the_csrf_token(customer: Any) -> None:
    client = client_for(enforce_csrf_checks=True)
    client.login(username="customer", password="pw-customer")

    refused = client.post(VERIFICATIONS, request_body())
    client.get("/admin/login/")  # sets the CSRF cookie
    accepted = client.post(VERIFICATIONS, request_body(), HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)

    assert refused.status_code == 403
    assert refused.json() == {
        "code": "csrf_failed",
        "message": "CSRF 토큰이 없거나 올바르지 않습니다. X-CSRFToken 헤더로 보내 주세요.",
    }
    assert accepted.status_code == 201
    assert len(outbox) == 1


def test_permission_classes_come_from_settings(customer: Any) -> None:
    with api_settings(PERMISSION_CLASSES=["rest_framework.permissions.IsAdminUser"]):
        refused = client_for(customer).post(VERIFICATIONS, request_body())
        allowed = client_for(make_user("clerk", staff=True)).post(VERIFICATIONS, request_body())

    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert allowed.status_code == 201


def staff_who_may_view(username: str) -> Any:
    user = make_user(username, staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="kcp_django", codename="view_accountverification")
    )
    return type(user).objects.get(pk=user.pk)  # permissions are cached on the instance


def test_only_the_requester_or_staff_with_the_view_permission_can_read_a_verification(customer: Any) -> None:
    created = client_for(customer).post(VERIFICATIONS, request_body()).json()
    location = f"{VERIFICATIONS}{created['id']}/"

    other = client_for(make_user("other")).get(location)
    # No long run of digits in this id: Django logs the path of a 404, and the leak guard would take
    # a run of zeros for an all-zero account number that a generated test used earlier.
    missing = client_for(make_user("third")).get(f"{VERIFICATIONS}3f2a9c1e-5b7d-4e8a-9c6b-2d4f8a1e7b3c/")
    not_a_uuid = client_for(customer).get(f"{VERIFICATIONS}not-a-uuid/")
    anonymous = client_for().get(location)
    staff = client_for(staff_who_may_view("clerk")).get(location)
    owner = client_for(customer).get(location)

    assert other.status_code == 404
    assert other.json() == missing.json() == not_a_uuid.json() == {"code": "not_found", "message": "찾을 수 없습니다."}
    assert anonymous.status_code in (401, 403)
    assert staff.status_code == owner.status_code == 200
    assert owner.json() == {**created, "message": owner.json()["message"]}
    assert staff.json() == {**owner.json(), "res_cd": "0000", "res_msg": "정상처리", "reason": None}


def test_staff_without_the_view_permission_read_only_their_own_verifications(customer: Any) -> None:
    theirs = client_for(customer).post(VERIFICATIONS, request_body()).json()
    bare_staff = make_user("clerk", staff=True)
    own = client_for(bare_staff).post(VERIFICATIONS, request_body(reference="refund-2")).json()

    refused = client_for(bare_staff).get(f"{VERIFICATIONS}{theirs['id']}/")
    own_read = client_for(bare_staff).get(f"{VERIFICATIONS}{own['id']}/")
    granted = client_for(staff_who_may_view("auditor")).get(f"{VERIFICATIONS}{theirs['id']}/")

    assert refused.status_code == 404, "is_staff alone does not open other people's rows"
    assert refused.json() == {"code": "not_found", "message": "찾을 수 없습니다."}
    assert own_read.status_code == 200 and own_read.json()["id"] == own["id"]
    assert granted.status_code == 200 and granted.json()["id"] == theirs["id"]


def test_the_service_learns_the_user_and_the_client_ip(customer: Any) -> None:
    client_for(customer).post(VERIFICATIONS, request_body(), REMOTE_ADDR="203.0.113.7")

    row = AccountVerification.objects.get()
    assert row.requested_by == customer
    assert row.client_ip == "203.0.113.7"
    assert next(iter(outbox)).cust_ip == "203.0.113.7"


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(customer: Any) -> None:
    forwarded = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.9"}
    client_for(customer).post(VERIFICATIONS, request_body(reference="direct"), **forwarded)
    with api_settings(), override_settings(KCP_TRUSTED_PROXIES=["10.0.0.0/8"]):
        client_for(customer).post(VERIFICATIONS, request_body(reference="proxied"), **forwarded)

    assert AccountVerification.objects.get(reference="direct").client_ip == "10.0.0.5"
    assert AccountVerification.objects.get(reference="proxied").client_ip == "203.0.113.9"


def test_an_order_number_of_another_user_is_refused_like_a_reused_one(customer: Any) -> None:
    client = client_for(customer)
    first = client.post(VERIFICATIONS, request_body(ordr_idxx="SHOP-ORDER-1"))
    again = client.post(VERIFICATIONS, request_body(ordr_idxx="SHOP-ORDER-1"))
    reused = client.post(VERIFICATIONS, request_body(ordr_idxx="SHOP-ORDER-1", account_no="110-234-000001"))
    foreign = client_for(make_user("other")).post(VERIFICATIONS, request_body(ordr_idxx="SHOP-ORDER-1"))

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert reused.status_code == foreign.status_code == 409
    assert reused.json() == foreign.json()
    assert foreign.json()["code"] == "duplicate_order"
    assert len(outbox) == 1


def test_an_answer_the_database_would_not_take_leaves_a_row_to_poll(customer: Any) -> None:
    outage = database_outages.planned = database_outages.Outage(lasting=True)
    try:
        with override_settings(KCP_MERCHANTS=merchants_with("tests.database_outages.OutageGateway")):
            response = client_for(customer).post(VERIFICATIONS, request_body(), HTTP_IDEMPOTENCY_KEY="outage-1")
    finally:
        outage.stop()
        database_outages.planned = None
        database_outages.close_all()

    row = AccountVerification.objects.get()
    assert row.state == "PENDING"  # for kcp_reconcile
    assert response["Location"] == f"{VERIFICATIONS}{row.public_id}/"
    if response.status_code == 503:  # the database would not even be read
        assert response.json()["code"] == "outcome_not_stored"
        assert response["Retry-After"] == "30"
    else:  # it could be read again: the row as it stands
        assert response.status_code == 202
        assert response.json()["status"] == "pending"
    # The key stays claimed: a repeat reuses the claim's ordr_idxx and never asks KCP twice.
    assert IdempotencyKey.objects.get().ordr_idxx == row.ordr_idxx
    assert len(outbox) == 1


def test_every_state_has_its_own_message_in_both_languages(customer: Any) -> None:
    client = client_for(customer)
    accounts = {"verified": "110-234-567890", "rejected": "000-111-2222", "unknown": "999-000-1234"}
    messages: dict[str, set[str]] = {}
    for state, account in accounts.items():
        for language in ("ko", "en"):
            body = request_body(account_no=account, reference=f"{state}-{language}")
            body = client.post(VERIFICATIONS, body, HTTP_ACCEPT_LANGUAGE=language).json()
            assert body["status"] == state
            messages.setdefault(language, set()).add(body["message"])

    assert len(messages["ko"]) == len(messages["en"]) == 3
    assert not messages["ko"] & messages["en"]


def test_the_written_out_answer_equals_what_the_declared_fields_give(customer: Any) -> None:
    # The answer is built by hand for speed; the declared fields describe it in the schema. For a row
    # in every state (app_time set or empty), both must say exactly the same, in both languages. Staff
    # see every declared field; anyone else a subset of the same values.
    client = client_for(customer)
    for n, account in enumerate(("110-234-567890", "000-111-2222", "999-000-1234")):
        client.post(VERIFICATIONS, request_body(account_no=account, reference=f"same-{n}"))
    rows = list(AccountVerification.objects.order_by("pk"))
    assert {row.state for row in rows} == {"VERIFIED", "REJECTED", "UNKNOWN"}
    for language in ("ko", "en"):
        with translation.override(language):
            for row in rows:
                serializer = VerificationSerializer(row, context={SHOW_RESULT_CODE: True})
                declared = Serializer.to_representation(serializer, row)
                assert serializer.data == declared
                public = VerificationSerializer(row).data
                assert set(public) == RESPONSE_FIELDS
                if row.state != "REJECTED":
                    assert public == {name: declared[name] for name in RESPONSE_FIELDS}


def test_the_views_commit_their_own_work_even_with_atomic_requests() -> None:
    for path in (VERIFICATIONS, f"{VERIFICATIONS}x/", "/kcp/banks/"):
        assert "default" in resolve(path).func._non_atomic_requests  # type: ignore[attr-defined]


def test_atomic_requests_do_not_swallow_the_verification(customer: Any) -> None:
    with override_settings():
        connection.settings_dict["ATOMIC_REQUESTS"] = True
        try:
            response = client_for(customer).post(VERIFICATIONS, request_body())
        finally:
            connection.settings_dict["ATOMIC_REQUESTS"] = False

    assert response.status_code == 201
    assert AccountVerification.objects.filter(public_id=response.json()["id"]).exists()
