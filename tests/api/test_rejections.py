"""What a rejection tells each caller: customers one answer whatever KCP's reason, staff KCP's code."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission

from tests.api_support import VERIFICATIONS, api_settings, client_for, make_user, request_body

pytestmark = pytest.mark.django_db(transaction=True)

#: Sandbox rejections: KCP's 8104 (another holder) and 8105 (no such account).
HOLDER_MISMATCH = {"owner_nm": "홍불일치"}
NO_SUCH_ACCOUNT = {"account_no": "000-234-567890"}  # the same last four digits
#: What differs between any two verifications, whatever their outcome.
PER_ROW = {"id", "reference", "created_at"}


def rejections(client: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    mismatch = client.post(VERIFICATIONS, request_body(reference="r-8104", **HOLDER_MISMATCH))
    missing = client.post(VERIFICATIONS, request_body(reference="r-8105", **NO_SUCH_ACCOUNT))
    assert mismatch.status_code == missing.status_code == 201
    return mismatch.json(), missing.json()


def without(body: dict[str, Any], names: set[str]) -> dict[str, Any]:
    return {name: value for name, value in body.items() if name not in names}


def test_a_customer_cannot_tell_a_wrong_holder_from_a_missing_account(customer: Any) -> None:
    client = client_for(customer)
    mismatch, missing = rejections(client)
    read_back = [client.get(f"{VERIFICATIONS}{body['id']}/").json() for body in (mismatch, missing)]

    assert without(mismatch, PER_ROW) == without(missing, PER_ROW)
    assert mismatch["status"] == "rejected"
    assert not {"res_cd", "res_msg", "reason"} & set(mismatch)
    assert read_back == [mismatch, missing]


def test_a_shop_may_show_the_category_of_a_rejection(customer: Any) -> None:
    with api_settings(REJECTION_DETAIL="category"):
        client = client_for(customer)
        mismatch, missing = rejections(client)
        verified = client.post(VERIFICATIONS, request_body(reference="r-0000")).json()

    assert (mismatch["reason"], missing["reason"], verified["reason"]) == ("holder_mismatch", "account_invalid", None)
    assert without(mismatch, PER_ROW | {"reason"}) == without(missing, PER_ROW | {"reason"})
    assert not {"res_cd", "res_msg"} & set(mismatch)


def test_staff_see_kcps_own_code_and_message(customer: Any) -> None:
    clerk = make_user("clerk", staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_accountverification"))
    clerk = type(clerk).objects.get(pk=clerk.pk)  # the permission cache of the instance starts again
    mismatch, missing = rejections(client_for(customer))

    read = [client_for(clerk).get(f"{VERIFICATIONS}{body['id']}/").json() for body in (mismatch, missing)]
    asked = client_for(clerk).post(VERIFICATIONS, request_body(reference="r-staff", **HOLDER_MISMATCH)).json()

    assert [(body["res_cd"], body["res_msg"], body["reason"]) for body in read] == [
        ("8104", "예금주명 불일치", "holder_mismatch"),
        ("8105", "계좌 없음 또는 해지된 계좌", "account_invalid"),
    ]
    assert (asked["res_cd"], asked["res_msg"]) == ("8104", "예금주명 불일치")
