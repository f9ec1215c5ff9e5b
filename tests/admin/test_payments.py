"""Payments in the admin: read-only, what each paid, refunded and has left, its refunds, and the way back
from a refund to its payment. Real database, real service, sandbox."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kcp_django.models import Payment, Refund
from kcp_django.payments import register_payment
from kcp_django.refunds import request_refund
from kcp_django.verifications import verify_refund_account
from tests.admin_support import make_staff

pytestmark = pytest.mark.django_db(transaction=True)

PAYMENTS = "admin:kcp_django_payment_changelist"
ACCOUNT = "123-456-789012"
DIGITS = "123456789012"
TNO = "20261127000401"


def logged_in(*permissions: str, username: str = "viewer") -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(make_staff(username, *permissions))
    return client


def viewer() -> Client:
    return logged_in("kcp_django.view_payment", "kcp_django.view_refund")


@pytest.fixture
def payment() -> Payment:
    """30,000 won paid for ORDER-9, refunded 10,000 (accepted) and 5,000 (rejected by KCP)."""
    paid = register_payment(tno=TNO, amount=30_000, reference="ORDER-9")
    verification = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", reference="ORDER-9")
    accepted = request_refund(kind="vbank-refund", tno=TNO, verification=verification, amount=10_000)
    rejected = request_refund(
        kind="vbank-refund", tno=TNO, bank_code="04", account_no="000-1234567", owner_nm="홍길동", amount=5_000
    )
    assert (accepted.state, rejected.state) == ("ACCEPTED", "REJECTED")
    return paid


def cells(page: Any, row_text: str) -> str:
    """The text of the list row holding ``row_text``, tags removed."""
    html = page.content.decode()
    row = next(part for part in html.split("<tr") if row_text in part)
    return " ".join(re.sub(r"<[^>]+>", " ", row).split())


def test_the_list_shows_paid_refunded_and_remaining(payment: Payment) -> None:
    register_payment(tno="20261127000402", amount=7_000, reference="ORDER-10")

    page = viewer().get(reverse(PAYMENTS))

    assert page.status_code == 200
    assert "30,000 10,000 20,000" in cells(page, TNO), "a rejected refund holds nothing"
    assert "7,000 0 7,000" in cells(page, "20261127000402")


def test_a_full_refund_holds_the_whole_payment_on_the_list() -> None:
    register_payment(tno=TNO, amount=30_000, reference="ORDER-9")
    verification = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", reference="ORDER-9")
    assert request_refund(kind="escrow-cancel", tno=TNO, verification=verification).state == "ACCEPTED"

    page = viewer().get(reverse(PAYMENTS))

    assert "30,000 30,000 0" in cells(page, TNO)


def test_the_list_reads_what_refunds_hold_in_one_query_whatever_the_number_of_payments() -> None:
    for n in range(5):
        register_payment(tno=f"2026112700050{n}", amount=1_000 + n, reference=f"ORDER-{n}")
    client = viewer()

    with CaptureQueriesContext(connection) as few:
        client.get(reverse(PAYMENTS) + "?q=20261127000500")
    with CaptureQueriesContext(connection) as many:
        client.get(reverse(PAYMENTS))

    assert len(many) == len(few), "no query per payment"


def test_a_payment_page_lists_its_refunds_masked_each_linked_to_its_own_page(payment: Payment) -> None:
    client = viewer()

    page = client.get(reverse("admin:kcp_django_payment_change", args=[payment.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    refunds = list(Refund.objects.order_by("created_at", "id"))
    for refund in refunds:
        assert reverse("admin:kcp_django_refund_change", args=[refund.pk]) in html
        assert refund.ordr_idxx in html
    assert "********9012" in html and "********4567" in html
    assert DIGITS not in html and "0001234567" not in html and "홍길동" not in html
    assert "30,000" in html and "10,000" in html and "20,000" in html


def test_each_refund_page_links_to_its_payment(payment: Payment) -> None:
    refund = Refund.objects.order_by("created_at").first()
    assert refund is not None

    page = viewer().get(reverse("admin:kcp_django_refund_change", args=[refund.pk]))

    assert reverse("admin:kcp_django_payment_change", args=[payment.pk]) in page.content.decode()


def test_payments_are_read_only_even_for_a_superuser(payment: Payment) -> None:
    boss = make_staff("root")
    boss.is_superuser = True
    boss.save()
    client = Client(headers={"accept-language": "en"})
    client.force_login(boss)

    add = client.get(reverse("admin:kcp_django_payment_add"))
    change = client.post(reverse("admin:kcp_django_payment_change", args=[payment.pk]), {"amount": "1"})
    delete = client.post(reverse("admin:kcp_django_payment_delete", args=[payment.pk]), {"post": "yes"})

    assert add.status_code == 403
    assert change.status_code == 403
    assert delete.status_code == 403
    assert Payment.objects.get().amount == 30_000


def test_without_the_view_permission_there_is_no_payments_list(payment: Payment) -> None:
    assert logged_in("kcp_django.view_refund", username="other").get(reverse(PAYMENTS)).status_code == 403


def test_the_list_finds_a_payment_by_its_exact_tno_or_order(payment: Payment) -> None:
    register_payment(tno="20261127000402", amount=7_000, reference="ORDER-10")
    client = viewer()

    by_tno = client.get(reverse(PAYMENTS), {"q": TNO}).content.decode()
    by_order = client.get(reverse(PAYMENTS), {"q": "ORDER-10"}).content.decode()

    assert TNO in by_tno and "20261127000402" not in by_tno
    assert "20261127000402" in by_order and TNO not in by_order
