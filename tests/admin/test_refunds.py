"""Refunds in the admin: the action on the verification list and on a shop's model, the refunds and
notices lists, and resolving a refund whose answer was lost. Real database, real service, sandbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from example_project.shop.models import Order
from example_project.shop.models import RefundRequest as ShopRefund
from kcp_django.admin import KcpAccountActionsMixin
from kcp_django.admin.refund_action import REFUND_ACTION_NAME
from kcp_django.gateways.sandbox import refund_outbox
from kcp_django.models import AccountVerification, KcpNotice, Refund
from kcp_django.refunds import request_refund
from kcp_django.verifications import verify_refund_account
from tests.shopapp.models import RefundRequest as ShopRow
from tests.support.admin import CHANGELIST, REFUND_CHANGELIST, make_refunds, make_staff, make_verifications
from tests.support.forms import inputs
from tests.support.payments import ORDER

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("paid")]

REFUNDS = "admin:kcp_django_refund_changelist"
NOTICES = "admin:kcp_django_kcpnotice_changelist"
SHOP_CHANGELIST = "admin:shop_refundrequest_changelist"
TNO = "20261127000001"
TNO_REFUSED = "20261127000008"
TNO_NO_ANSWER = "20261127000009"


def logged_in(*permissions: str, username: str = "refunder") -> Client:
    client = Client(headers={"accept-language": "en"})  # the messages are checked in English
    client.force_login(make_staff(username, *permissions))
    return client


def refunder(username: str = "refunder") -> Client:
    return logged_in(
        "kcp_django.view_accountverification", "kcp_django.request_refund", "kcp_django.view_refund", username=username
    )


def start(client: Client, row: AccountVerification, url_name: str = CHANGELIST) -> Any:
    """Choose the action on ``row``: page 1."""
    return client.post(
        reverse(url_name), {"action": REFUND_ACTION_NAME, "_selected_action": [str(row.pk)], "index": "0"}
    )


def fill(client: Client, page1: Any, url_name: str = CHANGELIST, **values: Any) -> Any:
    """Send page 1 with ``values`` (field names without the form's prefix): page 2, or page 1 again."""
    data = inputs(page1)
    data.update({f"kcp_refund-{name}": value for name, value in values.items()})
    return client.post(reverse(url_name), data)


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def verified() -> AccountVerification:
    [row] = make_verifications(1, reference=ORDER)
    return row


# The action: who, which rows --------------------------------------------------------------------


def test_without_the_permission_the_action_is_neither_offered_nor_run(verified: AccountVerification) -> None:
    client = logged_in("kcp_django.view_accountverification", "kcp_django.verify_refund_account", username="viewer")

    page = client.get(reverse(CHANGELIST)).content.decode()
    response = start(client, verified)

    assert REFUND_ACTION_NAME not in page
    assert response.status_code == 302
    assert "kcp-refund-form" not in client.get(response["Location"]).content.decode()
    assert len(refund_outbox) == 0 and not Refund.objects.exists()


def test_with_the_permission_the_action_is_offered(verified: AccountVerification) -> None:
    page = refunder().get(reverse(CHANGELIST)).content.decode()

    assert f'value="{REFUND_ACTION_NAME}"' in page
    assert "Refund to this verified account" in page


def test_more_than_one_row_is_refused_with_a_clear_message() -> None:
    rows = make_verifications(2)
    client = refunder()

    response = client.post(
        reverse(CHANGELIST),
        {"action": REFUND_ACTION_NAME, "_selected_action": [str(row.pk) for row in rows], "index": "0"},
        follow=True,
    )

    assert any("Select exactly one row" in text for text in messages_of(response))
    assert len(refund_outbox) == 0


def test_a_row_without_a_verified_verification_is_refused() -> None:
    [rejected] = make_verifications(1)
    AccountVerification.objects.filter(pk=rejected.pk).update(state="REJECTED")
    [shop_row] = make_refunds(1)  # a shop row whose account was never verified
    client = logged_in(
        "kcp_django.view_accountverification",
        "shopapp.view_refundrequest",
        "kcp_django.request_refund",
    )

    on_list = client.post(
        reverse(CHANGELIST),
        {"action": REFUND_ACTION_NAME, "_selected_action": [str(rejected.pk)], "index": "0"},
        follow=True,
    )
    on_shop = client.post(
        reverse(REFUND_CHANGELIST),
        {"action": REFUND_ACTION_NAME, "_selected_action": [str(shop_row.pk)], "index": "0"},
        follow=True,
    )

    for response in (on_list, on_shop):
        assert any("has no VERIFIED verification" in text for text in messages_of(response)), messages_of(response)
    assert len(refund_outbox) == 0


# Pages 1 and 2 ------------------------------------------------------------------------------------


def test_both_pages_show_where_the_money_goes_with_the_masked_account_only(verified: AccountVerification) -> None:
    client = refunder()

    page1 = start(client, verified)
    page2 = fill(client, page1, kind="escrow-cancel", tno=TNO, reason="단순 변심")

    assert page1.status_code == 200 and page2.status_code == 200
    first, second = page1.content.decode(), page2.content.decode()
    for page in (first, second):
        assert "********" + verified.account_no[-4:] in page
        assert verified.account_no not in page
        assert "(04)" in page and "홍길동" in page
    assert 'name="kcp_refund-tno"' in first and 'name="kcp_refund-kind"' in first
    assert "Escrow cancel" in second and TNO in second
    assert "full: the whole payment" in second
    assert "Yes, send the refund" in second
    verified_at = page2.context["verified_at"]
    assert verified_at == verified.completed_at
    assert len(refund_outbox) == 0 and not Refund.objects.exists()  # nothing sent before the button


def test_confirming_sends_the_refund_through_the_service_once_even_when_sent_twice(
    verified: AccountVerification,
) -> None:
    client = refunder()
    page2 = fill(client, start(client, verified), kind="escrow-cancel", tno=TNO)
    confirm = inputs(page2)

    first = client.post(reverse(CHANGELIST), confirm, follow=True)
    second = client.post(reverse(CHANGELIST), confirm, follow=True)

    assert len(refund_outbox) == 1
    refund = Refund.objects.get()
    assert (refund.state, refund.kind, refund.tno) == ("ACCEPTED", "escrow-cancel", TNO)
    assert refund.verification_id == verified.pk
    assert refund.idempotency_key == "admin-" + confirm["kcp_refund_token"]
    assert refund.requested_by is not None and refund.requested_by.get_username() == "refunder"
    assert refund.client_ip == "127.0.0.1"
    assert any("KCP accepted the refund" in text for text in messages_of(first))
    assert any("already submitted" in text for text in messages_of(second))
    assert verified.account_no not in first.content.decode()


def test_a_verified_account_whose_key_is_gone_is_a_message_not_a_server_error(
    verified: AccountVerification,
) -> None:
    """Guards issue 18 item 4: a stored account the server cannot decrypt raised DecryptionError (a 500)."""
    client = refunder()
    page2 = fill(client, start(client, verified), kind="escrow-cancel", tno=TNO)

    with override_settings(KCP_ENCRYPTION_KEYS=["other:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]):
        sent = client.post(reverse(CHANGELIST), inputs(page2), follow=True)

    assert sent.status_code == 200
    assert any("encrypted with key k2, which is no longer in KCP_ENCRYPTION_KEYS" in m for m in messages_of(sent))
    assert len(refund_outbox) == 0 and not Refund.objects.exists()


def test_a_partial_vbank_refund_shows_its_amount(verified: AccountVerification) -> None:
    client = refunder()

    page2 = fill(client, start(client, verified), kind="vbank-refund", tno=TNO, amount="3000", remaining="10000")
    client.post(reverse(CHANGELIST), inputs(page2))

    assert "3,000 won of the 10,000 won left" in page2.content.decode()
    refund = Refund.objects.get()
    assert (refund.amount, refund.remaining, refund.mod_type) == (3000, 10000, "STPD")


@pytest.mark.parametrize(
    ("tno", "expected"),
    [
        (TNO_REFUSED, "KCP rejected the refund of payment 20261127000008: 환불 불가 거래 (8801)"),
        (TNO_NO_ANSWER, "check KCP's admin before doing anything"),
    ],
)
def test_the_message_says_what_kcp_answered(verified: AccountVerification, tno: str, expected: str) -> None:
    client = refunder()
    page2 = fill(client, start(client, verified), kind="escrow-cancel", tno=tno)

    done = client.post(reverse(CHANGELIST), inputs(page2), follow=True)

    assert any(expected in text for text in messages_of(done)), messages_of(done)
    assert len(refund_outbox) == 1


def test_page_1_shows_each_broken_rule_at_its_field(verified: AccountVerification) -> None:
    client = refunder()

    page1 = start(client, verified)
    again = fill(client, page1, kind="escrow-cancel", tno="2026112700000", amount="100", remaining="100")

    page = again.content.decode()
    assert "kcp-refund-form" in page  # still page 1
    form = again.context["form"]
    assert "must be exactly 14 digits" in " ".join(form.errors["tno"])
    assert "only vbank-refund can refund part of a payment" in " ".join(form.errors["amount"])
    assert "must be exactly 14 digits" in page
    assert len(refund_outbox) == 0


def test_a_refusal_by_the_services_rules_is_shown_and_nothing_is_sent(verified: AccountVerification) -> None:
    client = refunder()
    page2 = fill(client, start(client, verified), kind="escrow-cancel", tno=TNO)
    AccountVerification.objects.filter(pk=verified.pk).update(completed_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))

    refused = client.post(reverse(CHANGELIST), inputs(page2))

    assert refused.status_code == 200
    assert "The verification is older than 7 days" in refused.content.decode()
    assert len(refund_outbox) == 0 and not Refund.objects.exists()


def test_a_second_full_refund_of_a_payment_is_refused_by_rule(verified: AccountVerification) -> None:
    request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
    client = refunder()
    page2 = fill(client, start(client, verified), kind="escrow-cancel", tno=TNO)

    refused = client.post(reverse(CHANGELIST), inputs(page2))

    assert "This payment was already refunded in full" in refused.content.decode()
    assert len(refund_outbox) == 1


def test_a_refund_held_by_an_unknown_one_links_to_it_at_the_tno(verified: AccountVerification) -> None:
    unknown = request_refund(kind="escrow-cancel", tno=TNO_NO_ANSWER, verification=verified)
    assert unknown.state == "UNKNOWN"
    client = refunder()

    page1 = fill(client, start(client, verified), kind="escrow-cancel", tno=TNO_NO_ANSWER)

    tno_errors = str(page1.context["form"].errors["tno"])
    link = reverse("admin:kcp_django_refund_change", args=[unknown.pk])
    assert f'<a href="{link}">Open that refund to resolve it</a>' in tno_errors
    assert str(unknown.public_id) in tno_errors
    assert f'href="{link}"' in page1.content.decode()
    assert len(refund_outbox) == 1


# The refunds list and resolving -------------------------------------------------------------------


def test_the_refunds_list_is_read_only_and_shows_the_masked_account(verified: AccountVerification) -> None:
    refund = request_refund(kind="escrow-cancel", tno=TNO, verification=verified, reference="order-9")
    client = logged_in("kcp_django.view_refund", username="viewer")

    page = client.get(reverse(REFUNDS)).content.decode()
    detail = client.get(reverse("admin:kcp_django_refund_change", args=[refund.pk])).content.decode()
    found = client.get(reverse(REFUNDS), {"q": "order-9"})
    partial = client.get(reverse(REFUNDS), {"q": TNO[:8]})

    for shown in (page, detail):
        assert "********" + verified.account_no[-4:] in shown
        assert verified.account_no not in shown
    assert "kcp-badge-accepted" in page and TNO in page
    assert [row.pk for row in found.context["cl"].result_list] == [refund.pk]
    assert list(partial.context["cl"].result_list) == []  # plain equality, never a LIKE
    assert client.get(reverse("admin:kcp_django_refund_add")).status_code == 403
    assert client.post(reverse("admin:kcp_django_refund_delete", args=[refund.pk])).status_code == 403
    assert 'name="state"' not in detail


def resolve(client: Client, refund: Refund, action: str, **data: str) -> Any:
    return client.post(
        reverse(REFUNDS), {"action": action, "_selected_action": [str(refund.pk)], "index": "0", **data}, follow=True
    )


def test_an_unknown_refund_is_resolved_with_a_note_kept_in_the_admin_log(verified: AccountVerification) -> None:
    refund = request_refund(kind="escrow-cancel", tno=TNO_NO_ANSWER, verification=verified)
    assert refund.state == "UNKNOWN"
    client = logged_in("kcp_django.view_refund", "kcp_django.resolve_refund", username="resolver")

    page = resolve(client, refund, "resolve_accepted")
    no_note = client.post(reverse(REFUNDS), {**inputs(page), "note": "  "})
    done = client.post(reverse(REFUNDS), {**inputs(page), "note": "KCP admin: 환불 완료 2026-11-30"}, follow=True)

    assert "What KCP&#x27;s admin shows" in page.content.decode() or "What KCP's admin shows" in page.content.decode()
    assert no_note.status_code == 200 and "This field is required." in no_note.content.decode()
    refund.refresh_from_db()
    assert refund.state == "ACCEPTED" and refund.resolution_note == "KCP admin: 환불 완료 2026-11-30"
    assert refund.resolved_by is not None and refund.resolved_by.get_username() == "resolver"
    entry = LogEntry.objects.get(object_id=str(refund.pk))
    assert entry.action_flag == CHANGE and "KCP admin: 환불 완료 2026-11-30" in entry.change_message
    assert any("is now Accepted by KCP" in text for text in messages_of(done))
    assert len(refund_outbox) == 1  # resolving never sends it again


def test_resolving_as_rejected_gives_the_payment_back(verified: AccountVerification) -> None:
    refund = request_refund(kind="escrow-cancel", tno=TNO_NO_ANSWER, verification=verified)
    client = logged_in("kcp_django.view_refund", "kcp_django.resolve_refund", username="resolver")

    page = resolve(client, refund, "resolve_rejected")
    client.post(reverse(REFUNDS), {**inputs(page), "note": "KCP admin: no such refund"})

    refund.refresh_from_db()
    assert refund.state == "REJECTED"
    again = request_refund(kind="escrow-cancel", tno=TNO_NO_ANSWER, verification=verified)
    assert again.pk != refund.pk


def test_resolving_needs_its_permission_and_a_lost_answer(verified: AccountVerification) -> None:
    unknown = request_refund(kind="escrow-cancel", tno=TNO_NO_ANSWER, verification=verified)
    accepted = request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
    viewer = logged_in("kcp_django.view_refund", username="viewer")
    resolver = logged_in("kcp_django.view_refund", "kcp_django.resolve_refund", username="resolver")

    assert "resolve_accepted" not in viewer.get(reverse(REFUNDS)).content.decode()
    resolve(viewer, unknown, "resolve_accepted", kcp_resolve_confirmed="yes", note="seen")
    refused = resolve(resolver, accepted, "resolve_rejected", kcp_resolve_confirmed="yes", note="seen")

    unknown.refresh_from_db()
    accepted.refresh_from_db()
    assert (unknown.state, accepted.state) == ("UNKNOWN", "ACCEPTED")
    assert any("only a refund whose answer was lost" in text for text in messages_of(refused))
    assert not LogEntry.objects.exists()


# Notices ------------------------------------------------------------------------------------------


def test_the_notices_list_is_read_only_and_filters_by_type() -> None:
    notice = KcpNotice.objects.create(
        merchant="default",
        site_cd="T0000",
        tx_cd="TX01",
        tno=TNO,
        order_no="KCPR-1",
        digest="d" * 64,
        fields={"refund_nm": "홍*동", "refund_mny": "45000"},
        needs_review=True,
        review_reason="no refund with this tno",
    )
    KcpNotice.objects.create(merchant="default", site_cd="T0000", tx_cd="TX02", tno=TNO, digest="e" * 64)
    client = logged_in("kcp_django.view_kcpnotice", username="viewer")

    page = client.get(reverse(NOTICES), {"tx_cd": "TX01"})
    detail = client.get(reverse("admin:kcp_django_kcpnotice_change", args=[notice.pk])).content.decode()

    assert [row.pk for row in page.context["cl"].result_list] == [notice.pk]
    text = page.content.decode()
    assert "홍*동" in text and "no refund with this tno" in text
    assert "<textarea" not in detail and 'type="submit"' not in detail.split('id="content-main"')[1]
    assert client.get(reverse("admin:kcp_django_kcpnotice_add")).status_code == 403
    assert client.post(reverse("admin:kcp_django_kcpnotice_delete", args=[notice.pk])).status_code == 403


def test_the_action_runs_outside_a_transaction_and_says_so_when_a_site_wraps_requests_in_one(
    verified: AccountVerification, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Django's changelist_view is not atomic, so the refund is stored before KCP is called (the
    # tests above). A site with ATOMIC_REQUESTS wraps every view in a transaction: nothing is sent.
    client = refunder()
    page2 = fill(client, start(client, verified), kind="escrow-cancel", tno=TNO)
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)

    done = client.post(reverse(CHANGELIST), inputs(page2), follow=True)

    assert any("inside a database transaction (ATOMIC_REQUESTS)" in text for text in messages_of(done))
    assert len(refund_outbox) == 0 and not Refund.objects.exists()


def test_a_shop_row_verified_under_its_reference_is_refunded_with_the_admins_constant_kind_and_amount() -> None:
    [row] = make_refunds(1)
    verification = verify_refund_account(
        bank_code=row.bank_code, account_no=row.account_no, owner_nm=row.holder_name, reference=row.reference
    )
    assert verification.state == "VERIFIED"

    class VbankRefunds(KcpAccountActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
        kcp_bank_code_field = "bank_code"
        kcp_account_no_field = "account_no"
        kcp_owner_nm_field = "holder_name"
        kcp_reference_field = "reference"
        kcp_refund_kind = "vbank-refund"
        kcp_refund_amount_field = "amount"

    model_admin = VbankRefunds(ShopRow, admin.site)
    request_for = model_admin.kcp_refund_verification(row)

    assert model_admin.kcp_refund_initial(row) == {"kind": "vbank-refund", "amount": 10_000}
    assert request_for is not None and request_for.pk == verification.pk
    ShopRow.objects.filter(pk=row.pk).update(holder_name="김다른")  # the row no longer holds what was verified
    row.refresh_from_db()
    assert model_admin.kcp_refund_verification(row) is None


def test_the_refunds_list_finds_a_refund_by_the_uuid_kcp_refund_prints(verified: AccountVerification) -> None:
    """Guards issue 18 item 8: ``kcp_refund`` and the API print the UUID; the list searched only numbers."""
    first = request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
    request_refund(kind="escrow-cancel", tno="20261127000002", verification=verified)
    client = logged_in("kcp_django.view_refund")

    listed = client.get(reverse(REFUNDS), {"q": str(first.public_id)}).context["cl"].result_list
    detail = client.get(reverse("admin:kcp_django_refund_change", args=[first.pk]))

    assert [r.pk for r in listed] == [first.pk]
    assert str(first.public_id) in detail.content.decode()


def test_page_1_shows_a_broken_payment_rule_at_its_field_before_any_confirmation(
    verified: AccountVerification,
) -> None:
    client = refunder()
    unknown = fill(client, start(client, verified), kind="escrow-cancel", tno="20261127000999")
    too_much = fill(client, start(client, verified), kind="vbank-refund", tno=TNO, amount="20000")

    for page, field, words in (
        (unknown, "tno", "is registered for this merchant"),
        (too_much, "amount", "won left to refund"),
    ):
        assert "kcp_refund-confirm" not in page.content.decode() and "Yes, send" not in page.content.decode()
        assert any(words in str(error) for error in page.context["form"].errors[field])
    assert len(refund_outbox) == 0 and not Refund.objects.exists()


def test_the_amount_is_pre_filled_only_when_the_payment_still_holds_it(verified: AccountVerification) -> None:
    class VbankRefunds(KcpAccountActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
        kcp_bank_code_field = "bank_code"
        kcp_account_no_field = "account_no"
        kcp_owner_nm_field = "holder_name"
        kcp_refund_kind = "vbank-refund"
        kcp_refund_tno_field = "tno"
        kcp_refund_amount_field = "amount"

    [row] = make_refunds(1)
    row.tno, row.amount = TNO, 4000  # the test payment holds 10,000 won
    model_admin = VbankRefunds(ShopRow, admin.site)
    assert model_admin.kcp_refund_initial(row) == {"kind": "vbank-refund", "tno": TNO, "amount": 4000}

    row.amount = 50_000  # more than was paid: the form starts as a full refund, which is consistent
    assert model_admin.kcp_refund_initial(row) == {"kind": "vbank-refund", "tno": TNO}


def test_a_shop_admin_naming_only_the_verification_link_refunds_through_it(
    monkeypatch: pytest.MonkeyPatch, verified: AccountVerification
) -> None:
    registered = admin.site.get_model_admin(ShopRefund)
    for name in ("kcp_bank_code_field", "kcp_account_no_field", "kcp_owner_nm_field"):
        monkeypatch.setattr(registered, name, None)  # a shop that keeps no copy of the account
    customer = get_user_model().objects.create_user("link-customer")
    order = Order.objects.create(
        number="2026-0100",
        customer=customer,
        product="주전자",
        amount=10_000,
        payment_method="bank",
        paid_at=timezone.now(),
    )
    row = ShopRefund.objects.create(
        order=order, reference=ORDER, bank_code="", account_no="", holder_name="", verification=verified
    )
    client = logged_in("shop.view_refundrequest", "kcp_django.request_refund", "kcp_django.view_refund")

    page1 = start(client, row, SHOP_CHANGELIST)
    page2 = fill(client, page1, SHOP_CHANGELIST, kind="escrow-cancel", tno=TNO)
    done = client.post(reverse(SHOP_CHANGELIST), inputs(page2), follow=True)

    refund = Refund.objects.get()
    assert (refund.state, refund.verification_id, refund.reference) == ("ACCEPTED", verified.pk, ORDER)
    assert any("KCP accepted the refund" in text for text in messages_of(done))
