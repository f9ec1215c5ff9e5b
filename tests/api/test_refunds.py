"""``/kcp/refunds/`` as a back-office tool uses it: real database, the sandbox, Django's test client.

Every response goes through the leak scanner of :mod:`tests.support.api`: no full account number.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import override_settings

from kcp_django.gateways.sandbox import refund_outbox
from kcp_django.models import AccountVerification, Refund
from tests.support.api import api_settings, client_for, make_user
from tests.support.kit import merchants_with

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("paid")]

REFUNDS = "/kcp/refunds/"
ACCOUNT = "123-456-789012"
DIGITS = "123456789012"
TNO = "20261127000001"
TNO_NO_ANSWER = "20261127000009"
TNO_REFUSED = "20261127000008"


def staff_with(*codenames: str, username: str = "backoffice") -> Any:
    user = make_user(username, staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="kcp_django", codename__in=codenames))
    return type(user).objects.get(pk=user.pk)  # permissions are cached on the instance


@pytest.fixture
def refunder() -> Any:
    return staff_with("request_refund", "view_refund")


def body(verification: AccountVerification | None, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": "escrow-cancel", "tno": TNO, "reason": "단순 변심", "reference": "R-1"}
    if verification is not None:
        data["verification"] = str(verification.public_id)
    data.update(changes)
    return data


# Who may refund


def test_anonymous_callers_are_refused_and_nothing_is_sent(verified: AccountVerification) -> None:
    response = client_for().post(REFUNDS, body(verified))

    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"
    assert len(refund_outbox) == 0 and not Refund.objects.exists()


@pytest.mark.parametrize(
    ("staff", "codenames"),
    [(False, ("request_refund", "view_refund")), (True, ()), (True, ("view_refund",))],
    ids=["customer-even-with-permissions", "staff-without-permission", "staff-who-may-only-read"],
)
def test_only_staff_with_the_permission_may_refund(
    verified: AccountVerification, staff: bool, codenames: tuple[str, ...]
) -> None:
    user = make_user("someone", staff=staff)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="kcp_django", codename__in=codenames))

    response = client_for(type(user).objects.get(pk=user.pk)).post(REFUNDS, body(verified))

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert len(refund_outbox) == 0 and not Refund.objects.exists()


def test_staff_without_the_view_permission_cannot_read(refunder: Any, verified: AccountVerification) -> None:
    created = client_for(refunder).post(REFUNDS, body(verified)).json()
    sender_only = staff_with("request_refund", username="sender")

    assert client_for(sender_only).get(f"{REFUNDS}{created['id']}/").status_code == 403
    assert client_for(sender_only).get(REFUNDS, {"tno": TNO}).status_code == 403
    assert client_for(customer_user()).get(f"{REFUNDS}{created['id']}/").status_code == 403


def customer_user() -> Any:
    return make_user("shopper")


def test_the_permission_classes_are_a_setting(verified: AccountVerification) -> None:
    shopper = customer_user()
    with api_settings(REFUND_PERMISSION_CLASSES=["rest_framework.permissions.IsAuthenticated"]):
        response = client_for(shopper).post(REFUNDS, body(verified))

    assert response.status_code == 201, response.json()
    assert Refund.objects.get().requested_by == shopper


# What a refund answers


def test_staff_refund_a_verified_account_with_201_and_a_masked_account(
    refunder: Any, verified: AccountVerification
) -> None:
    response = client_for(refunder).post(REFUNDS, body(verified))

    assert response.status_code == 201, response.json()
    answer = response.json()
    assert (answer["status"], answer["kind"], answer["tno"], answer["res_cd"]) == (
        "accepted",
        "escrow-cancel",
        TNO,
        "0000",
    )
    assert answer["account_no_masked"] == "********9012"
    assert answer["verification"] == str(verified.public_id)
    assert "owner_nm" not in answer and DIGITS not in response.content.decode()
    assert response["Location"] == f"{REFUNDS}{answer['id']}/"
    [sent] = list(refund_outbox)
    assert (sent.tno, sent.account_no, sent.mod_type) == (TNO, DIGITS, "STE2")
    stored = Refund.objects.get()
    assert (stored.requested_by, stored.client_ip) == (refunder, "127.0.0.1")


def test_a_rejected_refund_is_final(refunder: Any, verified: AccountVerification) -> None:
    response = client_for(refunder).post(REFUNDS, body(verified, tno=TNO_REFUSED))

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["res_cd"]) == ("rejected", "8801")


def test_an_unknown_outcome_is_202_and_readable_at_location(refunder: Any, verified: AccountVerification) -> None:
    client = client_for(refunder)
    response = client.post(REFUNDS, body(verified, tno=TNO_NO_ANSWER))

    assert response.status_code == 202
    assert response.json()["status"] == "unknown"
    again = client.get(response["Location"])
    assert again.status_code == 200 and again.json() == response.json()
    # Never sent again by code: a repeat with another key is refused while it holds its place.
    repeat = client.post(REFUNDS, body(verified, tno=TNO_NO_ANSWER), HTTP_IDEMPOTENCY_KEY="another")
    assert repeat.status_code == 409 and repeat.json()["code"] == "earlier_refund_unknown"
    assert repeat.json()["refund"] == response.json()["id"]  # the refund to resolve first
    assert len(refund_outbox) == 1


def test_a_vbank_refund_to_an_account_given_directly_never_answers_the_number(refunder: Any) -> None:
    data = {
        "kind": "vbank-refund",
        "tno": TNO,
        "bank_code": "88",
        "account_no": "110-987-654321",
        "owner_nm": "김환불",
        "amount": 3000,
        "remaining": 10000,
    }
    response = client_for(refunder).post(REFUNDS, data)

    assert response.status_code == 201, response.json()
    answer = response.json()
    assert (answer["amount"], answer["remaining"], answer["mod_type"]) == (3000, 10000, "STPD")
    assert answer["account_no_masked"] == "********4321"
    assert "110987654321" not in response.content.decode() and "김환불" not in response.content.decode()


def test_the_refunds_of_a_payment_are_listed_oldest_first(refunder: Any) -> None:
    client = client_for(refunder)
    account = {
        "kind": "vbank-refund",
        "tno": TNO,
        "bank_code": "88",
        "account_no": "110-987-654321",
        "owner_nm": "김환불",
    }
    first = client.post(REFUNDS, {**account, "amount": 5000, "remaining": 10000}).json()
    second = client.post(REFUNDS, {**account, "amount": 2000}).json()
    client.post(REFUNDS, {**account, "tno": "20261127000002"})

    listed = client.get(REFUNDS, {"tno": TNO})

    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()] == [first["id"], second["id"]]
    assert client.get(REFUNDS).json()["errors"]["tno"][0]["rule"] == "required"
    assert client.get(REFUNDS, {"tno": "12"}).json()["errors"]["tno"][0]["rule"] == "format"
    assert client.get(f"{REFUNDS}not-an-id/").status_code == 404
    assert client.get(f"{REFUNDS}0b6f7c1e-8d2a-4c3e-9f10-2a3b4c5d6e7f/").status_code == 404


# Refused before KCP is asked


def test_invalid_fields_are_400_naming_every_field_and_rule(refunder: Any) -> None:
    data = {"kind": "refund", "tno": "2026", "verification": "not-an-id", "after_shipping": "yes", "amount": "ten"}
    response = client_for(refunder).post(REFUNDS, data)

    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "invalid"
    rules = {field: [entry["rule"] for entry in entries] for field, entries in answer["errors"].items()}
    assert rules["kind"] == ["choice"]
    assert rules["tno"] == ["format"]
    assert rules["verification"] == ["format"]
    assert rules["after_shipping"] == ["type"]
    assert "type" in rules["amount"]
    assert "after_shipping" in answer["errors"]["after_shipping"][0]["message"]
    assert len(refund_outbox) == 0 and not Refund.objects.exists()


def test_an_unknown_verification_and_a_bad_account_are_400(refunder: Any) -> None:
    client = client_for(refunder)
    missing = client.post(REFUNDS, {**body(None), "verification": "0b6f7c1e-8d2a-4c3e-9f10-2a3b4c5d6e7f"})
    bad_holder = client.post(
        REFUNDS, {"kind": "vbank-refund", "tno": TNO, "bank_code": "04", "account_no": "110-1", "owner_nm": "홍,길동"}
    )
    bad_key = client.post(
        REFUNDS,
        {"kind": "vbank-refund", "tno": TNO, "bank_code": "04", "account_no": "110-234-567890", "owner_nm": "홍길동"},
        HTTP_IDEMPOTENCY_KEY="k" * 101,
    )

    assert missing.status_code == 400 and missing.json()["errors"]["verification"][0]["rule"] == "not_found"
    assert bad_holder.status_code == 400 and "owner_nm" in bad_holder.json()["errors"]
    assert bad_key.status_code == 400 and bad_key.json()["errors"]["idempotency_key"][0]["rule"] == "format"
    assert len(refund_outbox) == 0


def test_an_unknown_merchant_is_400(refunder: Any, verified: AccountVerification) -> None:
    response = client_for(refunder).post(REFUNDS, body(verified, merchant="nowhere"))

    assert response.status_code == 400 and response.json()["errors"]["merchant"][0]["rule"] == "choice"


@pytest.mark.parametrize(
    ("change", "data", "rule"),
    [
        ({}, {"kind": "escrow-refund"}, "verification_required"),
        ({"state": "REJECTED"}, {}, "verification_not_verified"),
        ({"completed_at": "2020-01-01T00:00:00+00:00"}, {}, "verification_stale"),
        ({}, {"bank_code": "04", "account_no": "110-234-567890", "owner_nm": "홍길동"}, "account_twice"),
    ],
)
def test_rules_refuse_with_409_naming_the_rule(
    refunder: Any, verified: AccountVerification, change: dict[str, Any], data: dict[str, Any], rule: str
) -> None:
    AccountVerification.objects.filter(pk=verified.pk).update(**change)
    sent = body(None if rule == "verification_required" else verified, **data)

    response = client_for(refunder).post(REFUNDS, sent)

    assert response.status_code == 409, response.json()
    assert response.json()["code"] == rule
    assert response.json()["message"]
    assert len(refund_outbox) == 0 and not Refund.objects.exists()


def test_a_second_full_refund_of_a_payment_is_409(refunder: Any, verified: AccountVerification) -> None:
    client = client_for(refunder)
    assert client.post(REFUNDS, body(verified)).status_code == 201

    again = client.post(REFUNDS, body(verified))

    assert again.status_code == 409 and again.json()["code"] == "full_refund_exists"
    assert len(refund_outbox) == 1


# Idempotency-Key


def test_a_repeated_idempotency_key_answers_200_with_the_same_refund_and_sends_once(
    refunder: Any, verified: AccountVerification
) -> None:
    client = client_for(refunder)
    first = client.post(REFUNDS, body(verified), HTTP_IDEMPOTENCY_KEY="refund-42")
    second = client.post(REFUNDS, body(verified), HTTP_IDEMPOTENCY_KEY="refund-42")

    assert first.status_code == 201
    assert second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert len(refund_outbox) == 1


def test_the_same_key_for_another_refund_is_409(refunder: Any, verified: AccountVerification) -> None:
    client = client_for(refunder)
    assert client.post(REFUNDS, body(verified), HTTP_IDEMPOTENCY_KEY="refund-43").status_code == 201

    other = client.post(REFUNDS, body(verified, reason="다른 사유"), HTTP_IDEMPOTENCY_KEY="refund-43")

    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert len(refund_outbox) == 1


# The server's own problems


def test_a_merchant_that_cannot_refund_is_503_and_nothing_is_sent(refunder: Any) -> None:
    merchants = {
        **merchants_with(),
        "norefund": {**merchants_with()["default"], "BACKEND": "tests.support.gateways.ExplodingGateway"},
    }
    data = {"kind": "vbank-refund", "tno": TNO, "bank_code": "04", "account_no": "110-234-567890", "owner_nm": "홍길동"}
    with override_settings(KCP_MERCHANTS=merchants):
        response = client_for(refunder).post(REFUNDS, {**data, "merchant": "norefund"})

    assert response.status_code == 503
    assert response.json()["code"] == "refund_configuration"
    assert "Retry-After" not in response, "waiting fixes no setting (issue 18 item 5)"
    assert not Refund.objects.exists()


def test_a_verification_whose_key_is_gone_is_503_account_unreadable_and_nothing_is_sent(
    refunder: Any, verified: AccountVerification, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards issue 18 item 4: after the encryption key changed, ``POST /kcp/refunds/`` answered 500."""
    other_key = ["other:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]
    with override_settings(KCP_ENCRYPTION_KEYS=other_key), caplog.at_level(logging.ERROR, "kcp_django.api"):
        response = client_for(refunder).post(REFUNDS, body(verified))

    assert response.status_code == 503
    answer = response.json()
    assert answer["code"] == "account_unreadable"
    assert "암호화 키" in answer["message"]  # the test settings speak Korean
    assert "Retry-After" not in response, "only restoring the key helps; waiting does not"
    assert not Refund.objects.exists() and len(refund_outbox) == 0
    assert "key k2, not in KCP_ENCRYPTION_KEYS" in caplog.text, "the log names the missing key for the operator"


def test_the_views_refund_even_when_requests_are_atomic(
    refunder: Any, verified: AccountVerification, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)

    response = client_for(refunder).post(REFUNDS, body(verified))

    assert response.status_code == 201, response.json()


def test_the_schema_documents_refunds_without_account_numbers() -> None:
    pytest.importorskip("drf_spectacular")
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    create = document["paths"]["/kcp/refunds/"]["post"]
    fields = set(document["components"]["schemas"]["Refund"]["properties"])

    assert set(create["responses"]) == {"200", "201", "202", "400", "401", "403", "409", "415", "503"}
    assert not fields & {"account_no", "owner_nm", "raw_response"}
    assert "account_no_masked" in fields


def test_errors_are_in_the_callers_language(refunder: Any, verified: AccountVerification) -> None:
    client = client_for(refunder)
    invalid = client.post(REFUNDS, body(verified, after_shipping="yes"), HTTP_ACCEPT_LANGUAGE="ko")
    with override_settings(
        KCP_MERCHANTS={
            **merchants_with(),
            "norefund": {**merchants_with()["default"], "BACKEND": "tests.support.gateways.ExplodingGateway"},
        }
    ):
        unavailable = client.post(REFUNDS, body(verified, merchant="norefund"), HTTP_ACCEPT_LANGUAGE="ko")

    assert invalid.json()["errors"]["after_shipping"][0]["message"] == "after_shipping은 true 또는 false여야 합니다."
    assert unavailable.status_code == 503
    assert unavailable.json()["message"].startswith("이 서버의 환불 설정이 올바르지 않아")
