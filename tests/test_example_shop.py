"""The example shop's own rules: a refund is accepted only to the customer's verified account."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from example_project.shop.checkout import order_paid
from example_project.shop.models import Order, RefundRequest
from kcp_django.admin.refund_action import REFUND_ACTION_NAME
from kcp_django.exceptions import InvalidRequest
from kcp_django.maintenance.purge import purge_personal_data
from kcp_django.models import AccountVerification, KcpNotice, Payment, Refund
from kcp_django.refunds import complete_refund
from tests.admin_support import make_staff
from tests.refund_admin_support import inputs

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNT = "110-987-654321"
DIGITS = "110987654321"
ROOT = Path(__file__).resolve().parent.parent
#: What example_project/settings.py sets (checked by test_the_example_settings_bind_references_to_their_customer).
OWNER_CHECK = "example_project.shop.api.owns_reference"


@pytest.fixture(autouse=True)
def _example_api_settings() -> Iterator[None]:
    with override_settings(KCP_API={"REFERENCE_OWNER_CHECK": OWNER_CHECK}):
        yield


@pytest.fixture
def order(customer: object) -> Order:
    return Order.objects.create(
        number="T-1", customer=customer, product="이어폰", amount=1000, payment_method="vbank", paid_at=timezone.now()
    )


def signed_in(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def verify(client: Client, owner_nm: str, reference: str = "refund-T-1") -> dict[str, object]:
    response = client.post(
        "/kcp/verifications/",
        {"bank_code": "04", "account_no": ACCOUNT, "owner_nm": owner_nm, "reference": reference},
        content_type="application/json",
    )
    assert response.status_code in (201, 202), response.content
    return response.json()


def test_a_verified_account_becomes_the_refund_account(customer: object, order: Order) -> None:
    client = signed_in(customer)
    verification = verify(client, "홍길동")

    response = client.post("/orders/T-1/refund/", {"verification": verification["id"]}, follow=True)

    refund = RefundRequest.objects.get(order=order)
    assert (refund.bank_code, refund.account_no, refund.holder_name) == ("04", DIGITS, "홍길동")
    assert refund.verification.state == "VERIFIED"
    assert "환불 요청이 접수되었습니다" in response.content.decode()


@pytest.mark.parametrize("owner_nm", ["홍불일치"])
def test_a_rejected_verification_cannot_be_used(customer: object, order: Order, owner_nm: str) -> None:
    client = signed_in(customer)
    verification = verify(client, owner_nm)

    response = client.post("/orders/T-1/refund/", {"verification": verification["id"]}, follow=True)

    assert not RefundRequest.objects.exists()
    assert "먼저 환불받을 계좌를 인증해 주세요" in response.content.decode()


def test_another_customers_verification_or_another_orders_cannot_be_used(customer: object, order: Order) -> None:
    stranger = get_user_model().objects.create_user("stranger", password="pw")
    Order.objects.create(
        number="T-2", customer=stranger, product="펜", amount=500, payment_method="bank", paid_at=timezone.now()
    )
    Order.objects.create(
        number="T-3", customer=customer, product="컵", amount=700, payment_method="bank", paid_at=timezone.now()
    )
    theirs = verify(signed_in(stranger), "홍길동", reference="refund-T-2")
    other_order = verify(signed_in(customer), "홍길동", reference="refund-T-3")

    client = signed_in(customer)
    for candidate in (theirs["id"], other_order["id"], "not-a-uuid"):
        client.post("/orders/T-1/refund/", {"verification": candidate})

    assert not RefundRequest.objects.exists()


def test_a_purged_verification_is_refused_with_a_clear_message_not_a_server_error(
    customer: object, order: Order
) -> None:
    client = signed_in(customer)
    verification = verify(client, "홍길동")
    AccountVerification.objects.update(created_at=timezone.now() - dt.timedelta(days=400))
    assert purge_personal_data(older_than=dt.timedelta(days=180)).purged == 1

    korean = client.post("/orders/T-1/refund/", {"verification": verification["id"]}, follow=True)
    english = client.post(
        "/orders/T-1/refund/", {"verification": verification["id"]}, headers={"accept-language": "en"}, follow=True
    )

    assert (korean.status_code, english.status_code) == (200, 200)
    assert not RefundRequest.objects.exists()
    assert "이 계좌 인증은 보관 기간이 지나 삭제되었습니다. 환불 계좌를 다시 인증하세요." in korean.content.decode()
    assert (
        "This account check was deleted after the retention period. Verify the refund account again."
        in english.content.decode()
    )


@pytest.mark.parametrize("reference", ["refund-T-1", "refund-NOPE", "T-1"])
def test_a_customer_cannot_verify_for_a_reference_that_is_not_their_own_refund(
    customer: object, order: Order, reference: str
) -> None:
    stranger = get_user_model().objects.create_user("stranger", password="pw")

    response = signed_in(stranger).post(
        "/kcp/verifications/",
        {"bank_code": "04", "account_no": ACCOUNT, "owner_nm": "홍길동", "reference": reference},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert response.json()["code"] == "reference_not_allowed"
    assert not AccountVerification.objects.exists()


def test_a_stranger_guessing_the_reference_uses_up_none_of_the_customers_attempts(
    customer: object, order: Order
) -> None:
    stranger = signed_in(get_user_model().objects.create_user("stranger", password="pw"))
    body = {"bank_code": "04", "account_no": ACCOUNT, "owner_nm": "홍길동", "reference": "refund-T-1"}
    tries = [stranger.post("/kcp/verifications/", body, content_type="application/json") for _ in range(6)]

    mine = verify(signed_in(customer), "홍길동")

    assert [response.status_code for response in tries] == [403] * 6
    assert mine["status"] == "verified"


def test_the_example_settings_bind_references_to_their_customer() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KCP_", "DJANGO_", "DATABASE_URL", "CACHE_URL"))}
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "from django.conf import settings; print(settings.KCP_API)"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "example_project.settings"},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert f"'REFERENCE_OWNER_CHECK': '{OWNER_CHECK}'" in shown.stdout


def test_customers_see_only_their_own_orders(customer: object, order: Order) -> None:
    stranger = get_user_model().objects.create_user("stranger", password="pw")

    assert signed_in(stranger).get("/orders/T-1/refund/").status_code == 404
    assert "T-1" in signed_in(customer).get("/").content.decode()


def test_pages_are_korean_by_default_and_english_on_request(customer: object, order: Order) -> None:
    client = signed_in(customer)

    assert "내 주문" in client.get("/").content.decode()
    assert "My orders" in client.get("/", headers={"accept-language": "en"}).content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "Request a refund" in client.get("/").content.decode()


def test_no_page_holds_the_site_key_or_a_full_account_number(customer: object, order: Order) -> None:
    client = signed_in(customer)
    verification = verify(client, "홍길동")
    client.post("/orders/T-1/refund/", {"verification": verification["id"]})
    staff = get_user_model().objects.create_superuser("boss", password="pw")
    admin = signed_in(staff)

    pages = [
        client.get("/"),
        client.get("/orders/T-1/refund/"),
        admin.get("/admin/shop/refundrequest/"),
        admin.get(f"/admin/shop/refundrequest/{RefundRequest.objects.get().pk}/change/"),
        admin.get("/admin/kcp_django/accountverification/"),
    ]

    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert DIGITS not in html
        assert settings.TEST_SITE_KEY not in html


def test_the_demo_data_command_is_safe_to_run_twice() -> None:
    call_command("shop_demo", stdout=io.StringIO())
    counts = (Order.objects.count(), AccountVerification.objects.count(), RefundRequest.objects.count())
    call_command("shop_demo", stdout=io.StringIO())

    assert counts == (4, 4, 1)
    assert (Order.objects.count(), AccountVerification.objects.count(), RefundRequest.objects.count()) == counts
    states = set(AccountVerification.objects.values_list("state", flat=True))
    assert states == {"VERIFIED", "REJECTED", "UNKNOWN"}
    assert Order.objects.get(number="2026-0001").paid_at < timezone.now() - dt.timedelta(hours=1)


# Staff refund an order to the customer's verified account -----------------------------------------

SHOP_REFUNDS = "admin:shop_refundrequest_changelist"


def staff_refunds(refund_request: RefundRequest) -> tuple[Any, Any]:
    """Staff run "Refund to this verified account" on the request: page 1, then what the end shows."""
    staff = make_staff("shop-staff", "shop.view_refundrequest", "kcp_django.request_refund")
    client = Client(headers={"accept-language": "en"})
    client.force_login(staff)
    page1 = client.post(
        reverse(SHOP_REFUNDS),
        {"action": REFUND_ACTION_NAME, "_selected_action": [str(refund_request.pk)], "index": "0"},
    )
    page2 = client.post(reverse(SHOP_REFUNDS), inputs(page1))
    done = client.post(reverse(SHOP_REFUNDS), inputs(page2), follow=True)
    return page1, done


def test_staff_refund_an_order_and_the_customer_sees_it_paid_once_kcps_notice_arrives(
    customer: object, order: Order
) -> None:
    order_paid(order, tno="20261127000005")
    customer_client = signed_in(customer)
    customer_client.post("/orders/T-1/refund/", {"verification": verify(customer_client, "홍길동")["id"]})
    refund_request = RefundRequest.objects.get(order=order)

    page1, done = staff_refunds(refund_request)

    assert page1.context["form"].initial == {"kind": "escrow-cancel", "tno": "20261127000005"}
    assert any("KCP accepted the refund" in str(m) for m in done.context["messages"])
    refund = Refund.objects.get()
    assert (refund.kind, refund.tno, refund.reference, refund.state) == (
        "escrow-cancel",
        "20261127000005",
        "refund-T-1",
        "ACCEPTED",
    )
    refund_request.refresh_from_db()
    assert refund_request.status == "sent"
    assert "KCP에 요청됨" in customer_client.get("/").content.decode()

    notice = KcpNotice.objects.create(
        merchant="default", site_cd="T0000", tx_cd="TX05", tno=refund.tno, order_no=refund.ordr_idxx, digest="1" * 64
    )
    assert complete_refund(refund, notice)

    refund_request.refresh_from_db()
    assert refund_request.status == "paid"
    home = customer_client.get("/").content.decode()
    page = customer_client.get("/orders/T-1/refund/").content.decode()
    assert "환불 완료" in home and "환불 완료" in page
    assert DIGITS not in page and "********4321" in page
    english = customer_client.get("/", headers={"accept-language": "en"})
    assert "Refund paid" in english.content.decode()


def test_a_refused_refund_leaves_the_request_as_it_was(customer: object, order: Order) -> None:
    order_paid(order, tno="20261127000008")
    customer_client = signed_in(customer)
    customer_client.post("/orders/T-1/refund/", {"verification": verify(customer_client, "홍길동")["id"]})
    refund_request = RefundRequest.objects.get(order=order)

    _page1, done = staff_refunds(refund_request)

    assert any("KCP rejected the refund" in str(m) for m in done.context["messages"])
    refund_request.refresh_from_db()
    assert refund_request.status == "requested"


def test_the_demo_orders_carry_kcps_payment_number_and_an_escrow_refund_kind() -> None:
    call_command("shop_demo", stdout=io.StringIO())

    orders = Order.objects.order_by("number")
    assert [order.kcp_tno for order in orders] == [
        "20261127000001",
        "20261127000002",
        "20261127000003",
        "20261127000004",
    ]
    assert {order.refund_kind for order in orders} == {"escrow-cancel"}
    staff = get_user_model().objects.get(username="staff")
    assert staff.has_perm("kcp_django.request_refund") and staff.has_perm("kcp_django.view_refund")


def test_the_demo_registers_each_orders_payment_and_staff_verified_none_of_the_accounts() -> None:
    call_command("shop_demo", stdout=io.StringIO())
    call_command("shop_demo", stdout=io.StringIO())

    payments = {payment.tno: payment for payment in Payment.objects.all()}
    for order in Order.objects.all():
        payment = payments[order.kcp_tno]
        assert (payment.amount, payment.reference, payment.payer) == (
            order.amount,
            order.refund_reference,
            order.customer,
        )
    assert len(payments) == 4
    staff = get_user_model().objects.get(username="staff")
    assert staff.has_perm("kcp_django.request_refund") and staff.has_perm("kcp_django.view_payment")
    assert not AccountVerification.objects.filter(requested_by=staff).exists()
    demo_refund = RefundRequest.objects.get()
    assert demo_refund.verification.reference == payments[demo_refund.order.kcp_tno].reference


def test_a_payment_registered_again_for_another_amount_is_refused_and_the_order_is_left_as_it_was(
    customer: object, order: Order
) -> None:
    first = order_paid(order, tno="20261127000005")
    Order.objects.filter(pk=order.pk).update(amount=2000)  # the order changed after it was paid
    order.refresh_from_db()

    with pytest.raises(InvalidRequest) as refused:
        order_paid(order, tno="20261127000005", paid_at=timezone.now() + dt.timedelta(days=1))

    assert [error.field for error in refused.value.errors] == ["amount"]
    assert Payment.objects.get() == first and first.amount == 1000
    order.refresh_from_db()
    assert order.paid_at < timezone.now(), "the order's own update was rolled back with the registration"


def test_the_orders_list_links_each_paid_order_to_its_payment(customer: object, order: Order) -> None:
    order_paid(order, tno="20261127000005")
    boss = signed_in(get_user_model().objects.create_superuser("boss", password="pw"))

    orders = boss.get("/admin/shop/order/").content.decode()
    payments = boss.get("/admin/kcp_django/payment/?q=20261127000005").content.decode()

    assert '<a href="/admin/kcp_django/payment/?q=20261127000005">20261127000005</a>' in orders
    assert "refund-T-1" in payments and "1,000" in payments
