"""KCP's notices through the real view, the real database and Django's test client."""

from __future__ import annotations

import logging
import os
import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client, override_settings

from kcp_django.conf import DEFAULT_NOTICE_IPS, kcp_settings
from kcp_django.models import AccountVerification, KcpNotice, Refund
from kcp_django.notices.views import decode_notice
from kcp_django.refunds import request_refund
from kcp_django.signals import notice_received, refund_completed
from tests.support.notices import ACCOUNT, FORM, KCP_ADDRESS, TNO, TNO_REFUSED, URL, body, post, result_of, tx01

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("paid")]


@pytest.fixture
def signals() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every notice_received and refund_completed sent, in order."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def on_notice(sender: Any, **kwargs: Any) -> None:
        sent.append(("notice_received", kwargs))

    def on_completed(sender: Any, **kwargs: Any) -> None:
        sent.append(("refund_completed", kwargs))

    notice_received.connect(on_notice)
    refund_completed.connect(on_completed)
    yield sent
    notice_received.disconnect(on_notice)
    refund_completed.disconnect(on_completed)


@pytest.fixture
def vbank_refund() -> Refund:
    """A partial virtual-account refund KCP accepted (through the sandbox): 3,000 of 10,000 won."""
    refund = request_refund(
        kind="vbank-refund",
        tno=TNO,
        bank_code="04",
        account_no=ACCOUNT,
        owner_nm="홍길동",
        amount=3000,
        remaining=10000,
        idempotency_key="vbank-1",
    )
    assert refund.state == "ACCEPTED"
    return refund


# --- who may send -------------------------------------------------------------------------------


def test_a_notice_from_kcps_address_is_stored_masked_and_answered_0000(
    vbank_refund: Refund, signals: list[tuple[str, dict[str, Any]]]
) -> None:
    response = post(tx01(vbank_refund))

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert '<input type="hidden" name="result" value="0000">' in response.content.decode()
    notice = KcpNotice.objects.get()
    assert (notice.merchant, notice.site_cd, notice.tx_cd, notice.tno) == ("default", "T0000", "TX01", TNO)
    assert notice.remote_addr == KCP_ADDRESS and len(notice.digest) == 64
    assert notice.fields["refund_nm"] == "홍*동" and notice.fields["refund_mny"] == "3000"
    assert [name for name, _ in signals] == ["refund_completed", "notice_received"]
    assert signals[1][1]["notice"].pk == notice.pk


@pytest.mark.parametrize("address", ["198.51.100.7", "203.238.36.59", "::1"])
def test_a_notice_from_any_other_address_is_refused_and_nothing_stored(
    vbank_refund: Refund, address: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="kcp_django.notices"):
        response = post(tx01(vbank_refund), address=address)

    assert response.status_code == 403
    assert "KCP_NOTICE_IPS" in response.content.decode() and "통보" in response.content.decode()  # Korean
    assert not KcpNotice.objects.exists()
    vbank_refund.refresh_from_db()
    assert vbank_refund.state == "ACCEPTED"
    [record] = [r for r in caplog.records if r.name == "kcp_django.notices"]
    assert address in record.getMessage() and "홍길동" not in record.getMessage()


def test_kcps_address_seen_as_ipv4_mapped_ipv6_is_kcps_address(vbank_refund: Refund) -> None:
    assert result_of(post(tx01(vbank_refund), address=f"::ffff:{KCP_ADDRESS}")) == "0000"
    assert KcpNotice.objects.get().remote_addr == KCP_ADDRESS


def test_kcp_notice_ips_takes_networks(vbank_refund: Refund, settings: Any) -> None:
    settings.KCP_NOTICE_IPS = ["192.0.2.0/24"]

    assert post(tx01(vbank_refund), address=KCP_ADDRESS).status_code == 403
    assert result_of(post(tx01(vbank_refund), address="192.0.2.77")) == "0000"


@pytest.mark.parametrize("value", ["203.238.36.58", ["not-an-address"], [3], []])
def test_a_bad_kcp_notice_ips_names_the_setting(value: Any, settings: Any) -> None:
    settings.KCP_NOTICE_IPS = value
    with pytest.raises(ImproperlyConfigured, match="KCP_NOTICE_IPS"):
        _ = kcp_settings.NOTICE_IPS


