"""kcp_rotate_keys and kcp_purge on the real database: batches, resumption, loud failures, counts."""

from __future__ import annotations

import base64
import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from kcp_django.maintenance import rotate_keys as rotation
from kcp_django.maintenance.purge import purge_personal_data
from kcp_django.maintenance.rotate_keys import rotate_keys, rows_per_key
from kcp_django.models import AccountVerification, Refund
from kcp_django.payments import register_payment
from kcp_django.refunds import request_refund
from kcp_django.verifications import verify_refund_account

pytestmark = pytest.mark.django_db(transaction=True)

K2, K1 = settings.KCP_ENCRYPTION_KEYS
K0 = "k0:" + base64.urlsafe_b64encode(b"an-old-key-nobody-kept-anywhere!").decode()


def raw_column(pk: int, column: str = "account_no") -> Any:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # Identifiers come from this test, never from input.
        cursor.execute(f"SELECT {quote(column)} FROM kcp_django_accountverification WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def write_column(pk: int, column: str, value: str) -> None:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE kcp_django_accountverification SET {quote(column)} = %s WHERE id = %s", [value, pk])  # noqa: S608


def rows_under(keys: list[str], count: int, start: int = 0) -> dict[int, str]:
    """``count`` verified rows whose account numbers were encrypted with ``keys[0]``: pk -> digits."""
    made = {}
    with override_settings(KCP_ENCRYPTION_KEYS=keys):
        for number in range(start, start + count):
            digits = f"1002333{number:06d}"
            row = verify_refund_account(bank_code="04", account_no=digits, owner_nm="홍길동")
            made[row.pk] = digits
    return made


def assert_readable(made: dict[int, str]) -> None:
    for pk, digits in made.items():
        assert raw_column(pk).startswith("kcp1$k2$")
        assert AccountVerification.objects.get(pk=pk).account_no == digits


# --- key rotation ------------------------------------------------------------------------------


def test_rotation_re_encrypts_every_older_row_under_the_newest_key() -> None:
    made = rows_under([K1], 5) | rows_under([K2, K1], 2, start=5)
    assert rows_per_key() == {"k2": 2, "k1": 5, "(other)": 0}

    report = rotate_keys(batch_size=2)

    assert (report.newest_key, report.rotated, report.remaining, report.failed) == ("k2", 5, 0, [])
    assert rows_per_key() == {"k2": 7, "k1": 0, "(other)": 0}
    assert_readable(made)
    assert rotate_keys().rotated == 0, "nothing is left to do"


