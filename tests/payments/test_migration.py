"""A database holding verifications and refunds from before payments migrates forward, and no
refund stored then becomes resendable: every one is tied to a payment that holds its amount."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from kcp_django.crypto import blind_index
from kcp_django.exceptions import RefundRefused
from kcp_django.gateways.sandbox import refund_outbox
from kcp_django.models import AccountVerification, Payment, Refund
from kcp_django.payments import register_payment
from kcp_django.refunds import request_refund

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("kcp_django", "0002_refunds")]
ACCOUNT = "123456789012"
UNKNOWN_TNO = "20261127000401"
PARTIAL_TNO = "20261127000402"


def migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


def test_refunds_from_before_payments_keep_their_payment_held() -> None:
    refund_outbox.clear()
    old = migrate(BEFORE).loader.project_state(BEFORE).apps
    OldVerification = old.get_model("kcp_django", "AccountVerification")
    OldRefund = old.get_model("kcp_django", "Refund")
    index = blind_index("04", ACCOUNT)
    verification = OldVerification.objects.create(
        merchant="default",
        ordr_idxx="KCPD-OLD-1",
        bank_code="04",
        account_no=ACCOUNT,
        account_index=index,
        account_last4="9012",
        owner_nm="홍길동",
        reference="ORDER-OLD",
        state="VERIFIED",
    )
    common = {
        "merchant": "default",
        "bank_code": "04",
        "account_no": ACCOUNT,
        "account_index": index,
        "owner_nm": "홍길동",
        "fingerprint": "-",
    }
    OldRefund.objects.create(
        **common, kind="escrow-cancel", tno=UNKNOWN_TNO, ordr_idxx="KCPR-OLD-1", mod_type="STE2",
        state="UNKNOWN", slot_key=f"default|{UNKNOWN_TNO}|full", verification_id=verification.pk,
    )  # fmt: skip
    OldRefund.objects.create(
        **common, kind="vbank-refund", tno=PARTIAL_TNO, ordr_idxx="KCPR-OLD-2", mod_type="STPD",
        state="ACCEPTED", amount=3000, remaining=10000, slot_key=f"default|{PARTIAL_TNO}|10000",
    )  # fmt: skip

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    held = Payment.objects.get(tno=UNKNOWN_TNO)
    assert held.needs_review and "0.2 migration" in held.review_reason
    assert Refund.objects.get(tno=UNKNOWN_TNO).payment == held
    old_verification = AccountVerification.objects.get(ordr_idxx="KCPD-OLD-1")
    assert (old_verification.mode, old_verification.test_double) == ("test", True)
    assert old_verification.site_cd == held.site_cd

    with pytest.raises(RefundRefused) as unknown:
        request_refund(
            kind="vbank-refund", tno=UNKNOWN_TNO, bank_code="04", account_no="110-987-654321", owner_nm="김환불"
        )
    assert unknown.value.rule == "earlier_refund_unknown"

    partial = Payment.objects.get(tno=PARTIAL_TNO)
    assert (partial.amount, partial.refunded, partial.remaining) == (10000, 3000, 7000)
    # The shop confirms the payment by registering it; what its refunds hold stays held.
    confirmed = register_payment(tno=PARTIAL_TNO, amount=10000, reference="ORDER-OLD")
    assert (confirmed.pk, confirmed.needs_review, confirmed.remaining) == (partial.pk, False, 7000)
    with pytest.raises(RefundRefused) as too_much:
        request_refund(
            kind="vbank-refund", tno=PARTIAL_TNO, bank_code="04", account_no="110-987-654321", owner_nm="김환불",
            amount=8000,
        )  # fmt: skip
    assert too_much.value.rule == "amount_exceeds_remaining"
    assert len(refund_outbox) == 0