def test_a_bad_setting_answers_not_stored_without_a_trace(vbank_refund: Refund, settings: Any) -> None:
    settings.KCP_NOTICE_IPS = "203.238.36.58"

    response = post(tx01(vbank_refund))

    assert response.status_code == 500 and result_of(response) == "9999"
    assert "Traceback" not in response.content.decode() and not KcpNotice.objects.exists()


def test_behind_a_trusted_proxy_the_forwarded_address_is_checked(vbank_refund: Refund, settings: Any) -> None:
    settings.KCP_TRUSTED_PROXIES = ["10.0.0.0/8"]

    through_proxy = post(tx01(vbank_refund), address="10.0.0.2", HTTP_X_FORWARDED_FOR=KCP_ADDRESS)
    assert result_of(through_proxy) == "0000"
    assert KcpNotice.objects.get().remote_addr == KCP_ADDRESS

    # The proxy itself is not KCP, and a forwarded address it did not add is not believed.
    assert post(tx01(vbank_refund, tx_tm="1"), address="10.0.0.2").status_code == 403
    spoofed = post(tx01(vbank_refund, tx_tm="2"), address="198.51.100.7", HTTP_X_FORWARDED_FOR=KCP_ADDRESS)
    assert spoofed.status_code == 403
    assert KcpNotice.objects.count() == 1


def test_only_post_is_heard() -> None:
    response = Client().get(URL, REMOTE_ADDR=KCP_ADDRESS)
    assert response.status_code == 405


def test_an_unknown_site_cd_is_not_stored(vbank_refund: Refund, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kcp_django.notices"):
        response = post(tx01(vbank_refund, site_cd="A1234"))

    assert response.status_code == 200 and result_of(response) not in ("0000", None)
    assert not KcpNotice.objects.exists()
    vbank_refund.refresh_from_db()
    assert vbank_refund.state == "ACCEPTED"
    assert any("A1234" in record.getMessage() for record in caplog.records)


def test_a_notice_without_tx_cd_is_not_stored(vbank_refund: Refund) -> None:
    fields = tx01(vbank_refund)
    del fields["tx_cd"]
    assert result_of(post(fields)) not in ("0000", None)
    assert not KcpNotice.objects.exists()


# --- charset ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [f"{FORM}; charset=euc-kr", f"{FORM}; charset=EUC-KR", FORM, f"{FORM}; charset=utf-8", "text/plain"],
)
def test_the_body_is_read_as_euc_kr_whatever_the_content_type_says(vbank_refund: Refund, content_type: str) -> None:
    response = post(tx01(vbank_refund), content_type=content_type)

    assert result_of(response) == "0000"
    notice = KcpNotice.objects.get()
    assert notice.matched and notice.fields["refund_nm"] == "홍*동"


def test_raw_euc_kr_bytes_and_percent_escapes_decode_alike() -> None:
    escaped = body({"refund_nm": "홍길동", "can_msg": "구매 거절 a+b"})
    raw = "refund_nm=홍길동&can_msg=구매+거절+a%2Bb".encode("euc-kr")

    assert decode_notice(escaped) == decode_notice(raw) == {"refund_nm": "홍길동", "can_msg": "구매 거절 a+b"}
    assert decode_notice(b"a=1&a=2&&=x&b=") == {"a": "1", "b": ""}


# --- matching -----------------------------------------------------------------------------------


def test_tx01_completes_the_vbank_refund_it_names(
    vbank_refund: Refund, signals: list[tuple[str, dict[str, Any]]]
) -> None:
    assert result_of(post(tx01(vbank_refund))) == "0000"

    vbank_refund.refresh_from_db()
    assert vbank_refund.state == "COMPLETED" and vbank_refund.completed_at is not None
    notice = KcpNotice.objects.get()
    assert notice.matched and notice.refund == vbank_refund and not notice.needs_review
    [(_, completed)] = [signal for signal in signals if signal[0] == "refund_completed"]
    assert completed["refund"].pk == vbank_refund.pk and completed["notice"].pk == notice.pk


