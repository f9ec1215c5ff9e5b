"""The mixin on a shop's own admin (tests.shopapp's RefundRequest)."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from example_project.shop.models import Order
from example_project.shop.models import RefundRequest as ShopRefund
from kcp_django.admin import KcpAccountActionsMixin
from kcp_django.gateways.sandbox import outbox
from kcp_django.maintenance.purge import purge_personal_data
from kcp_django.models import AccountVerification, BulkVerificationItem
from kcp_django.verifications import verify_refund_account
from tests.shopapp.models import RefundRequest
from tests.support.admin import ACTION, REFUND_CHANGELIST, confirmation_post, make_refunds, make_staff, run_action

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client() -> Client:
    staff = make_staff(
        "shop-staff",
        "shopapp.view_refundrequest",
        "kcp_django.verify_refund_account",
    )
    client = Client()
    client.force_login(staff)
    return client


def latest_column(client: Client) -> dict[str, str]:
    """Each refund's order number and the CSS class of its latest-verification badge."""
    response = client.get(reverse(REFUND_CHANGELIST))
    return {
        row.order_number: str(response.context["cl"].model_admin.kcp_latest_verification(row))
        .split('class="kcp-badge kcp-badge-')[1]
        .split('"')[0]
        for row in response.context["cl"].result_list
    }


def test_the_action_verifies_the_shops_rows_and_links_them_by_reference(client: Client) -> None:
    refunds = make_refunds(3)

    confirmation, done = run_action(client, REFUND_CHANGELIST, [r.pk for r in refunds])

    assert confirmation.context["calls"] == 3
    page = confirmation.content.decode()
    assert all(refund.account_no not in page for refund in refunds)
    assert "********" + refunds[0].account_no[-4:] in page
    assert done.status_code == 302
    assert len(outbox) == 3
    for refund in refunds:
        verification = AccountVerification.objects.get(reference=f"refund-{refund.pk}")
        assert (verification.state, verification.bank_code, verification.owner_nm) == ("VERIFIED", "88", "김환불")
        assert verification.account_no == refund.account_no


def test_rows_that_break_kcps_rules_are_counted_out_and_skipped_with_the_rule(client: Client) -> None:
    good = make_refunds(2)
    bad = make_refunds(1, holder_name="김;환불")[0]

    confirmation, _ = run_action(client, REFUND_CHANGELIST, [r.pk for r in [*good, bad]])

    assert (confirmation.context["calls"], confirmation.context["skipped"]) == (2, 1)
    assert "Refund R00000" in confirmation.content.decode()
    assert len(outbox) == 2
    skipped = BulkVerificationItem.objects.get(object_id=str(bad.pk))
    assert skipped.error == "owner_nm: forbidden_character"
    assert skipped.verification is None and skipped.finished_at is not None


def test_the_summary_counts_only_the_rows_sent_and_names_the_skipped_ones_apart(client: Client) -> None:
    good = make_refunds(3)
    bad = make_refunds(1, holder_name="김;환불")[0]

    _, done = run_action(client, REFUND_CHANGELIST, [r.pk for r in [*good, bad]])

    assert len(outbox) == 3
    (message,) = [str(m) for m in done.wsgi_request._messages]
    assert message.startswith("KCP로 3건을 전송했습니다: 인증 3건, 거절 0건, 응답 없음 0건.")
    assert "1건은 KCP 입력 규칙에 맞지 않거나 읽을 수 없어 전송하지 않고 건너뛰었습니다." in message


def test_the_summary_in_english_says_sent_and_skipped_separately(client: Client) -> None:
    good = make_refunds(2)
    bad = make_refunds(1, holder_name="김;환불")[0]
    url = reverse(REFUND_CHANGELIST)
    english = {"accept-language": "en"}
    confirmation = client.post(
        url, {"action": ACTION, "_selected_action": [str(r.pk) for r in [*good, bad]], "index": "0"}, headers=english
    )

    done = client.post(url, confirmation_post(confirmation), headers=english)

    (message,) = [str(m) for m in done.wsgi_request._messages]
    assert message == (
        "2 accounts sent to KCP: 2 verified, 0 rejected, 0 without an answer. "
        "1 row was skipped and not sent: it breaks KCP's input rules or could not be read."
    )


