"""kcp_rotate_keys and kcp_reindex reach every encrypted field of every installed model, not only
kcp_django's own: the example shop's refund account, tests/shopapp's and tests/fieldapp's."""

from __future__ import annotations

import base64
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection, models
from django.test import override_settings
from django.utils import timezone

from example_project.shop.models import Order
from example_project.shop.models import RefundRequest as ExampleRefund
from kcp_django.verifications import verify_refund_account
from tests.fieldapp.models import Holder
from tests.shopapp.models import RefundRequest as ShopRefund

pytestmark = pytest.mark.django_db(transaction=True)

K2, K1 = settings.KCP_ENCRYPTION_KEYS
GONE_KEY = "k0:" + base64.urlsafe_b64encode(b"an-old-key-nobody-kept-anywhere!").decode()


def raw(model: type[models.Model], pk: Any, column: str = "account_no") -> Any:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # Identifiers come from the test's own models, never from input.
        cursor.execute(f"SELECT {quote(column)} FROM {quote(model._meta.db_table)} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def example_refund(number: str) -> ExampleRefund:
    user = get_user_model().objects.create_user(f"buyer-{number}", password="pw")
    order = Order.objects.create(
        number=f"T-{number}", customer=user, product="mug", amount=1000, payment_method="vbank", paid_at=timezone.now()
    )
    verification = verify_refund_account(bank_code="04", account_no=number, owner_nm="홍길동")
    return ExampleRefund.objects.create(
        order=order,
        reference=f"refund-T-{number}",
        bank_code="04",
        account_no=number,
        holder_name="홍길동",
        verification=verification,
    )


def stored_under_k1() -> dict[str, Any]:
    with override_settings(KCP_ENCRYPTION_KEYS=[K1]):
        return {
            "example": example_refund("100233300001"),
            "shop": ShopRefund.objects.create(
                order_number="o-1", bank_code="04", account_no="100233300002", holder_name="홍길동"
            ),
            "holder": Holder.objects.create(account_no="100233300003", memo="call first"),
        }


def test_rotation_re_encrypts_every_models_encrypted_fields_and_reports_each() -> None:
    rows = stored_under_k1()
    out = StringIO()

    call_command("kcp_rotate_keys", stdout=out)

    for line in (
        "kcp_django.AccountVerification.account_no: 1 rotated, 0 left",
        "shop.RefundRequest.account_no: 1 rotated, 0 left",
        "shopapp.RefundRequest.account_no: 1 rotated, 0 left",
        "fieldapp.Holder.account_no: 1 rotated, 0 left",
        "fieldapp.Holder.memo: 1 rotated, 0 left",
        "fieldapp.OtherHolder.account_no: 0 rotated, 0 left",
        "re-encrypted 5, could not decrypt 0, left on older keys 0",
    ):
        assert line in out.getvalue()
    assert raw(ExampleRefund, rows["example"].pk).startswith("kcp1$k2$")
    assert raw(Holder, rows["holder"].pk, "memo").startswith("kcp1$k2$")
    # The docs' last step: the old key is dropped, and every value still reads.
    with override_settings(KCP_ENCRYPTION_KEYS=[K2]):
        assert ExampleRefund.objects.get(pk=rows["example"].pk).account_no == "100233300001"
        assert ShopRefund.objects.get(pk=rows["shop"].pk).account_no == "100233300002"
        holder = Holder.objects.get(pk=rows["holder"].pk)
        assert (holder.account_no, holder.memo) == ("100233300003", "call first")


def test_rotation_across_models_stops_at_its_limit_and_the_next_run_finishes() -> None:
    rows = stored_under_k1()
    first, second = StringIO(), StringIO()

    call_command("kcp_rotate_keys", "--limit", "3", "--batch-size", "2", stdout=first)
    call_command("kcp_rotate_keys", stdout=second)

    assert "re-encrypted 3, could not decrypt 0, left on older keys 2" in first.getvalue()
    assert "re-encrypted 2, could not decrypt 0, left on older keys 0" in second.getvalue()
    with override_settings(KCP_ENCRYPTION_KEYS=[K2]):
        assert ShopRefund.objects.get(pk=rows["shop"].pk).account_no == "100233300002"


def test_a_shop_value_that_cannot_be_decrypted_is_named_by_model_and_row() -> None:
    with override_settings(KCP_ENCRYPTION_KEYS=[GONE_KEY, K1]):
        orphan = ShopRefund.objects.create(order_number="o-9", bank_code="04", account_no="1", holder_name="x")
    err = StringIO()

    with pytest.raises(CommandError, match=rf"\(shopapp.RefundRequest.account_no ids {orphan.pk}\)"):
        call_command("kcp_rotate_keys", stdout=StringIO(), stderr=err)

    assert f"shopapp.RefundRequest.account_no row {orphan.pk}: Cannot decrypt RefundRequest" in err.getvalue()
