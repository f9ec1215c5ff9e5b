"""kcp_django.fields.EncryptedTextField on a real database (models in tests/fieldapp)."""

from __future__ import annotations

import base64
import pickle
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection, models

from kcp_django.crypto import blind_index
from kcp_django.exceptions import DecryptionError
from kcp_django.fields import EncryptedTextField, reencrypt
from tests.fieldapp.models import Holder, OtherHolder

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