def test_the_column_shows_each_rows_latest_verification(client: Client) -> None:
    never, verified, rejected, changed, invalid = make_refunds(5)
    RefundRequest.objects.filter(pk=invalid.pk).update(bank_code="99")
    verify_refund_account(
        bank_code="88", account_no=rejected.account_no, owner_nm="김환불", reference=f"refund-{rejected.pk}"
    )
    rejected.account_no = "000-111-2222"  # the sandbox knows no such account
    rejected.save()
    for refund in (verified, changed, rejected):
        verify_refund_account(
            bank_code="88", account_no=refund.account_no, owner_nm="김환불", reference=f"refund-{refund.pk}"
        )
    changed.account_no = "110-222-333444"
    changed.save()

    badges = latest_column(client)

    assert badges == {
        never.order_number: "none",
        verified.order_number: "verified",
        rejected.order_number: "rejected",
        changed.order_number: "changed",
        invalid.order_number: "invalid",
    }


def test_the_column_costs_one_query_for_the_page(client: Client) -> None:
    for refund in make_refunds(5):
        verify_refund_account(
            bank_code="88", account_no=refund.account_no, owner_nm="김환불", reference=f"refund-{refund.pk}"
        )
    client.get(reverse(REFUND_CHANGELIST))
    with CaptureQueriesContext(connection) as five:
        client.get(reverse(REFUND_CHANGELIST))
    RefundRequest.objects.all().delete()
    for refund in make_refunds(50):
        verify_refund_account(
            bank_code="88", account_no=refund.account_no, owner_nm="김환불", reference=f"refund-{refund.pk}"
        )
    with CaptureQueriesContext(connection) as fifty:
        page = client.get(reverse(REFUND_CHANGELIST))

    assert page.content.decode().count("kcp-badge-verified") == 50
    assert len(fifty) == len(five)


def test_without_the_permission_the_shop_list_has_no_verify_action() -> None:
    make_refunds(1)
    viewer = make_staff("viewer", "shopapp.view_refundrequest")
    client = Client()
    client.force_login(viewer)

    page = client.get(reverse(REFUND_CHANGELIST)).content.decode()

    assert ACTION not in page


def test_a_mixin_without_its_attributes_says_which_to_set() -> None:
    class IncompleteAdmin(KcpAccountActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
        kcp_bank_code_field = "bank_code"

    model_admin = IncompleteAdmin(RefundRequest, admin.AdminSite(name="incomplete"))

    with pytest.raises(ImproperlyConfigured, match="kcp_account_no_field, kcp_owner_nm_field"):
        model_admin.kcp_account_source()
    assert [message.id for message in model_admin.check()] == ["kcp_django.E010"]


# A model whose rows link their verification (the example shop's RefundRequest) ---------------------

SHOP_REFUNDS = "admin:shop_refundrequest_changelist"


@pytest.fixture
def shop_staff() -> Client:
    client = Client()
    client.force_login(make_staff("refund-desk", "shop.view_refundrequest"))
    return client


def shop_refund(number: str) -> ShopRefund:
    """A refund made, as the example shop makes it, from its customer's verified account."""
    customer = get_user_model().objects.create_user(f"customer-{number}")
    order = Order.objects.create(
        number=number, customer=customer, product="주전자", amount=1000, payment_method="bank", paid_at=timezone.now()
    )
    verification = verify_refund_account(
        bank_code="04", account_no="110-987-654321", owner_nm="홍길동", reference=order.refund_reference, user=customer
    )
    return ShopRefund.objects.create(
        order=order,
        reference=order.refund_reference,
        bank_code=verification.bank_code,
        account_no=verification.account_no,
        holder_name=verification.owner_nm,
        verification=verification,
    )


def shop_badges(client: Client) -> dict[str, tuple[str, str]]:
    """Each refund's reference, and the CSS class and title of its badge."""
    response = client.get(reverse(SHOP_REFUNDS))
    badges = {}
    for row in response.context["cl"].result_list:
        with translation.override("ko"):
            badge = str(response.context["cl"].model_admin.kcp_latest_verification(row))
        css = badge.split('class="kcp-badge kcp-badge-')[1].split('"')[0]
        title = badge.split('title="')[1].split('"')[0]
        badges[row.reference] = (css, title)
    return badges


def test_the_badge_is_the_linked_verification_not_a_later_one_under_the_same_reference(shop_staff: Client) -> None:
    refund = shop_refund("2026-0002")
    verify_refund_account(bank_code="88", account_no="000-999-888777", owner_nm="남의이름", reference=refund.reference)

    css, _ = shop_badges(shop_staff)[refund.reference]

    assert css == "verified"


def test_account_changed_is_judged_against_the_linked_verification(shop_staff: Client) -> None:
    changed, same = shop_refund("2026-0003"), shop_refund("2026-0004")
    ShopRefund.objects.filter(pk=changed.pk).update(holder_name="홍길순")

    badges = shop_badges(shop_staff)

    assert badges[same.reference][0] == "verified"
    assert badges[changed.reference] == (
        "changed",
        "행의 계좌 또는 예금주가 연결된 인증의 계좌와 다릅니다.",
    )


def test_a_purged_linked_verification_keeps_its_state_instead_of_account_changed(shop_staff: Client) -> None:
    refund = shop_refund("2026-0005")
    AccountVerification.objects.update(created_at=timezone.now() - dt.timedelta(days=400))
    assert purge_personal_data(older_than=dt.timedelta(days=180)).purged == 1

    css, title = shop_badges(shop_staff)[refund.reference]

    assert css == "verified"
    assert title == "인증의 계좌와 예금주가 파기되어 더 이상 비교할 수 없습니다."


def test_a_verification_field_that_is_not_a_link_to_a_verification_fails_the_check() -> None:
    class WrongLinkAdmin(KcpAccountActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
        kcp_bank_code_field = "bank_code"
        kcp_account_no_field = "account_no"
        kcp_owner_nm_field = "holder_name"
        kcp_verification_field = "order"

    model_admin = WrongLinkAdmin(ShopRefund, admin.AdminSite(name="wrong-link"))

    (message,) = model_admin.check()
    assert message.id == "kcp_django.E013"
    assert "kcp_verification_field" in message.msg and "'order'" in message.msg


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("kcp_django.admin", "VerifyRefundAccountMixin", "KcpAccountActionsMixin"),
        ("kcp_django.admin.mixin", "VerifyRefundAccountMixin", "KcpAccountActionsMixin"),
        ("kcp_django.admin.base", "RefundAccountAdmin", "AccountSourceAdmin"),
        ("kcp_django.admin.refund_action", "RefundActionAdmin", "RefundToVerifiedAccountAdmin"),
    ],
)
def test_the_admin_classes_old_names_still_import_with_a_warning(module: str, old: str, new: str) -> None:
    imported = importlib.import_module(module)
    with pytest.deprecated_call(match=new):
        assert getattr(imported, old) is getattr(imported, new)


