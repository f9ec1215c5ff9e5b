"""Fifty copies of one notice at once (KCP sends again when it hears nothing in time): one row."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from kcp_django.gateways.sandbox import refund_outbox
from kcp_django.models import KcpNotice, Refund
from kcp_django.refunds import request_refund
from kcp_django.signals import notice_received, refund_completed
from tests.support.notices import ACCOUNT, TNO, post, result_of, tx01

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("paid")]

COPIES = 50


def test_fifty_copies_at_once_are_stored_once_and_complete_the_refund_once() -> None:
    refund_outbox.clear()
    refund = request_refund(
        kind="vbank-refund", tno=TNO, bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", amount=500, remaining=10000
    )
    fields = tx01(refund)
    start = threading.Barrier(COPIES)
    results: list[str | None] = []
    lock = threading.Lock()
    received, completed = [], []

    def on_notice(sender: object, **kwargs: object) -> None:
        received.append(kwargs["notice"])

    def on_completed(sender: object, **kwargs: object) -> None:
        completed.append(kwargs["refund"])

    def send() -> None:
        client = Client()
        try:
            start.wait()
            result = result_of(post(fields, client=client))
        finally:
            connection.close()
        with lock:
            results.append(result)

    notice_received.connect(on_notice)
    refund_completed.connect(on_completed)
    try:
        threads = [threading.Thread(target=send) for _ in range(COPIES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        notice_received.disconnect(on_notice)
        refund_completed.disconnect(on_completed)

    assert results == ["0000"] * COPIES
    assert KcpNotice.objects.count() == 1
    assert len(received) == 1 and len(completed) == 1
    assert Refund.objects.get(pk=refund.pk).state == "COMPLETED"