def test_a_receiver_that_fails_leaves_the_answer_0000_and_the_refund_completed(vbank_refund: Refund) -> None:
    def failing(**kwargs: Any) -> None:
        raise RuntimeError("the shop's mailer is down")

    refund_completed.connect(failing, dispatch_uid="notice-failing")
    notice_received.connect(failing, dispatch_uid="notice-failing-2")
    try:
        answer = result_of(post(tx01(vbank_refund)))
        again = result_of(post(tx01(vbank_refund)))
    finally:
        refund_completed.disconnect(dispatch_uid="notice-failing")
        notice_received.disconnect(dispatch_uid="notice-failing-2")

    assert (answer, again) == ("0000", "0000"), "KCP is told the notice is stored; its resend is a repeat"
    vbank_refund.refresh_from_db()
    assert vbank_refund.state == "COMPLETED"
    assert KcpNotice.objects.count() == 1


def test_tx01_of_a_full_refund_compares_no_amount() -> None:
    refund = request_refund(kind="vbank-refund", tno=TNO, bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")
    assert result_of(post(tx01(refund, refund_mny="123456"))) == "0000"
    refund.refresh_from_db()
    assert refund.state == "COMPLETED"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"refund_nm": "김철수"}, "refund_nm does not match"),
        ({"refund_mny": "3001"}, "refund_mny 3001 does not match"),
        ({"refund_mny": ""}, "refund_mny (none) does not match"),
        ({"tno": "20261127000002"}, "no vbank-refund, escrow-refund refund of tno 20261127000002"),
    ],
)
def test_a_tx01_that_does_not_match_is_kept_for_review_and_changes_nothing(
    vbank_refund: Refund, change: dict[str, str], reason: str, signals: list[tuple[str, dict[str, Any]]]
) -> None:
    response = post(tx01(vbank_refund, **change))

    assert result_of(response) == "0000"  # stored: KCP need not send it again
    notice = KcpNotice.objects.get()
    assert notice.needs_review and not notice.matched and reason in notice.review_reason
    assert "김철수" not in notice.review_reason and "홍길동" not in notice.review_reason
    vbank_refund.refresh_from_db()
    assert vbank_refund.state == "ACCEPTED" and vbank_refund.completed_at is None
    assert [name for name, _ in signals] == ["notice_received"]


def test_a_tx01_for_a_rejected_refund_leaves_it_rejected() -> None:
    refund = request_refund(kind="vbank-refund", tno=TNO_REFUSED, bank_code="04", account_no=ACCOUNT, owner_nm="홍길동")
    assert refund.state == "REJECTED"

    assert result_of(post(tx01(refund))) == "0000"

    refund.refresh_from_db()
    notice = KcpNotice.objects.get()
    assert refund.state == "REJECTED"
    assert notice.needs_review and not notice.matched and "REJECTED" in notice.review_reason


def test_a_second_tx01_for_a_completed_refund_is_flagged(vbank_refund: Refund) -> None:
    post(tx01(vbank_refund))
    assert result_of(post(tx01(vbank_refund, tx_tm="20261201090000"))) == "0000"

    later = KcpNotice.objects.order_by("id").last()
    assert later is not None and later.needs_review and "already completed" in later.review_reason


@pytest.mark.parametrize("tx_cd", ["TX05", "TX06"])
def test_tx05_and_tx06_complete_the_escrow_cancel_of_that_tno(verified: AccountVerification, tx_cd: str) -> None:
    refund = request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
    assert refund.state == "ACCEPTED"

    fields = {"site_cd": "T0000", "tno": TNO, "order_no": "ORDER-1", "tx_cd": tx_cd, "tx_tm": "20261130120000"}
    assert result_of(post(fields)) == "0000"

    refund.refresh_from_db()
    assert refund.state == "COMPLETED" and KcpNotice.objects.get().refund == refund


