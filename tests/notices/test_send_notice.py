"""``manage.py kcp_send_notice`` against a real server (pytest-django's live_server)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from kcp_django.gateways.sandbox import refund_outbox
from kcp_django.models import KcpNotice, Refund
from kcp_django.refunds import request_refund
from tests.support.notices import ACCOUNT, TNO

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("paid")]


@pytest.fixture
def refund() -> Refund:
    refund_outbox.clear()
    return request_refund(
        kind="vbank-refund", tno=TNO, bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", amount=700, remaining=10000
    )


@pytest.fixture
def notice_url(live_server: Any, settings: Any) -> str:
    settings.KCP_NOTICE_IPS = ["127.0.0.1"]
    return f"{live_server.url}/kcp/notices/"


def send(*args: str) -> str:
    out = StringIO()
    call_command("kcp_send_notice", *args, stdout=out)
    return out.getvalue()


def test_a_tx01_built_from_a_refund_completes_it(refund: Refund, notice_url: str) -> None:
    output = send("--url", notice_url, "--tx-cd", "TX01", "--refund", str(refund.pk))

    assert "result=0000" in output
    refund.refresh_from_db()
    assert refund.state == "COMPLETED"
    notice = KcpNotice.objects.get()
    assert notice.matched and notice.remote_addr == "127.0.0.1" and notice.fields["refund_mny"] == "700"


def test_explicit_fields_and_a_refused_notice_exit_1(refund: Refund, notice_url: str) -> None:
    output = send("--url", notice_url, "--tx-cd", "TX02", "--field", "site_cd=T0000", "--field", f"tno={TNO}")
    assert "result=0000" in output and KcpNotice.objects.get().tx_cd == "TX02"

    with pytest.raises(CommandError) as refused:
        send("--url", notice_url, "--refund", str(refund.public_id), "--field", "site_cd=A9999")
    assert refused.value.returncode == 1
    assert KcpNotice.objects.count() == 1


def test_a_server_that_does_not_list_this_address_answers_403(refund: Refund, live_server: Any) -> None:
    # KCP_NOTICE_IPS left at KCP's own addresses: 127.0.0.1 is refused.
    out = StringIO()
    with pytest.raises(CommandError):
        call_command(
            "kcp_send_notice", "--url", f"{live_server.url}/kcp/notices/", "--refund", str(refund.pk), stdout=out
        )
    assert "HTTP 403" in out.getvalue() and not KcpNotice.objects.exists()


@pytest.mark.parametrize("url", ["http://203.0.113.5/kcp/notices/", "http://example.com/kcp/notices/", "file:///etc/x"])
def test_only_loopback_urls_unless_allowed(url: str) -> None:
    with pytest.raises(CommandError, match="--url"):
        send("--url", url, "--field", "site_cd=T0000")


def test_an_unknown_refund_is_named() -> None:
    with pytest.raises(CommandError, match="--refund"):
        send("--refund", "999999")
