"""kcp_django.fields.EncryptedTextField on a real database (models in tests/fieldapp)."""

from __future__ import annotations

import base64
import pickle
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.core.serializers.base import DeserializationError
from django.db import connection, models
from django.forms import modelform_factory
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from example_project.shop.models import Order
from example_project.shop.models import RefundRequest as ExampleRefund
from kcp_django.crypto import KeyRing, blind_index
from kcp_django.exceptions import DecryptionError
from kcp_django.fields import EncryptedTextField, reencrypt
from kcp_django.verifications import verify_refund_account
from tests.fieldapp.models import Holder, OtherHolder
from tests.shopapp.models import RefundRequest as ShopRefund
from tests.support.admin import make_staff

pytestmark = pytest.mark.django_db

NUMBER = "123-456-789012"
K2, K1 = django_settings.KCP_ENCRYPTION_KEYS


def read_raw(model: type[models.Model], pk: Any, column: str = "account_no") -> str | None:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # Identifiers come from the test's own models, never from input.
        cursor.execute(f"SELECT {quote(column)} FROM {quote(model._meta.db_table)} WHERE id = %s", [pk])  # noqa: S608
        value: str | None = cursor.fetchone()[0]
        return value


def token_of(model: type[models.Model], pk: Any, column: str = "account_no") -> str:
    value = read_raw(model, pk, column)
    assert value is not None
    return value


def write_raw(model: type[models.Model], pk: Any, column: str, value: str) -> None:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {quote(model._meta.db_table)} SET {quote(column)} = %s WHERE id = %s", [value, pk])  # noqa: S608