def test_tx01_does_not_complete_an_escrow_cancel(verified: AccountVerification) -> None:
    refund = request_refund(kind="escrow-cancel", tno=TNO, verification=verified)
    fields = {"site_cd": "T0000", "tno": TNO, "tx_cd": "TX01", "refund_nm": "홍길동", "refund_mny": "1"}

    assert result_of(post(fields)) == "0000"

    refund.refresh_from_db()
    assert refund.state == "ACCEPTED" and KcpNotice.objects.get().needs_review


# TX00 records a payment's deposit: tests/notices/test_deposits.py.
@pytest.mark.parametrize("tx_cd", ["TX02", "TX03", "TX04", "TX07"])
def test_other_notices_are_stored_and_signalled_only(
    vbank_refund: Refund, tx_cd: str, signals: list[tuple[str, dict[str, Any]]]
) -> None:
    fields = {
        "site_cd": "T0000",
        "tno": TNO,
        "order_no": "ORDER-1",
        "tx_cd": tx_cd,
        "tx_tm": "20261130120000",
        "ipgm_name": "홍길동",
        "remitter": "김철수",
        "account": "56211234567890",
    }
    assert result_of(post(fields)) == "0000"

    notice = KcpNotice.objects.get()
    assert (notice.tx_cd, notice.matched, notice.needs_review, notice.refund) == (tx_cd, False, False, None)
    assert notice.fields["ipgm_name"] == "홍*동" and notice.fields["remitter"] == "김*수"
    assert notice.fields["account"] == "********7890"
    vbank_refund.refresh_from_db()
    assert vbank_refund.state == "ACCEPTED"
    assert [name for name, _ in signals] == ["notice_received"]


# --- once ---------------------------------------------------------------------------------------


def test_the_same_notice_twice_is_stored_once_and_answered_0000_both_times(
    vbank_refund: Refund, signals: list[tuple[str, dict[str, Any]]]
) -> None:
    first, second = post(tx01(vbank_refund)), post(tx01(vbank_refund))

    assert result_of(first) == result_of(second) == "0000"
    assert KcpNotice.objects.count() == 1
    assert [name for name, _ in signals] == ["refund_completed", "notice_received"]


def test_when_the_notice_cannot_be_stored_kcp_is_told_to_send_it_again(vbank_refund: Refund) -> None:
    # The notices' table is gone for a moment (renamed: payments point at it, so it cannot be dropped).
    table = KcpNotice._meta.db_table
    with connection.schema_editor() as editor:
        editor.alter_db_table(KcpNotice, table, f"{table}_away")
    try:
        response = post(tx01(vbank_refund))
    finally:
        with connection.schema_editor() as editor:
            editor.alter_db_table(KcpNotice, f"{table}_away", table)

    # KCP's kind of answer page (not Django's error page): result 9999, HTTP 500 for monitoring.
    assert response.status_code == 500 and result_of(response) == "9999"
    assert response["Content-Type"].startswith("text/html") and "Traceback" not in response.content.decode()
    vbank_refund.refresh_from_db()
    assert vbank_refund.state == "ACCEPTED"  # nothing half done: the refund waits for KCP's next try

    assert result_of(post(tx01(vbank_refund))) == "0000"
    vbank_refund.refresh_from_db()
    assert vbank_refund.state == "COMPLETED" and KcpNotice.objects.count() == 1


def test_a_nul_in_a_field_does_not_keep_the_notice_from_being_stored(vbank_refund: Refund) -> None:
    # PostgreSQL refuses NUL in text and jsonb; KCP would otherwise send this notice forever.
    assert result_of(post(tx01(vbank_refund, can_msg="a\x00b", tx_tm="2026\x00"))) == "0000"
    notice = KcpNotice.objects.get()
    assert notice.fields["can_msg"] == "ab" and notice.tx_tm == "2026" and notice.matched


def test_tx01_completes_an_escrow_refund(verified: AccountVerification) -> None:
    refund = request_refund(kind="escrow-refund", tno=TNO, verification=verified)
    assert refund.state == "ACCEPTED" and refund.amount is None

    assert result_of(post(tx01(refund, refund_mny="15000"))) == "0000"

    refund.refresh_from_db()
    assert refund.state == "COMPLETED" and KcpNotice.objects.get().matched


