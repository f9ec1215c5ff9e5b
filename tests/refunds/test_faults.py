"""A refund whose answer cannot be stored, or never came, is kept and never sent again by code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from kcp_django.exceptions import AnswerNotStored, RefundRefused
from kcp_django.gateways.sandbox import refund_outbox
from kcp_django.models import Refund
from kcp_django.refunds import request_refund
from tests.support import outages
from tests.support.kit import merchants_with

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("paid")]

DIRECT = {"bank_code": "04", "account_no": "123-456-789012", "owner_nm": "홍길동"}
TNO = "20261127000001"


@pytest.fixture
def outage_gateway() -> Iterator[None]:
    refund_outbox.clear()
    with override_settings(KCP_MERCHANTS=merchants_with("tests.support.outages.OutageGateway")):
        yield
    if outages.planned is not None:
        outages.planned.stop()
        outages.planned = None
    outages.close_all()


def test_a_brief_outage_while_storing_is_ridden_out(outage_gateway: None, caplog: pytest.LogCaptureFixture) -> None:
    outages.planned = outages.Outage(lasting=False, table="kcp_django_refund")

    refund = request_refund(kind="vbank-refund", tno=TNO, **DIRECT)

    assert Refund.objects.get(pk=refund.pk).state == "ACCEPTED"
    assert any("retrying" in record.getMessage() for record in caplog.records)
    assert len(refund_outbox) == 1


def test_a_lasting_outage_leaves_the_refund_pending_and_it_is_never_sent_again(outage_gateway: None) -> None:
    outage = outages.planned = outages.Outage(lasting=True, table="kcp_django_refund")

    with pytest.raises(AnswerNotStored) as caught:
        request_refund(kind="vbank-refund", tno=TNO, idempotency_key="refund-1", **DIRECT)
    outage.stop()
    outages.close_all()

    stored = Refund.objects.get()
    assert stored.state == "PENDING", "the request is not lost"
    assert str(stored.public_id) in str(caught.value) and "never sent again" in str(caught.value)
    assert "123456789012" not in str(caught.value)

    # The same key answers from the row; a new key cannot take the payment's place: one call in all.
    assert request_refund(kind="vbank-refund", tno=TNO, idempotency_key="refund-1", **DIRECT).pk == stored.pk
    with pytest.raises(RefundRefused) as refused:
        request_refund(kind="vbank-refund", tno=TNO, idempotency_key="refund-2", **DIRECT)
    assert refused.value.rule == "refund_in_progress"
    assert len(refund_outbox) == 1


class HangingGateway:
    """A gateway that never answers in time, the way a hung pp_cli ends: OutcomeUnknown."""

    def __init__(self, merchant: object) -> None:
        pass

    def verify(self, request: object) -> object:
        raise NotImplementedError

    def refund(self, request: object) -> object:
        from kcp_django.exceptions import OutcomeUnknown

        refund_outbox.append(request)  # type: ignore[arg-type]
        raise OutcomeUnknown("pp_cli: no answer within 15s; its process group was killed")


class GarbageGateway(HangingGateway):
    def refund(self, request: object) -> object:
        refund_outbox.append(request)  # type: ignore[arg-type]
        raise ValueError("unreadable answer")


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        ("tests.refunds.test_faults.HangingGateway", "no answer within 15s"),
        ("tests.refunds.test_faults.GarbageGateway", "gateway error: ValueError"),
    ],
)
def test_a_hang_or_garbage_ends_unknown_and_keeps_the_payment(backend: str, reason: str) -> None:
    refund_outbox.clear()
    with override_settings(KCP_MERCHANTS=merchants_with(backend)):
        refund = request_refund(kind="vbank-refund", tno=TNO, **DIRECT)
        assert refund.state == "UNKNOWN" and reason in refund.failure_reason
        with pytest.raises(RefundRefused):
            request_refund(kind="vbank-refund", tno=TNO, **DIRECT)
    assert len(refund_outbox) == 1