def test_rotation_stopped_midway_resumes_where_it_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    made = rows_under([K1], 7)
    calls = {"n": 0}
    real_reencrypt = rotation.reencrypt

    def interrupted(instance: Any, field_name: str) -> bool:
        calls["n"] += 1
        if calls["n"] == 5:  # the third batch of two: Ctrl-C, or the host going down
            raise KeyboardInterrupt
        return real_reencrypt(instance, field_name)

    monkeypatch.setattr(rotation, "reencrypt", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rotate_keys(batch_size=2)
    monkeypatch.undo()

    assert rows_per_key()["k2"] == 4, "finished batches stay committed; the interrupted one is rolled back"
    report = rotate_keys(batch_size=2)
    assert (report.rotated, report.remaining) == (3, 0)
    assert_readable(made)


def test_a_limit_stops_a_run_early_and_the_next_run_finishes() -> None:
    made = rows_under([K1], 5)

    first = rotate_keys(batch_size=2, limit=3)
    second = rotate_keys(batch_size=2)

    assert (first.rotated, first.remaining) == (3, 2)
    assert (second.rotated, second.remaining) == (2, 0)
    assert_readable(made)


def test_a_tampered_value_or_a_missing_key_fails_loudly_with_the_row_id() -> None:
    good = rows_under([K1], 3)
    tampered_pk, _ = next(iter(rows_under([K1], 1, start=10).items()))
    orphan_pk, _ = next(iter(rows_under([K0, K1], 1, start=20).items()))
    token = raw_column(tampered_pk)
    write_column(tampered_pk, "account_no", token[:-6] + ("AAAAAA" if token[-6:] != "AAAAAA" else "BBBBBB"))
    tampered_token, orphan_token = raw_column(tampered_pk), raw_column(orphan_pk)

    report = rotate_keys()

    assert report.rotated == 3
    failed = dict(report.failed)
    assert set(failed) == {tampered_pk, orphan_pk}
    assert f"pk={tampered_pk} field account_no" in failed[tampered_pk] and "altered" in failed[tampered_pk]
    assert f"pk={orphan_pk} field account_no" in failed[orphan_pk] and "'k0'" in failed[orphan_pk]
    assert report.remaining == 2
    assert (raw_column(tampered_pk), raw_column(orphan_pk)) == (tampered_token, orphan_token), "left as they were"
    assert_readable(good)

    err = StringIO()
    where = rf"kcp_django.AccountVerification.account_no ids {min(failed)}, {max(failed)}"
    with pytest.raises(CommandError, match=rf"2 row\(s\) could not be decrypted \({where}\)"):
        call_command("kcp_rotate_keys", stdout=StringIO(), stderr=err)
    assert f"kcp_django.AccountVerification.account_no row {tampered_pk}: Cannot decrypt" in err.getvalue()


def test_the_rotate_command_reports_counts_and_has_a_dry_run() -> None:
    rows_under([K1], 3)
    out = StringIO()

    call_command("kcp_rotate_keys", "--dry-run", stdout=out)
    call_command("kcp_rotate_keys", "--batch-size", "2", stdout=out)

    assert "kcp_django.AccountVerification.account_no rows per key: k2 0, k1 3, (other) 0" in out.getvalue()
    assert "kcp_django.AccountVerification.account_no: 3 rotated, 0 left" in out.getvalue()
    assert "newest key k2: re-encrypted 3, could not decrypt 0, left on older keys 0" in out.getvalue()


# --- purge ----------------------------------------------------------------------------------------


def aged(pk: int, days: int) -> None:
    AccountVerification.objects.filter(pk=pk).update(created_at=timezone.now() - dt.timedelta(days=days))


def test_purge_removes_numbers_and_names_from_old_final_rows_and_keeps_the_audit_trail() -> None:
    verified = verify_refund_account(bank_code="04", account_no="123-456-789012", owner_nm="홍길동", reference="r-1")
    rejected = verify_refund_account(bank_code="04", account_no="123-456-789012", owner_nm="홍불일치")
    AccountVerification.objects.filter(pk=rejected.pk).update(raw_response={"res_cd": "8104", "owner_nm": "홍*치"})
    for row in (verified, rejected):
        aged(row.pk, 200)

    report = purge_personal_data(older_than=dt.timedelta(days=180))

    assert (report.purged, report.left_open) == (2, 0)
    for before in (verified, rejected):
        after = AccountVerification.objects.get(pk=before.pk)
        assert raw_column(before.pk) is None
        assert after.account_no is None
        assert (after.owner_nm, after.account_index) == ("", "")
        assert after.purged_at is not None
        assert (after.state, after.res_cd, after.res_msg, after.tno, after.app_time, after.ordr_idxx) == (
            before.state,
            before.res_cd,
            before.res_msg,
            before.tno,
            before.app_time,
            before.ordr_idxx,
        )
        assert after.account_last4 == "9012" and after.account_no_masked == "********9012"
        assert set(after.raw_response) <= {"res_cd", "res_msg", "tno", "app_time", "ordr_idxx"}
    assert AccountVerification.objects.get(pk=verified.pk).reference == "r-1"
    assert AccountVerification.objects.get(pk=rejected.pk).raw_response == {"res_cd": "8104"}


def test_purge_leaves_recent_rows_and_open_rows_and_counts_the_open_ones() -> None:
    recent = verify_refund_account(bank_code="04", account_no="123-456-789012", owner_nm="홍길동")
    aged(recent.pk, 100)
    unknown = verify_refund_account(bank_code="04", account_no="999-000-1234", owner_nm="홍길동")
    aged(unknown.pk, 400)
    AccountVerification.objects.filter(pk=unknown.pk).update(needs_review=True)

    report = purge_personal_data(older_than=dt.timedelta(days=180))

    assert (report.purged, report.left_open) == (0, 1)
    assert AccountVerification.objects.get(pk=recent.pk).account_no == "123456789012"
    assert AccountVerification.objects.get(pk=unknown.pk).account_no == "9990001234"


def test_purge_in_batches_dry_run_first_then_once_only() -> None:
    made = rows_under([K2, K1], 5)
    for pk in made:
        aged(pk, 181)

    dry = purge_personal_data(older_than=dt.timedelta(days=180), dry_run=True)
    assert dry.purged == 5
    assert all(raw_column(pk) is not None for pk in made)

    assert purge_personal_data(older_than=dt.timedelta(days=180), batch_size=2).purged == 5
    assert purge_personal_data(older_than=dt.timedelta(days=180)).purged == 0
    assert all(raw_column(pk) is None for pk in made)
    assert rotate_keys().rotated == 0 and rows_per_key()["(other)"] == 0, "purged rows have nothing to rotate"


def test_the_purge_command_needs_its_threshold_and_reports_counts() -> None:
    row = verify_refund_account(bank_code="04", account_no="123-456-789012", owner_nm="홍길동")
    aged(row.pk, 200)
    out = StringIO()

    with pytest.raises(CommandError, match="--older-than"):
        call_command("kcp_purge")
    call_command("kcp_purge", "--older-than", "180d", "--dry-run", stdout=out)
    call_command("kcp_purge", "--older-than", "180d", stdout=out)

    assert "would purge 1 final rows" in out.getvalue()
    assert "purged 1 final rows" in out.getvalue()
    assert raw_column(row.pk) is None


# --- purge: the refunds' copies of the account ----------------------------------------------------


def refund_column(pk: int, column: str) -> Any:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote(column)} FROM kcp_django_refund WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def refund_of(tno: str, state: str, *, days: int, needs_review: bool = False) -> Refund:
    """A refund of a registered payment, sent through the sandbox to an account verified for its order,
    then moved to ``state`` and aged."""
    register_payment(tno=tno, amount=10_000, reference=f"order-{tno}")
    verification = verify_refund_account(
        bank_code="04", account_no="123-456-789012", owner_nm="홍길동", reference=f"order-{tno}"
    )
    refund = request_refund(kind="escrow-cancel", tno=tno, verification=verification, reason="단순 변심")
    assert refund.state == "ACCEPTED" and refund.owner_nm == "홍길동"
    Refund.objects.filter(pk=refund.pk).update(
        state=state,
        needs_review=needs_review,
        raw_response={"res_cd": "0000", "res_msg": "정상처리", "tno": tno, "mod_account": "********9012"},
        created_at=timezone.now() - dt.timedelta(days=days),
    )
    return Refund.objects.get(pk=refund.pk)