# A model admin that names only the link to each row's verification -------------------------------


class LinkOnlyAdmin(KcpAccountActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    kcp_verification_field = "verification"
    kcp_reference_field = "reference"


def test_the_link_alone_passes_the_check() -> None:
    model_admin = LinkOnlyAdmin(ShopRefund, admin.AdminSite(name="link-only"))

    assert model_admin.check() == []


@pytest.fixture
def link_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example shop's admin as a shop that keeps no account fields would configure it."""
    registered = admin.site.get_model_admin(ShopRefund)
    for name in ("kcp_bank_code_field", "kcp_account_no_field", "kcp_owner_nm_field"):
        monkeypatch.setattr(registered, name, None)


@pytest.mark.usefixtures("link_only")
def test_with_the_link_alone_the_column_shows_the_linked_state_and_only_the_refund_is_offered() -> None:
    verified, failed = shop_refund("2026-0011"), shop_refund("2026-0012")
    AccountVerification.objects.filter(pk=failed.verification_id).update(state="FAILED", res_msg="예금주 불일치")
    ShopRefund.objects.filter(pk=verified.pk).update(holder_name="")  # not read: the link is the truth
    client = Client()
    client.force_login(
        make_staff(
            "link-desk", "shop.view_refundrequest", "kcp_django.verify_refund_account", "kcp_django.request_refund"
        )
    )

    badges = shop_badges(client)
    page = client.get(reverse(SHOP_REFUNDS)).content.decode()

    assert badges[verified.reference][0] == "verified"
    assert badges[failed.reference] == ("failed", "예금주 불일치")
    assert "kcp_refund_to_verified_account" in page
    assert ACTION not in page
    assert "kcp-badge-invalid" not in page


def test_a_row_with_no_account_entered_and_no_verification_reads_not_verified(client: Client) -> None:
    [empty, bad] = make_refunds(2)
    RefundRequest.objects.filter(pk=empty.pk).update(bank_code="", account_no="", holder_name="")
    RefundRequest.objects.filter(pk=bad.pk).update(bank_code="zz")

    badges = latest_column(client)

    assert badges[empty.order_number] == "none"
    assert badges[bad.order_number] == "invalid"
