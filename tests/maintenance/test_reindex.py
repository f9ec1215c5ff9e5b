"""kcp_reindex: every blind index moved from an old KCP_INDEX_KEY to the configured one, on the real
database, across models (kcp_django's own and tests/fieldapp's, which keeps no bank code)."""

from __future__ import annotations

import base64
import datetime as dt
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from kcp_django import conf
from kcp_django.crypto import blind_index
from kcp_django.models import AccountVerification
from kcp_django.verifications import verify_refund_account
from tests.fieldapp.models import Holder

pytestmark = pytest.mark.django_db(transaction=True)

OLD_INDEX_KEY = base64.urlsafe_b64encode(b"the-index-key-of-an-earlier-year").decode()


def indexed_under_old_key() -> tuple[list[AccountVerification], Holder]:
    with override_settings(KCP_INDEX_KEY=OLD_INDEX_KEY):
        made = [
            verify_refund_account(bank_code=code, account_no=f"1002333{n:05d}", owner_nm="홍길동")
            for n, code in enumerate(["04", "88", "04"])
        ]
        # A model that keeps no bank code: the code is found again from the old index.
        holder = Holder.objects.create(account_no="555-000-1234", account_index=blind_index("88", "5550001234"))
    return made, holder


def test_reindex_moves_every_blind_index_to_the_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    made, holder = indexed_under_old_key()
    assert not AccountVerification.objects.filter(account_index=blind_index("04", "100233300000")).exists()
    monkeypatch.setenv("KCP_OLD_INDEX_KEY", OLD_INDEX_KEY)
    out = StringIO()

    call_command("kcp_reindex", "--old-key-env", "KCP_OLD_INDEX_KEY", "--batch-size", "2", stdout=out)

    assert "kcp_django.AccountVerification.account_index: 3 rebuilt, 0 already under the new key, 0 left" in (
        out.getvalue()
    )
    assert "fieldapp.Holder.account_index: 1 rebuilt, 0 already under the new key, 0 left" in out.getvalue()
    for row in made:
        found = AccountVerification.objects.get(account_index=blind_index(row.bank_code, row.account_no))
        assert found.pk == row.pk
    assert Holder.objects.get(account_index=blind_index("88", "5550001234")).pk == holder.pk
    assert OLD_INDEX_KEY not in out.getvalue()


def test_reindex_stopped_by_a_limit_carries_on_and_skips_rows_already_done(monkeypatch: pytest.MonkeyPatch) -> None:
    made, _ = indexed_under_old_key()
    newer = verify_refund_account(bank_code="04", account_no="100233399999", owner_nm="홍길동")
    monkeypatch.setenv("KCP_OLD_INDEX_KEY", OLD_INDEX_KEY)
    first, second = StringIO(), StringIO()

    call_command("kcp_reindex", "--old-key-env", "KCP_OLD_INDEX_KEY", "--limit", "2", stdout=first)
    call_command("kcp_reindex", "--old-key-env", "KCP_OLD_INDEX_KEY", stdout=second)

    assert "kcp_django.AccountVerification.account_index: 2 rebuilt, 0 already under the new key, 2 left" in (
        first.getvalue()
    )
    assert "kcp_django.AccountVerification.account_index: 1 rebuilt, 3 already under the new key, 0 left" in (
        second.getvalue()
    )
    for row in [*made, newer]:
        assert AccountVerification.objects.get(account_index=blind_index(row.bank_code, row.account_no)).pk == row.pk