def tamper(token: str, position: int) -> str:
    header, data = token.rsplit("$", 1)
    blob = bytearray(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    blob[position] ^= 0x01
    return f"{header}${base64.urlsafe_b64encode(bytes(blob)).rstrip(b'=').decode()}"


def test_round_trip_keeps_only_ciphertext_in_the_column() -> None:
    holder = Holder.objects.create(account_no=NUMBER)
    raw = token_of(Holder, holder.pk)
    assert raw.startswith("kcp1$k2$")
    for plain in (NUMBER, "123456789012", "789012"):
        assert plain not in raw
    assert Holder.objects.get(pk=holder.pk).account_no == NUMBER
    assert holder.account_no == NUMBER


def test_same_number_encrypts_differently_in_each_row() -> None:
    first = Holder.objects.create(account_no=NUMBER)
    second = Holder.objects.create(account_no=NUMBER)
    assert read_raw(Holder, first.pk) != read_raw(Holder, second.pk)
    assert {holder.account_no for holder in Holder.objects.all()} == {NUMBER}


def test_saving_without_a_change_keeps_the_token() -> None:
    holder = Holder.objects.create(account_no=NUMBER)
    token = read_raw(Holder, holder.pk)
    holder.save()
    assert read_raw(Holder, holder.pk) == token

    loaded = Holder.objects.get(pk=holder.pk)
    assert loaded.account_no == NUMBER
    loaded.account_index = "x"
    loaded.save()
    assert read_raw(Holder, holder.pk) == token

    loaded.account_no = "999-999-999999"
    loaded.save()
    assert read_raw(Holder, holder.pk) != token
    assert Holder.objects.get(pk=holder.pk).account_no == "999-999-999999"


def test_tampered_byte_fails_on_read_naming_the_row_and_field() -> None:
    holder = Holder.objects.create(account_no=NUMBER, account_index="idx")
    token = token_of(Holder, holder.pk)
    write_raw(Holder, holder.pk, "account_no", tamper(token, 20))

    loaded = Holder.objects.get(pk=holder.pk)  # loading stays possible; only reading the value fails
    assert loaded.account_index == "idx"
    with pytest.raises(DecryptionError, match=rf"Holder pk={holder.pk} field account_no: authentication failed"):
        _ = loaded.account_no


def test_token_moved_to_another_field_or_model_fails() -> None:
    holder = Holder.objects.create(account_no=NUMBER, memo="note")
    other = OtherHolder.objects.create(account_no="000")
    token = token_of(Holder, holder.pk)
    write_raw(Holder, holder.pk, "memo", token)
    write_raw(OtherHolder, other.pk, "account_no", token)

    with pytest.raises(DecryptionError, match=rf"Holder pk={holder.pk} field memo: authentication failed"):
        _ = Holder.objects.get(pk=holder.pk).memo
    with pytest.raises(DecryptionError, match=rf"OtherHolder pk={other.pk} field account_no"):
        _ = OtherHolder.objects.get(pk=other.pk).account_no


def test_rotation_to_a_new_key(settings: Any) -> None:
    settings.KCP_ENCRYPTION_KEYS = [K1]
    holder = Holder.objects.create(account_no=NUMBER)
    stale = Holder.objects.create(account_no="111-222-333333")
    assert token_of(Holder, holder.pk).startswith("kcp1$k1$")

    settings.KCP_ENCRYPTION_KEYS = [K2, K1]
    loaded = Holder.objects.get(pk=holder.pk)
    assert loaded.account_no == NUMBER
    assert reencrypt(loaded, "account_no") is True
    loaded.save(update_fields=["account_no"])
    assert token_of(Holder, holder.pk).startswith("kcp1$k2$")
    again = Holder.objects.get(pk=holder.pk)
    assert reencrypt(again, "account_no") is False
    assert reencrypt(again, "memo") is False  # NULL

    settings.KCP_ENCRYPTION_KEYS = [K2]
    assert Holder.objects.get(pk=holder.pk).account_no == NUMBER
    with pytest.raises(DecryptionError, match=r"pk=\d+ field account_no: .*key 'k1'.*KCP_ENCRYPTION_KEYS"):
        _ = Holder.objects.get(pk=stale.pk).account_no
    with pytest.raises(DecryptionError, match="key 'k1'"):
        reencrypt(Holder.objects.get(pk=stale.pk), "account_no")


def test_reencrypt_loads_a_deferred_field(settings: Any) -> None:
    settings.KCP_ENCRYPTION_KEYS = [K1]
    holder = Holder.objects.create(account_no=NUMBER)
    settings.KCP_ENCRYPTION_KEYS = [K2, K1]
    deferred = Holder.objects.only("id").get(pk=holder.pk)
    assert reencrypt(deferred, "account_no") is True
    deferred.save(update_fields=["account_no"])
    assert Holder.objects.only("id").get(pk=holder.pk).account_no == NUMBER
    assert token_of(Holder, holder.pk).startswith("kcp1$k2$")


@pytest.mark.parametrize(
    "lookup",
    [
        {"account_no": NUMBER},
        {"account_no__iexact": NUMBER},
        {"account_no__startswith": "123"},
        {"account_no__contains": "456"},
        {"account_no__in": [NUMBER]},
        {"account_no__gt": "1"},
        {"account_no__lower": NUMBER},
    ],
)
def test_lookups_on_the_value_point_to_the_blind_index(lookup: dict[str, Any]) -> None:
    with pytest.raises(FieldError, match=r"account_no is encrypted.*account_index \(kcp_django.crypto.blind_index\)"):
        Holder.objects.filter(**lookup)
    with pytest.raises(FieldError, match="blind_index"):
        Holder.objects.exclude(**lookup)


def test_lookup_error_without_a_named_index_column() -> None:
    with pytest.raises(FieldError, match="look it up by a blind index column"):
        OtherHolder.objects.filter(account_no="1")


def test_rows_are_found_by_their_blind_index() -> None:
    holder = Holder.objects.create(account_no=NUMBER, account_index=blind_index("04", NUMBER))
    Holder.objects.create(account_no=NUMBER, account_index=blind_index("88", NUMBER))
    assert Holder.objects.get(account_index=blind_index("4", "123 456 789012")) == holder


def test_isnull_and_none() -> None:
    empty = Holder.objects.create(account_no=NUMBER, memo=None)
    noted = Holder.objects.create(account_no=NUMBER, memo="note")
    assert read_raw(Holder, empty.pk, "memo") is None
    assert list(Holder.objects.filter(memo__isnull=True)) == [empty]
    assert list(Holder.objects.filter(memo__isnull=False)) == [noted]
    assert list(Holder.objects.filter(memo=None)) == [empty]
    assert list(Holder.objects.exclude(memo=None)) == [noted]
    assert Holder.objects.get(pk=empty.pk).memo is None


def test_update_and_bulk_writes_encrypt() -> None:
    holder = Holder.objects.create(account_no=NUMBER)
    Holder.objects.filter(pk=holder.pk).update(account_no="555-555")
    assert token_of(Holder, holder.pk).startswith("kcp1$k2$")
    assert Holder.objects.get(pk=holder.pk).account_no == "555-555"

    Holder.objects.bulk_create([Holder(account_no="777-777")])
    loaded = Holder.objects.exclude(pk=holder.pk).get()
    assert token_of(Holder, loaded.pk).startswith("kcp1$k2$")
    loaded.account_no = "888-888-888888"
    Holder.objects.bulk_update([loaded], ["account_no"])
    assert "888888" not in token_of(Holder, loaded.pk)
    assert Holder.objects.get(pk=loaded.pk).account_no == "888-888-888888"


def test_values_and_pickles_carry_no_plaintext() -> None:
    holder = Holder.objects.create(account_no=NUMBER)
    [token] = Holder.objects.values_list("account_no", flat=True)
    assert token == read_raw(Holder, holder.pk)

    loaded = Holder.objects.get(pk=holder.pk)
    assert loaded.account_no == NUMBER
    pickled = pickle.dumps(loaded)
    assert b"789012" not in pickled
    assert pickle.loads(pickled).account_no == NUMBER  # noqa: S301 (our own bytes)


def test_no_key_reaches_the_migrations() -> None:
    field = Holder._meta.get_field("account_no")
    assert isinstance(field, EncryptedTextField)
    _, path, args, kwargs = field.deconstruct()
    assert path == "kcp_django.fields.EncryptedTextField"
    assert (args, kwargs) == ([], {"blind_index_field": "account_index"})
    # The committed migration matches the models (and so holds no key either).
    call_command("makemigrations", "fieldapp", "--check", "--dry-run", stdout=StringIO())


# --- dumpdata / loaddata: backups hold ciphertext, and load back as the same tokens ----------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_dumpdata_writes_the_stored_tokens_and_loaddata_reads_them_back(fmt: str, tmp_path: Any) -> None:
    holder = Holder.objects.create(account_no=NUMBER, account_index=blind_index("04", NUMBER), memo="call 0101234")
    empty = Holder.objects.create(account_no="987-654-321098", memo=None)
    tokens = {pk: (token_of(Holder, pk), read_raw(Holder, pk, "memo")) for pk in (holder.pk, empty.pk)}
    out = StringIO()

    call_command("dumpdata", "fieldapp.Holder", format=fmt, stdout=out)

    dump = out.getvalue()
    for plain in ("789012", "321098", "0101234"):
        assert plain not in dump
    assert tokens[holder.pk][0] in dump and tokens[empty.pk][0] in dump

    Holder.objects.all().delete()
    backup = tmp_path / f"holders.{fmt}"
    backup.write_text(dump, encoding="utf-8")
    call_command("loaddata", str(backup), stdout=StringIO())

    # Django's raw save writes the attribute (the plaintext), so each value is encrypted afresh,
    # once: the column decrypts to the number itself, not to the token of the dump.
    keyring = KeyRing.from_settings()
    for pk, number in ((holder.pk, NUMBER), (empty.pk, "987-654-321098")):
        token = token_of(Holder, pk)
        assert token.startswith("kcp1$k2$") and token != tokens[pk][0]
        assert keyring.decrypt(token, associated_data=b"fieldapp.holder.account_no") == number
    assert read_raw(Holder, empty.pk, "memo") is None
    loaded = Holder.objects.get(pk=holder.pk)
    assert (loaded.account_no, loaded.memo) == (NUMBER, "call 0101234")
    assert Holder.objects.get(account_index=blind_index("04", NUMBER)) == loaded
    assert Holder.objects.get(pk=empty.pk).memo is None


def test_loaddata_refuses_a_token_it_cannot_decrypt_for_that_field(settings: Any, tmp_path: Any) -> None:
    other = OtherHolder.objects.create(account_no=NUMBER)
    moved = token_of(OtherHolder, other.pk)  # a token of another model's field
    settings.KCP_ENCRYPTION_KEYS = ["k9:" + base64.urlsafe_b64encode(b"a-key-that-is-gone-from-settings").decode()]
    gone = str(Holder._meta.get_field("account_no").encrypt("111-222-333444"))  # type: ignore[union-attr]
    settings.KCP_ENCRYPTION_KEYS = [K2, K1]

    for token, problem in ((moved, "authentication failed"), (gone, "'k9'")):
        backup = tmp_path / "bad.json"
        backup.write_text(f'[{{"model": "fieldapp.holder", "pk": 7, "fields": {{"account_no": "{token}"}}}}]')
        with pytest.raises(
            DeserializationError, match=r"fieldapp\.Holder\.account_no에 이 필드에서 복호화할 수 없는 암호문"
        ) as caught:
            call_command("loaddata", str(backup), stdout=StringIO())
        assert problem in str(caught.value)
        assert not Holder.objects.filter(pk=7).exists()


def test_an_unsaved_instance_serialises_as_a_token_too() -> None:
    holder = Holder(account_no=NUMBER)
    field = Holder._meta.get_field("account_no")
    token = field.value_to_string(holder)
    assert token.startswith("kcp1$k2$") and "789012" not in token
    assert KeyRing.from_settings().decrypt(token, associated_data=b"fieldapp.holder.account_no") == NUMBER


# --- model forms: the stored value is never rendered ---------------------------------------------

HolderForm = modelform_factory(Holder, fields=["account_no", "account_index", "memo"])


def test_a_model_form_shows_only_the_masked_value_and_keeps_it_when_left_empty() -> None:
    holder = Holder.objects.create(account_no=NUMBER, memo="call 0101234")
    token = token_of(Holder, holder.pk)

    page = str(HolderForm(instance=Holder.objects.get(pk=holder.pk)))

    assert "789012" not in page and "0101234" not in page and "<textarea" not in page
    assert 'placeholder="********9012"' in page
    assert 'autocomplete="off"' in page
    assert "required" not in page.split('name="account_no"')[1].split(">")[0], "may stay empty on a change form"

    form = HolderForm({"account_no": "", "account_index": "", "memo": ""}, instance=Holder.objects.get(pk=holder.pk))
    assert form.is_valid(), form.errors
    assert "account_no" not in form.changed_data
    form.save()
    assert token_of(Holder, holder.pk) == token, "left empty: the stored value stays"
    assert Holder.objects.get(pk=holder.pk).memo == "call 0101234"


def test_a_value_typed_into_the_model_form_replaces_the_stored_one_and_is_not_echoed() -> None:
    holder = Holder.objects.create(account_no=NUMBER)

    form = HolderForm({"account_no": "555-000-1234", "account_index": "", "memo": ""}, instance=holder)
    assert form.is_valid(), form.errors
    assert form.changed_data == ["account_no"]
    form.save()
    assert Holder.objects.get(pk=holder.pk).account_no == "555-000-1234"
    assert "555" not in token_of(Holder, holder.pk)

    # Sent back with an error elsewhere: the typed number is not put back into the page.
    too_long = HolderForm({"account_no": "777-000-5678", "account_index": "x" * 65, "memo": ""}, instance=holder)
    assert not too_long.is_valid()
    page = str(too_long)
    assert "5678" not in page and 'placeholder="********1234"' in page


def test_an_add_form_needs_the_value_it_would_store() -> None:
    page = str(HolderForm())
    assert "required" in page.split('name="account_no"')[1].split(">")[0]
    assert "placeholder" not in page.split('name="account_no"')[1].split(">")[0]

    empty = HolderForm({"account_no": "", "account_index": "", "memo": ""})
    assert not empty.is_valid()
    assert "account_no" in empty.errors

    filled = HolderForm({"account_no": NUMBER, "account_index": "", "memo": ""})
    assert filled.is_valid(), filled.errors
    saved = filled.save()
    assert Holder.objects.get(pk=saved.pk).account_no == NUMBER
    assert Holder.objects.get(pk=saved.pk).memo is None


def test_a_shops_admin_adds_and_changes_a_refund_without_showing_its_account_number() -> None:
    staff = make_staff("refund-clerk", "shopapp.add_refundrequest", "shopapp.change_refundrequest")
    client = Client()
    client.force_login(staff)
    fields = {"order_number": "o-1", "bank_code": "88", "holder_name": "김환불", "amount": "1000"}

    added = client.post(reverse("admin:shopapp_refundrequest_add"), {**fields, "account_no": NUMBER})
    assert added.status_code == 302
    refund = ShopRefund.objects.get()
    assert refund.account_no == NUMBER
    token = token_of(ShopRefund, refund.pk)

    change_url = reverse("admin:shopapp_refundrequest_change", args=[refund.pk])
    page = client.get(change_url).content.decode()
    assert "789012" not in page and "<textarea" not in page.split('name="account_no"')[0][-200:]
    assert 'placeholder="********9012"' in page
    assert "비워 두면 저장된 값이 그대로 유지되고" in page, "the hint is translated"

    kept = client.post(change_url, {**fields, "holder_name": "김환불이", "account_no": ""})
    assert kept.status_code == 302
    assert token_of(ShopRefund, refund.pk) == token
    assert ShopRefund.objects.get(pk=refund.pk).holder_name == "김환불이"

    replaced = client.post(change_url, {**fields, "account_no": "555-000-1234"})
    assert replaced.status_code == 302
    assert ShopRefund.objects.get(pk=refund.pk).account_no == "555-000-1234"


def test_the_example_shops_refund_admin_still_changes_a_refund_and_keeps_its_account() -> None:
    user = get_user_model().objects.create_user("buyer", password="pw")
    order = Order.objects.create(
        number="T-1", customer=user, product="mug", amount=1000, payment_method="vbank", paid_at=timezone.now()
    )
    verification = verify_refund_account(bank_code="04", account_no=NUMBER, owner_nm="홍길동", reference="refund-T-1")
    refund = ExampleRefund.objects.create(
        order=order,
        reference="refund-T-1",
        bank_code="04",
        account_no=verification.account_no,
        holder_name="홍길동",
        verification=verification,
    )
    token = token_of(ExampleRefund, refund.pk)
    client = Client()
    client.force_login(make_staff("shop-clerk", "shop.view_refundrequest", "shop.change_refundrequest"))
    url = reverse("admin:shop_refundrequest_change", args=[refund.pk])

    page = client.get(url).content.decode()
    changed = client.post(url, {"status": "paid"})

    assert "789012" not in page
    assert changed.status_code == 302
    assert ExampleRefund.objects.get(pk=refund.pk).status == "paid"
    assert token_of(ExampleRefund, refund.pk) == token