def test_purge_removes_account_and_holder_from_old_final_refunds_and_keeps_the_audit_trail() -> None:
    completed = refund_of("20260101000001", "COMPLETED", days=200)
    rejected = refund_of("20260101000002", "REJECTED", days=200)

    report = purge_personal_data(older_than=dt.timedelta(days=180))

    assert (report.refunds_purged, report.refunds_left_open) == (2, 0)
    for before in (completed, rejected):
        after = Refund.objects.get(pk=before.pk)
        assert refund_column(before.pk, "account_no") is None
        assert (refund_column(before.pk, "owner_nm"), refund_column(before.pk, "account_index")) == ("", "")
        assert after.account_no is None and after.account_no_masked == "********9012"
        assert after.raw_response == {"res_cd": "0000", "res_msg": "정상처리", "tno": before.tno}
        assert (after.state, after.kind, after.tno, after.res_cd, after.reason, after.ordr_idxx) == (
            before.state,
            before.kind,
            before.tno,
            before.res_cd,
            before.reason,
            before.ordr_idxx,
        )
    assert purge_personal_data(older_than=dt.timedelta(days=180)).refunds_purged == 0, "once only"


def test_purge_leaves_refunds_still_open_recent_or_for_review_and_counts_the_old_ones() -> None:
    accepted = refund_of("20260101000003", "ACCEPTED", days=200)
    unknown = refund_of("20260101000004", "UNKNOWN", days=200)
    flagged = refund_of("20260101000005", "COMPLETED", days=200, needs_review=True)
    recent = refund_of("20260101000006", "COMPLETED", days=100)

    dry = purge_personal_data(older_than=dt.timedelta(days=180), dry_run=True)
    report = purge_personal_data(older_than=dt.timedelta(days=180))

    assert (dry.refunds_purged, dry.refunds_left_open) == (0, 3)
    assert (report.refunds_purged, report.refunds_left_open) == (0, 3)
    for row in (accepted, unknown, flagged, recent):
        kept = Refund.objects.get(pk=row.pk)
        assert (kept.account_no, kept.owner_nm) == ("123456789012", "홍길동")


def test_the_purge_command_reports_refunds_too() -> None:
    row = refund_of("20260101000007", "COMPLETED", days=200)
    out = StringIO()

    call_command("kcp_purge", "--older-than", "180d", "--dry-run", stdout=out)
    assert refund_column(row.pk, "account_no") is not None
    call_command("kcp_purge", "--older-than", "180d", stdout=out)

    assert "refunds: would purge 1 final (COMPLETED/REJECTED)" in out.getvalue()
    assert "refunds: purged 1 final (COMPLETED/REJECTED), left 0 not final" in out.getvalue()
    assert refund_column(row.pk, "account_no") is None