def test_reindex_refuses_a_missing_variable_the_same_key_and_reports_strangers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made, _ = indexed_under_old_key()
    AccountVerification.objects.filter(pk=made[1].pk).update(account_index="0" * 64)
    monkeypatch.delenv("KCP_OLD_INDEX_KEY", raising=False)
    with pytest.raises(CommandError, match="environment variable KCP_OLD_INDEX_KEY is not set"):
        call_command("kcp_reindex", "--old-key-env", "KCP_OLD_INDEX_KEY")
    monkeypatch.setenv("KCP_OLD_INDEX_KEY", settings.KCP_INDEX_KEY)
    with pytest.raises(CommandError, match="is the configured KCP_INDEX_KEY"):
        call_command("kcp_reindex", "--old-key-env", "KCP_OLD_INDEX_KEY")
    monkeypatch.setenv("KCP_OLD_INDEX_KEY", "not base64!")
    with pytest.raises(CommandError, match=r"--old-key-env \(KCP_OLD_INDEX_KEY\) is not valid base64"):
        call_command("kcp_reindex", "--old-key-env", "KCP_OLD_INDEX_KEY")

    monkeypatch.setenv("KCP_OLD_INDEX_KEY", OLD_INDEX_KEY)
    err = StringIO()
    with pytest.raises(
        CommandError,
        match=rf"1 index\(es\) could not be rebuilt \(kcp_django.AccountVerification.account_index ids {made[1].pk}\)",
    ):
        call_command("kcp_reindex", "--old-key-env", "KCP_OLD_INDEX_KEY", stdout=StringIO(), stderr=err)
    assert "matches neither the old key nor KCP_INDEX_KEY" in err.getvalue()
    assert AccountVerification.objects.get(pk=made[1].pk).account_index == "0" * 64, "left as it was"


def test_purged_rows_have_no_index_to_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    made, _ = indexed_under_old_key()
    AccountVerification.objects.filter(pk=made[0].pk).update(
        account_no=None, account_index="", purged_at=timezone.now() - dt.timedelta(days=1)
    )
    monkeypatch.setenv("KCP_OLD_INDEX_KEY", OLD_INDEX_KEY)
    out = StringIO()
    call_command("kcp_reindex", "--old-key-env", "KCP_OLD_INDEX_KEY", stdout=out)
    assert "kcp_django.AccountVerification.account_index: 2 rebuilt, 0 already under the new key, 0 left" in (
        out.getvalue()
    )


def test_the_documented_path_from_development_keys_to_production_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: no keys configured, every merchant in test mode, so the development keys are in use.
    with override_settings(KCP_ENCRYPTION_KEYS=None, KCP_INDEX_KEY=None):
        early = verify_refund_account(bank_code="04", account_no="100-233-300777", owner_nm="홍길동")
        holder = Holder.objects.create(account_no="555-000-1234", account_index=blind_index("88", "5550001234"))
    generated = StringIO()
    call_command("kcp_generate_keys", "--key-id", "k1", stdout=generated)
    lines = dict(line.split("=", 1) for line in generated.getvalue().splitlines() if "=" in line)

    # Steps 2-4: the new keys set, the development encryption key kept after the new one.
    production = {"KCP_ENCRYPTION_KEYS": [lines["KCP_ENCRYPTION_KEYS"]], "KCP_INDEX_KEY": lines["KCP_INDEX_KEY"]}
    monkeypatch.setenv("KCP_OLD_INDEX_KEY", conf.DEVELOPMENT_INDEX_KEY)
    out = StringIO()
    with override_settings(
        KCP_ENCRYPTION_KEYS=[lines["KCP_ENCRYPTION_KEYS"], conf.DEVELOPMENT_ENCRYPTION_KEY],
        KCP_INDEX_KEY=lines["KCP_INDEX_KEY"],
    ):
        call_command("kcp_rotate_keys", stdout=out)
        call_command("kcp_rotate_keys", "--dry-run", stdout=out)
        call_command("kcp_reindex", "--old-key-env", "KCP_OLD_INDEX_KEY", stdout=out)
    assert "kcp_django.AccountVerification.account_no rows per key: k1 1, dev 0, (other) 0" in out.getvalue()
    assert "fieldapp.Holder.account_index: 1 rebuilt, 0 already under the new key, 0 left" in out.getvalue()

    # Step 5: the development keys dropped; everything reads and is found under the new keys.
    with override_settings(**production):
        row = AccountVerification.objects.get(account_index=blind_index("04", "100233300777"))
        assert (row.pk, row.account_no) == (early.pk, "100233300777")
        found = Holder.objects.get(account_index=blind_index("88", "5550001234"))
        assert (found.pk, found.account_no) == (holder.pk, "555-000-1234")
