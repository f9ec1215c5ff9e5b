"""request_refund end to end on the real database, with the embedded sandbox."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from kcp_django.exceptions import InvalidRequest, RefundInTransaction, RefundRefused
from kcp_django.gateways.sandbox import refund_outbox
from kcp_django.models import AccountVerification, Refund
from kcp_django.refunds import request_refund, resolve_refund
from kcp_django.verifications import verify_refund_account
from tests.support.payments import ORDER

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("paid")]

ACCOUNT = "123-456-789012"
DIGITS = "123456789012"
TNO = "20261127000001"
TNO_NO_ANSWER = "20261127000009"
TNO_REFUSED = "20261127000008"


@pytest.fixture(autouse=True)
def _empty_refund_outbox() -> None:
    refund_outbox.clear()


@pytest.fixture
def verified() -> AccountVerification:
    row = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", reference=ORDER)
    assert row.state == "VERIFIED"
    return row


def test_an_escrow_cancel_pays_the_verified_account_once(verified: AccountVerification) -> None:
    refund = request_refund(kind="escrow-cancel", tno=TNO, verification=verified, reason="단순 변심")

    assert (refund.state, refund.res_cd, refund.mod_type) == ("ACCEPTED", "0000", "STE2")
    stored = Refund.objects.get()
    assert stored.account_no == DIGITS and stored.account_last4 == "9012" and stored.owner_nm == "홍길동"
    [sent] = list(refund_outbox)
    assert (sent.kind, sent.tno, sent.account_no, sent.bank_code) == ("escrow-cancel", TNO, DIGITS, "04")


def test_after_shipping_the_cancel_is_ste4(verified: AccountVerification) -> None:
    refund = request_refund(kind="escrow-cancel", tno=TNO, verification=verified, after_shipping=True)
    assert refund.mod_type == "STE4"


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"state": "REJECTED"}, "verification_not_verified"),
        ({"site_cd": "T0007"}, "verification_mode"),
        ({"mode": "real"}, "verification_mode"),
        ({"purged_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}, "verification_purged"),
        ({"completed_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "verification_stale"),
    ],
)
def test_a_refund_pays_only_a_fresh_verified_account_of_its_merchant(
    verified: AccountVerification, change: dict[str, object], rule: str
) -> None:
    AccountVerification.objects.filter(pk=verified.pk).update(**change)
    verified.refresh_from_db()

    with pytest.raises(RefundRefused) as refused:
        request_refund(kind="escrow-refund", tno=TNO, verification=verified, merchant="default")

    assert refused.value.rule == rule
    assert not Refund.objects.exists() and len(refund_outbox) == 0


def test_the_age_limit_is_a_setting(verified: AccountVerification) -> None:
    AccountVerification.objects.filter(pk=verified.pk).update(completed_at=timezone.now() - dt.timedelta(hours=2))
    verified.refresh_from_db()
    with override_settings(KCP_REFUND_VERIFICATION_MAX_AGE=dt.timedelta(hours=1)), pytest.raises(RefundRefused):
        request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
    assert request_refund(kind="escrow-cancel", tno=TNO, verification=verified).state == "ACCEPTED"


def test_only_a_vbank_refund_takes_an_account_given_directly() -> None:
    with pytest.raises(RefundRefused) as refused:
        request_refund(kind="escrow-cancel", tno=TNO, bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")
    assert refused.value.rule == "verification_required"

    refund = request_refund(kind="vbank-refund", tno=TNO, bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")
    assert (refund.state, refund.mod_type, refund.verification) == ("ACCEPTED", "STHD", None)


def test_a_directly_given_account_is_checked_by_the_guides_rules() -> None:
    with pytest.raises(InvalidRequest) as invalid:
        request_refund(kind="vbank-refund", tno=TNO, bank_code="04", account_no="12a", owner_nm="홍길동")
    assert [error.field for error in invalid.value.errors] == ["account_no"]
    assert not Refund.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tno": "123"}, "tno"),
        ({"amount": 0, "remaining": 100}, "amount"),
        ({"amount": 200, "remaining": 100}, "remaining"),
        ({"remaining": 100}, "remaining"),
        ({"reason": "가" * 51}, "reason"),
        ({"reason": "a,b"}, "reason"),
        ({"kind": "card-cancel"}, "kind"),
    ],
)
def test_bad_refund_fields_name_the_field_and_store_nothing(fields: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {
        "kind": "vbank-refund",
        "tno": TNO,
        "bank_code": "04",
        "account_no": ACCOUNT,
        "owner_nm": "홍길동",
        **fields,
    }
    with pytest.raises(InvalidRequest) as invalid:
        request_refund(**arguments)  # type: ignore[arg-type]
    assert field in {error.field for error in invalid.value.errors}
    assert not Refund.objects.exists() and len(refund_outbox) == 0


def test_at_most_one_full_refund_per_payment_unless_rejected(verified: AccountVerification) -> None:
    request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
    with pytest.raises(RefundRefused) as refused:
        request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
    assert refused.value.rule == "full_refund_exists"

    # A rejected refund gives its place back.
    rejected = request_refund(kind="escrow-cancel", tno=TNO_REFUSED, verification=verified)
    assert (rejected.state, rejected.res_cd, rejected.slot_key) == ("REJECTED", "8801", None)
    assert request_refund(kind="escrow-cancel", tno=TNO_REFUSED[:-1] + "7", verification=verified).state == "ACCEPTED"
    assert len(refund_outbox) == 3


def test_the_database_holds_one_full_refund_per_payment_even_past_python(verified: AccountVerification) -> None:
    request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
    from django.db import IntegrityError

    first = Refund.objects.get()
    with pytest.raises(IntegrityError):
        Refund.objects.create(
            merchant="default",
            kind="escrow-cancel",
            tno=TNO,
            ordr_idxx="KCPR-SECOND",
            mod_type="STE2",
            bank_code="04",
            account_no=DIGITS,
            account_index=first.account_index,
            owner_nm="홍길동",
            fingerprint="x",
            slot_key=first.slot_key,
        )


def test_partial_refunds_form_a_chain() -> None:
    direct = {"bank_code": "04", "account_no": ACCOUNT, "owner_nm": "홍길동"}
    first = request_refund(kind="vbank-refund", tno=TNO, amount=3000, remaining=10000, **direct)
    assert (first.state, first.mod_type) == ("ACCEPTED", "STPD")

    with pytest.raises(RefundRefused) as refused:
        request_refund(kind="vbank-refund", tno=TNO, amount=1000, remaining=10000, **direct)
    assert refused.value.rule == "chain_mismatch"
    second = request_refund(kind="vbank-refund", tno=TNO, amount=7000, remaining=7000, **direct)
    assert second.state == "ACCEPTED"
    with pytest.raises(RefundRefused) as full:
        request_refund(kind="vbank-refund", tno=TNO, **direct)
    assert full.value.rule == "partial_refunds_exist"


def test_only_a_vbank_refund_is_partial(verified: AccountVerification) -> None:
    with pytest.raises(InvalidRequest) as invalid:
        request_refund(kind="escrow-refund", tno=TNO, verification=verified, amount=100, remaining=1000)
    assert "amount" in {error.field for error in invalid.value.errors}


def test_the_same_idempotency_key_answers_from_the_stored_refund(verified: AccountVerification) -> None:
    first = request_refund(kind="escrow-refund", tno=TNO, verification=verified, idempotency_key="refund-7")
    again = request_refund(kind="escrow-refund", tno=TNO, verification=verified, idempotency_key="refund-7")

    assert first.pk == again.pk and len(refund_outbox) == 1
    with pytest.raises(RefundRefused) as refused:
        request_refund(kind="escrow-cancel", tno=TNO, verification=verified, idempotency_key="refund-7")
    assert refused.value.rule == "idempotency_key_reused"


def test_an_unanswered_refund_is_unknown_and_never_sent_again(verified: AccountVerification) -> None:
    lost = request_refund(kind="escrow-cancel", tno=TNO_NO_ANSWER, verification=verified, idempotency_key="a")
    assert lost.state == "UNKNOWN" and "no answer" in lost.failure_reason

    again = request_refund(kind="escrow-cancel", tno=TNO_NO_ANSWER, verification=verified, idempotency_key="a")
    assert again.pk == lost.pk
    with pytest.raises(RefundRefused):
        request_refund(kind="escrow-cancel", tno=TNO_NO_ANSWER, verification=verified, idempotency_key="b")
    assert len(refund_outbox) == 1


def test_staff_resolve_an_unknown_refund_with_a_note(verified: AccountVerification) -> None:
    lost = request_refund(kind="escrow-cancel", tno=TNO_NO_ANSWER, verification=verified)
    with pytest.raises(RefundRefused):
        resolve_refund(lost, accepted=False, note=" ")

    assert resolve_refund(lost, accepted=False, note="KCP admin: no such cancel")
    lost.refresh_from_db()
    assert (lost.state, lost.slot_key, lost.resolution_note) == ("REJECTED", None, "KCP admin: no such cancel")
    assert not resolve_refund(lost, accepted=True, note="again")  # final now


def test_a_refund_is_never_sent_inside_the_callers_transaction(verified: AccountVerification) -> None:
    with pytest.raises(RefundInTransaction), transaction.atomic():
        request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
    assert not Refund.objects.exists() and len(refund_outbox) == 0


def test_a_client_ip_that_is_not_an_address_is_refused_before_anything_is_stored(
    verified: AccountVerification,
) -> None:
    with pytest.raises(InvalidRequest) as invalid:
        request_refund(kind="escrow-cancel", tno=TNO, verification=verified, client_ip="1.2.3.4&res_cd=0000")
    assert [error.field for error in invalid.value.errors] == ["client_ip"]
    assert not Refund.objects.exists() and len(refund_outbox) == 0

    refund = request_refund(kind="escrow-cancel", tno=TNO, verification=verified, client_ip="::ffff:10.0.0.7")
    assert refund.client_ip == "10.0.0.7"
    [sent] = list(refund_outbox)
    assert sent.mod_ip == "10.0.0.7"


def test_real_mode_never_refunds_through_a_test_double(verified: AccountVerification) -> None:
    from django.conf import settings

    from kcp_django.exceptions import KcpConfigurationError

    merchants = {"default": {**settings.KCP_MERCHANTS["default"]}}
    merchants["default"]["OPTIONS"] = {**merchants["default"]["OPTIONS"], "MODE": "real", "SITE_CD": "A1234"}
    with override_settings(KCP_MERCHANTS=merchants), pytest.raises(KcpConfigurationError, match="test double"):
        request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
    assert not Refund.objects.exists() and len(refund_outbox) == 0


def test_real_mode_on_the_fake_pp_cli_refuses_a_refund_before_storing_it(
    verified: AccountVerification, tmp_path: Path
) -> None:
    """Guards issue 18 item 3: a refund through the fake pp_cli in real mode was stored UNKNOWN (blocking
    its payment); pp_cli's readiness check now refuses it before a row exists."""
    from kcp_django.exceptions import KcpConfigurationError
    from tests.fake_kit import make_fake_kit

    kit = make_fake_kit(tmp_path / "kcp")
    merchants = {
        "default": {
            "BACKEND": "ppcli",
            "OPTIONS": {
                "MODE": "real",
                "SITE_CD": "A1234",
                "SITE_KEY": "Zq9vX2mK7pL4sT8wR3nB6yC1_",
                "HOME_DIR": str(kit),
            },
        }
    }
    with override_settings(KCP_MERCHANTS=merchants), pytest.raises(KcpConfigurationError, match="fake pp_cli"):
        request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
    assert not Refund.objects.exists()