EXAMPLE_SETTINGS = Path(__file__).resolve().parents[2] / "example_project" / "settings.py"


def shop_notice_ips(monkeypatch: pytest.MonkeyPatch, value: str, debug: str) -> str:
    """The networks the example shop hears notices from, its settings module run with
    ``KCP_NOTICE_IPS=value`` and ``DEBUG=debug`` in the environment."""
    monkeypatch.setenv("KCP_NOTICE_IPS", value)
    monkeypatch.setenv("DEBUG", debug)
    shop = runpy.run_path(str(EXAMPLE_SETTINGS))
    with override_settings(KCP_NOTICE_IPS=shop["KCP_NOTICE_IPS"], DEBUG=shop["DEBUG"]):
        return ",".join(str(network) for network in kcp_settings.NOTICE_IPS)


def test_the_example_shop_reads_kcp_notice_ips_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    kcp = ",".join(f"{address}/32" for address in DEFAULT_NOTICE_IPS)
    assert shop_notice_ips(monkeypatch, "127.0.0.1, 10.0.0.0/8", debug="False") == "127.0.0.1/32,10.0.0.0/8"
    assert shop_notice_ips(monkeypatch, "", debug="False") == kcp
    # Issue 18 item 11: in development (DEBUG on) the shop also hears kcp_send_notice from this machine.
    assert shop_notice_ips(monkeypatch, "", debug="True") == kcp + ",127.0.0.1/32,::1/128"
    assert shop_notice_ips(monkeypatch, "10.0.0.0/8", debug="True") == "10.0.0.0/8", "a value set is taken as it is"


def test_a_started_example_shop_hears_the_networks_its_environment_names() -> None:
    """The same as a real process, which reads its environment once, at start."""
    script = (
        "import django; django.setup(); from kcp_django.conf import kcp_settings; "
        "print(','.join(str(n) for n in kcp_settings.NOTICE_IPS))"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "KCP_NOTICE_IPS": "127.0.0.1, 10.0.0.0/8",
        "DEBUG": "True",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=EXAMPLE_SETTINGS.parents[1],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )

    assert done.stdout.strip() == "127.0.0.1/32,10.0.0.0/8"


TRIGGERS = {
    "sqlite": (
        [
            "CREATE TRIGGER kcp_notice_refuse BEFORE UPDATE ON kcp_django_kcpnotice "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ],
        ["DROP TRIGGER kcp_notice_refuse"],
    ),
    "postgresql": (
        [
            "CREATE FUNCTION kcp_notice_refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ "
            "LANGUAGE plpgsql",
            "CREATE TRIGGER kcp_notice_refuse BEFORE UPDATE ON kcp_django_kcpnotice "
            "FOR EACH ROW EXECUTE FUNCTION kcp_notice_refuse()",
        ],
        ["DROP TRIGGER kcp_notice_refuse ON kcp_django_kcpnotice", "DROP FUNCTION kcp_notice_refuse()"],
    ),
    "mysql": (
        [
            "CREATE TRIGGER kcp_notice_refuse BEFORE UPDATE ON kcp_django_kcpnotice "
            "FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'"
        ],
        ["DROP TRIGGER kcp_notice_refuse"],
    ),
}


def test_a_failure_after_the_refund_moved_undoes_all_of_it(
    vbank_refund: Refund, signals: list[tuple[str, dict[str, Any]]]
) -> None:
    """The database refuses the notice's last write (its match): the refund's completion goes too."""
    create, drop = TRIGGERS[connection.vendor]
    with connection.cursor() as cursor:
        for statement in create:
            cursor.execute(statement)
    try:
        response = post(tx01(vbank_refund))
    finally:
        with connection.cursor() as cursor:
            for statement in drop:
                cursor.execute(statement)

    assert result_of(response) == "9999"
    vbank_refund.refresh_from_db()
    assert vbank_refund.state == "ACCEPTED" and not KcpNotice.objects.exists() and signals == []

    assert result_of(post(tx01(vbank_refund))) == "0000"  # KCP's next try completes it
    vbank_refund.refresh_from_db()
    assert vbank_refund.state == "COMPLETED"
