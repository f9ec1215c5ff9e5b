"""Refunds through PpCliGateway: the exact argv (a stand-in recorder) and end to end with the fake pp_cli."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from kcp_django.exceptions import GatewayUnavailable, KcpConfigurationError, OutcomeUnknown, RefundRefused
from kcp_django.gateways.base import RefundCall
from kcp_django.gateways.ppcli.client import ARG_KEYS, PpCliGateway
from kcp_django.gateways.sandbox import SandboxGateway
from kcp_django.models import AccountVerification, Refund
from kcp_django.refunds import request_refund
from kcp_django.verifications import verify_refund_account
from tests.ppcli_standins import SITE_KEY, install, install_fake, ppcli_merchant
from tests.support.kit import make_fake_kit, ppcli_merchants
from tests.support.payments import ORDER

pytestmark = pytest.mark.usefixtures("paid")

ACCOUNT_NO = "1234567890123"
HOLDER = "홍길동"
HOLDER_EUC_KR = b"\xc8\xab\xb1\xe6\xb5\xbf"
REASON = "단순 변심"
REASON_EUC_KR = b"\xb4\xdc\xbc\xf8 \xba\xaf\xbd\xc9"
TNO = "20261127000001"
IP = "203.0.113.7"
US = b"\x1f"

ESCROW_CANCEL = RefundCall(
    kind="escrow-cancel",
    ordr_idxx="KCPR-20261127-0001",
    tno=TNO,
    mod_type="STE2",
    bank_code="04",
    account_no=ACCOUNT_NO,
    owner_nm=HOLDER,
    reason=REASON,
    mod_ip=IP,
)
ESCROW_CANCEL_SHIPPED = dataclasses.replace(ESCROW_CANCEL, mod_type="STE4")
ESCROW_REFUND = dataclasses.replace(ESCROW_CANCEL, kind="escrow-refund", mod_type="STE9", bank_code="88")
VBANK_FULL = dataclasses.replace(ESCROW_CANCEL, kind="vbank-refund", mod_type="STHD", bank_code="71")
VBANK_PARTIAL = dataclasses.replace(VBANK_FULL, mod_type="STPD", amount=3000, remaining=10000)

COMMON = [(b"tno", TNO.encode()), (b"mod_type", None), (b"mod_ip", IP.encode()), (b"mod_desc", REASON_EUC_KR)]
#: (request, tx_cd, every mod_data pair in order); ``None`` stands for the request's mod_type.
EXPECTED = {
    "escrow-cancel-before-shipping": (
        ESCROW_CANCEL,
        b"00200000",
        [*COMMON, (b"refund_account", ACCOUNT_NO.encode()), (b"refund_nm", HOLDER_EUC_KR), (b"bank_code", b"BK04")],
    ),
    "escrow-cancel-after-shipping": (
        ESCROW_CANCEL_SHIPPED,
        b"00200000",
        [*COMMON, (b"refund_account", ACCOUNT_NO.encode()), (b"refund_nm", HOLDER_EUC_KR), (b"bank_code", b"BK04")],
    ),
    "escrow-refund": (
        ESCROW_REFUND,
        b"70200200",
        [
            *COMMON,
            (b"mod_desc_cd", b"CA06"),
            (b"sub_mod_type", b"STHD"),
            (b"mod_sub_type", b"MDSC00"),
            (b"mod_bankcode", b"BK88"),
            (b"mod_account", ACCOUNT_NO.encode()),
            (b"mod_depositor", HOLDER_EUC_KR),
        ],
    ),
    "vbank-refund-full": (
        VBANK_FULL,
        b"00200000",
        [
            *COMMON,
            (b"mod_bankcode", b"BK71"),
            (b"mod_account", ACCOUNT_NO.encode()),
            (b"mod_depositor", HOLDER_EUC_KR),
            (b"mod_sub_type", b"MDSC00"),
            (b"mod_comp_type", b"MDCP01"),
        ],
    ),
    "vbank-refund-partial": (
        VBANK_PARTIAL,
        b"00200000",
        [
            *COMMON,
            (b"mod_bankcode", b"BK71"),
            (b"mod_account", ACCOUNT_NO.encode()),
            (b"mod_depositor", HOLDER_EUC_KR),
            (b"mod_sub_type", b"MDSC03"),
            (b"mod_mny", b"3000"),
            (b"rem_mny", b"10000"),
            (b"mod_comp_type", b"MDCP01"),
        ],
    ),
}


def recorded_argv(home: Path) -> list[bytes]:
    return (home / "bin" / "argv.bin").read_bytes().split(b"\0")


def recorded_mod_data(home: Path) -> dict[bytes, bytes]:
    arg = recorded_argv(home)[2]
    token = next(token for token in arg.split(b",") if token.startswith(b"modx_data="))
    body = token.removeprefix(b"modx_data=mod_data=")
    return dict(pair.partition(b"=")[::2] for pair in body.split(US) if pair)


# --- the argument, byte for byte -------------------------------------------------------------


@pytest.mark.parametrize("case", list(EXPECTED))
def test_each_kind_sends_kcps_modification_request_byte_for_byte(tmp_path: Path, case: str) -> None:
    request, tx_cd, pairs = EXPECTED[case]
    binary = install("recorder", tmp_path / "bin" / "pp_cli")

    result = PpCliGateway(ppcli_merchant(tmp_path)).refund(request)

    mod_data = b"".join(name + b"=" + (value or request.mod_type.encode()) + US for name, value in pairs)
    home = os.fsencode(tmp_path)
    expected_arg = (
        b"home=" + home + b","
        b"site_cd=T0000,"
        b"site_key=" + SITE_KEY.encode() + b","
        b"tx_cd=" + tx_cd + b","
        b"pa_url=testpaygw.kcp.co.kr,"
        b"pa_port=8090,"
        b"ordr_idxx=KCPR-20261127-0001,"
        b"payx_data=payx_data=,"
        b"ordr_data=,"
        b"rcvr_data=,"
        b"escw_data=,"
        b"modx_data=mod_data=" + mod_data + b","
        b"enc_data=,"
        b"enc_info=,"
        b"trace_no=,"
        b"cust_ip=" + IP.encode() + b","
        b"log_path=" + home + b"/log,"
        b"log_level=3,"
        b"opt=0"
    )
    argv = recorded_argv(tmp_path)
    assert argv == [os.fsencode(binary), b"-h", expected_arg]
    assert [token.partition(b"=")[0].decode() for token in argv[2].split(b",")] == list(ARG_KEYS)
    assert result.res_cd == "0000"


def test_the_reason_and_holder_go_out_as_euc_kr_bytes(tmp_path: Path) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    PpCliGateway(ppcli_merchant(tmp_path)).refund(dataclasses.replace(VBANK_FULL, owner_nm="김철수", reason="환불"))
    sent = recorded_mod_data(tmp_path)
    assert sent[b"mod_depositor"] == "김철수".encode("euc-kr") == b"\xb1\xe8\xc3\xb6\xbc\xf6"
    assert sent[b"mod_desc"] == b"\xc8\xaf\xba\xd2"


def test_empty_values_are_left_out_like_kcps_library(tmp_path: Path) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    PpCliGateway(ppcli_merchant(tmp_path)).refund(dataclasses.replace(ESCROW_CANCEL, reason="", mod_ip=""))
    arg = recorded_argv(tmp_path)[2]
    assert b"mod_desc" not in arg
    assert b"mod_ip" not in arg
    assert b",cust_ip=," in arg
    assert list(recorded_mod_data(tmp_path)) == [b"tno", b"mod_type", b"refund_account", b"refund_nm", b"bank_code"]


def test_real_mode_sends_refunds_to_the_real_gateway_host(tmp_path: Path) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    PpCliGateway(ppcli_merchant(tmp_path, MODE="real", SITE_CD="A52Q7")).refund(VBANK_FULL)
    assert b",pa_url=paygw.kcp.co.kr,pa_port=8090," in recorded_argv(tmp_path)[2]


def test_a_merchants_refund_layouts_change_tx_cd_and_add_and_remove_fields(tmp_path: Path) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    layouts = {
        "escrow-refund": {"tx_cd": "70200300", "fields": {"mod_desc_cd": None, "part_canc_yn": "N"}},
        "vbank-refund": {"fields": {"mod_comp_type": "MDCP02", "mod_desc": None}},
    }
    gateway = PpCliGateway(ppcli_merchant(tmp_path, REFUND_LAYOUTS=layouts))

    gateway.refund(ESCROW_REFUND)
    arg = recorded_argv(tmp_path)[2]
    assert b",tx_cd=70200300," in arg
    sent = recorded_mod_data(tmp_path)
    assert b"mod_desc_cd" not in sent
    assert list(sent)[-1] == b"part_canc_yn" and sent[b"part_canc_yn"] == b"N"

    gateway.refund(VBANK_FULL)
    assert b",tx_cd=00200000," in recorded_argv(tmp_path)[2]
    sent = recorded_mod_data(tmp_path)
    assert sent[b"mod_comp_type"] == b"MDCP02"
    assert b"mod_desc" not in sent

    gateway.refund(ESCROW_CANCEL)  # a kind the override leaves alone keeps the default
    assert b",tx_cd=00200000," in recorded_argv(tmp_path)[2]
    assert recorded_mod_data(tmp_path)[b"bank_code"] == b"BK04"


@pytest.mark.parametrize(
    ("layouts", "words"),
    [
        ({"vbank-refund": {"tx_cd": "2002"}}, "['tx_cd']: must be 8 digits"),
        ({"vbank-refund": {"fields": {"mod_account": "{account}"}}}, "names no refund field"),
        ({"vbank-refund": {"fields": {"mod_desc": "{reason} now"}}}, "constant text or exactly"),
        ({"vbank-refund": "00200000"}, "must be a dict with 'tx_cd' and/or 'fields'"),
        # Each of these used to raise AttributeError/ValueError, or was silently ignored.
        ("00200000", "must be a dict of refund kind"),
        ({"vbank_refund": {"tx_cd": "00200001"}}, "unknown refund kinds ['vbank_refund']"),
        ({"vbank-refund": {"field": {"mod_desc": None}}}, "unknown entries ['field']"),
        ({"vbank-refund": {"fields": "mod_desc"}}, "['fields']: must be a dict"),
        ({"vbank-refund": {"fields": {"mod=x": "1"}}}, "is not a usable field name"),
        ({"vbank-refund": {"tx_cd": "００２０００００"}}, "must be 8 digits"),
    ],
)
def test_a_broken_refund_layouts_runs_nothing_and_names_the_setting(tmp_path: Path, layouts: Any, words: str) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    # The settings refuse such a merchant (tests/test_conf.py); the gateway still does if handed one.
    merchant = dataclasses.replace(ppcli_merchant(tmp_path), options={"REFUND_LAYOUTS": layouts})
    with pytest.raises(GatewayUnavailable) as caught:
        PpCliGateway(merchant).refund(VBANK_FULL)
    assert "REFUND_LAYOUTS" in caught.value.reason
    assert words in caught.value.reason
    assert not (tmp_path / "bin" / "argv.bin").exists()


@pytest.mark.parametrize("character", [",", "\x00", "\x1c", "\x1d", "\x1e", "\x1f"])
@pytest.mark.parametrize("field", ["owner_nm", "reason", "account_no", "ordr_idxx", "mod_ip", "bank_code"])
def test_a_value_pp_cli_cannot_carry_is_refused_before_anything_runs(
    tmp_path: Path, field: str, character: str
) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    request = dataclasses.replace(VBANK_FULL, **{field: getattr(VBANK_FULL, field) + character})
    with pytest.raises(GatewayUnavailable, match="nothing was sent") as caught:
        PpCliGateway(ppcli_merchant(tmp_path)).refund(request)
    assert not (tmp_path / "bin" / "argv.bin").exists()
    assert ACCOUNT_NO not in caught.value.reason
    assert HOLDER not in caught.value.reason


def test_text_euc_kr_cannot_carry_is_refused_before_anything_runs(tmp_path: Path) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    for request in (
        dataclasses.replace(ESCROW_CANCEL, owner_nm="홍길동😀"),
        dataclasses.replace(VBANK_FULL, reason="🙂"),
    ):
        with pytest.raises(GatewayUnavailable, match="EUC-KR"):
            PpCliGateway(ppcli_merchant(tmp_path)).refund(request)
    assert not (tmp_path / "bin" / "argv.bin").exists()


# --- reading the answer and masking ----------------------------------------------------------


def run_printer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stdout: bytes, status: int = 0) -> PpCliGateway:
    monkeypatch.setenv("KCP_FAKE_STANDIN_STDOUT", stdout.hex())
    monkeypatch.setenv("KCP_FAKE_STANDIN_STDERR", "")
    monkeypatch.setenv("KCP_FAKE_STANDIN_EXIT", str(status))
    monkeypatch.setenv("KCP_FAKE_STANDIN_ECHO_ARG", "1")  # a chatty client echoing its whole ARG to stderr
    install("printer", tmp_path / "bin" / "pp_cli")
    return PpCliGateway(ppcli_merchant(tmp_path, TIMEOUT=10))


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SITE_KEY not in text
        assert ACCOUNT_NO not in text
        assert HOLDER not in text


@pytest.mark.parametrize("request_", [ESCROW_CANCEL, ESCROW_REFUND, VBANK_PARTIAL], ids=lambda r: r.kind)
def test_stderr_never_shows_the_account_the_holder_or_the_site_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, request_: RefundCall
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(OutcomeUnknown) as caught:
        run_printer(tmp_path, monkeypatch, b"", status=3).refund(request_)
    error = caught.value
    assert "site_key=[hidden]" in error.raw["_stderr"]
    assert "********0123" in error.raw["_stderr"]
    assert_no_secret(str(error), error.reason, *error.raw.values())

    answer = b"res_cd=0000\x1fres_msg=ok\x1ftno=" + TNO.encode() + b"\n"
    result = run_printer(tmp_path, monkeypatch, answer).refund(request_)
    assert result.is_success
    assert "modx_data=mod_data=tno=" in result.raw["_stderr"]  # the whole ARG was echoed, and masked
    assert_no_secret(*result.raw.values())
    assert_no_secret(*(record.getMessage() for record in caplog.records))


def test_an_answer_echoing_the_refund_account_keeps_it_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The shared masking knows mod_account/mod_depositor by name, not escrow-cancel's refund_account/refund_nm.
    answer = (
        b"res_cd=0000\x1fres_msg=ok\x1frefund_account="
        + ACCOUNT_NO.encode()
        + b"\x1frefund_nm="
        + HOLDER_EUC_KR
        + b"\n"
    )
    result = run_printer(tmp_path, monkeypatch, answer).refund(ESCROW_CANCEL)
    assert result.raw["refund_account"] == "********0123"
    assert result.raw["refund_nm"] == "홍*동"
    assert_no_secret(*result.raw.values())


def test_a_refund_answer_is_read_like_a_verification_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = b"banner\nres_cd=8801\x1fres_msg=" + "환불 불가 거래".encode("euc-kr") + b"\x1fordr_idxx=KCPR-1\r\n\n"
    result = run_printer(tmp_path, monkeypatch, answer).refund(VBANK_FULL)
    assert (result.res_cd, result.res_msg, result.ordr_idxx) == ("8801", "환불 불가 거래", "KCPR-1")

    assert run_printer(tmp_path, monkeypatch, b"\n").refund(VBANK_FULL).res_cd == "9502"
    with pytest.raises(OutcomeUnknown, match="no res_cd"):
        run_printer(tmp_path, monkeypatch, b"PayPLUS trace\x1fstatus=ok\n").refund(VBANK_FULL)


def test_a_missing_binary_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(GatewayUnavailable, match="pp_cli not found"):
        PpCliGateway(ppcli_merchant(tmp_path)).refund(VBANK_FULL)


# --- the fake pp_cli answers refunds as the sandbox does --------------------------------------

FAKE_CASES = {
    "accepted": ESCROW_CANCEL,
    "accepted-after-shipping": ESCROW_CANCEL_SHIPPED,
    "accepted-escrow-refund": ESCROW_REFUND,
    "accepted-vbank-full": VBANK_FULL,
    "accepted-vbank-partial": VBANK_PARTIAL,
    "refused-8": dataclasses.replace(ESCROW_REFUND, tno="20261127000008"),
    "vbank-account-not-found": dataclasses.replace(VBANK_FULL, account_no="0001234567"),
    "vbank-holder-mismatch": dataclasses.replace(VBANK_PARTIAL, owner_nm="김불일치"),
    # The account rules are vbank-refund's only: KCP checks no account on an escrow cancel.
    "escrow-ignores-account-rules": dataclasses.replace(ESCROW_CANCEL, account_no="0001234567"),
}


@pytest.mark.parametrize("case", list(FAKE_CASES))
def test_the_fake_answers_each_refund_like_the_sandbox(tmp_path: Path, case: str) -> None:
    request = FAKE_CASES[case]
    install_fake(tmp_path / "bin" / "pp_cli")
    merchant = ppcli_merchant(tmp_path, TIMEOUT=10)

    from_fake = PpCliGateway(merchant).refund(request)
    from_sandbox = SandboxGateway(merchant).refund(request)

    assert "_stderr" not in from_fake.raw, from_fake.raw.get("_stderr")
    assert (from_fake.res_cd, from_fake.res_msg, from_fake.ordr_idxx, from_fake.tno) == (
        from_sandbox.res_cd,
        from_sandbox.res_msg,
        from_sandbox.ordr_idxx,
        from_sandbox.tno,
    )
    assert (from_fake.app_time is None) == (from_sandbox.app_time is None)


def test_the_fake_gives_no_answer_for_a_tno_ending_in_9(tmp_path: Path) -> None:
    install_fake(tmp_path / "bin" / "pp_cli")
    with pytest.raises(OutcomeUnknown, match="no answer within 1s"):
        PpCliGateway(ppcli_merchant(tmp_path, TIMEOUT=1)).refund(dataclasses.replace(VBANK_FULL, tno="20261127000009"))


def test_the_fake_answers_8999_to_a_refund_off_its_tables_until_told_the_same_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake(tmp_path / "bin" / "pp_cli")
    layouts = {"vbank-refund": {"tx_cd": "00200001", "fields": {"mod_comp_type": None, "note": "x"}}}
    gateway = PpCliGateway(ppcli_merchant(tmp_path, TIMEOUT=10, REFUND_LAYOUTS=layouts))

    refused = gateway.refund(VBANK_FULL)
    assert refused.res_cd == "8999"
    assert "00200001" in refused.raw["_stderr"]

    monkeypatch.setenv("KCP_FAKE_REFUND_LAYOUTS", json.dumps(layouts))
    assert gateway.refund(VBANK_FULL).res_cd == "0000"


def test_the_fake_answers_8999_to_fields_its_table_does_not_render(tmp_path: Path) -> None:
    install_fake(tmp_path / "bin" / "pp_cli")
    merchant = ppcli_merchant(tmp_path, TIMEOUT=10, REFUND_LAYOUTS={"escrow-refund": {"fields": {"mod_desc_cd": "X"}}})
    result = PpCliGateway(merchant).refund(ESCROW_REFUND)
    assert result.res_cd == "8999"
    assert "as escrow-refund: mod_data [" in result.raw["_stderr"]
    # A mod_type that is not the kind's.
    wrong = PpCliGateway(ppcli_merchant(tmp_path, TIMEOUT=10)).refund(
        dataclasses.replace(ESCROW_REFUND, mod_type="STE2")
    )
    assert wrong.res_cd == "8999"
    assert "mod_type 'STE2'" in wrong.raw["_stderr"]


def test_the_fakes_log_masks_the_refund_account_and_holder(tmp_path: Path) -> None:
    install_fake(tmp_path / "bin" / "pp_cli")
    gateway = PpCliGateway(ppcli_merchant(tmp_path, TIMEOUT=10))
    gateway.refund(ESCROW_CANCEL)
    gateway.refund(VBANK_FULL)
    text = "".join(path.read_bytes().decode("cp949") for path in (tmp_path / "log").rglob("*_pp_cli.log"))
    assert len([line for line in text.splitlines() if ESCROW_CANCEL.ordr_idxx in line]) == 2
    assert "refund_account=********0123" in text
    assert "refund_nm=홍*동" in text
    assert ACCOUNT_NO not in text
    assert HOLDER not in text


# --- end to end: request_refund through the real gateway and the fake pp_cli -------------------


def fake_calls(kit: Path, ordr_idxx: str) -> int:
    """How many times the fake pp_cli was run for ``ordr_idxx`` (one line of its log per run)."""
    return sum(
        ordr_idxx in line
        for path in (kit / "log").rglob("*_pp_cli.log")
        for line in path.read_bytes().decode("cp949").splitlines()
    )


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    return make_fake_kit(tmp_path / "kcp")


@pytest.fixture
def verified(kit: Path) -> AccountVerification:
    with override_settings(KCP_MERCHANTS=ppcli_merchants(kit, timeout=10)):
        row = verify_refund_account(bank_code="04", account_no="123-456-789012", owner_nm=HOLDER, reference=ORDER)
    assert row.state == "VERIFIED", row.failure_reason
    return row


E2E = [
    # (kind, tno, extra arguments, state, res_cd)
    pytest.param("escrow-cancel", TNO, {}, "ACCEPTED", "0000", id="escrow-cancel"),
    pytest.param("escrow-cancel", TNO, {"after_shipping": True}, "ACCEPTED", "0000", id="escrow-cancel-shipped"),
    pytest.param("escrow-refund", TNO, {}, "ACCEPTED", "0000", id="escrow-refund"),
    pytest.param("vbank-refund", TNO, {}, "ACCEPTED", "0000", id="vbank-refund"),
    pytest.param("vbank-refund", TNO, {"amount": 3000, "remaining": 10000}, "ACCEPTED", "0000", id="vbank-partial"),
    # KCP publishes no refund codes: any answer but 0000 through pp_cli holds the payment as UNKNOWN.
    pytest.param("escrow-refund", "20261127000008", {}, "UNKNOWN", "8801", id="refused"),
    pytest.param(
        "vbank-refund",
        TNO,
        {"verification": None, "bank_code": "04", "account_no": "0001234567", "owner_nm": HOLDER},
        "UNKNOWN",
        "8105",
        id="vbank-account-not-found",
    ),
    pytest.param(
        "vbank-refund",
        TNO,
        {"verification": None, "bank_code": "04", "account_no": "123456789012", "owner_nm": "김불일치"},
        "UNKNOWN",
        "8104",
        id="vbank-holder-mismatch",
    ),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("kind", "tno", "extra", "state", "res_cd"), E2E)
def test_request_refund_through_pp_cli_ends_as_the_table_says(
    kit: Path, verified: AccountVerification, kind: str, tno: str, extra: dict[str, Any], state: str, res_cd: str
) -> None:
    arguments: dict[str, Any] = {"verification": verified, "reason": REASON, "client_ip": IP, **extra}
    with override_settings(KCP_MERCHANTS=ppcli_merchants(kit, timeout=10)):
        refund = request_refund(kind=kind, tno=tno, idempotency_key="k-1", **arguments)
        again = request_refund(kind=kind, tno=tno, idempotency_key="k-1", **arguments)

    refund.refresh_from_db()
    assert (refund.state, refund.res_cd) == (state, res_cd), refund.failure_reason
    assert again.pk == refund.pk
    if state == "ACCEPTED":
        assert refund.answer_tno == tno
        assert refund.app_time is not None
    assert fake_calls(kit, refund.ordr_idxx) == 1
    assert Refund.objects.count() == 1


FAULTS = [
    # (KCP_FAKE_MODE, extra environment, tno, words of the stored reason)
    pytest.param("normal", {}, "20261127000009", "no answer within 1s", id="no-answer-tno-9"),
    pytest.param("hang", {}, TNO, "no answer within 1s", id="hang"),
    pytest.param("slow", {"KCP_FAKE_SLEEP": "5"}, TNO, "no answer within 1s", id="slower-than-timeout"),
    pytest.param("crash", {}, TNO, "killed by signal SIGSEGV", id="crash"),
    pytest.param("garbage", {}, TNO, "has no res_cd", id="garbage"),
    pytest.param("undecodable", {}, TNO, "not EUC-KR/CP949", id="undecodable"),
    pytest.param("empty", {}, TNO, "KCP client error 9502", id="empty-output"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("mode", "env", "tno", "reason"), FAULTS)
def test_a_pp_cli_fault_leaves_the_refund_unknown_and_it_is_never_sent_again(
    kit: Path,
    verified: AccountVerification,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    env: dict[str, str],
    tno: str,
    reason: str,
) -> None:
    monkeypatch.setenv("KCP_FAKE_MODE", mode)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with override_settings(KCP_MERCHANTS=ppcli_merchants(kit, timeout=1)):
        refund = request_refund(kind="escrow-refund", tno=tno, verification=verified, idempotency_key="k-1")
        repeat = request_refund(kind="escrow-refund", tno=tno, verification=verified, idempotency_key="k-1")
        monkeypatch.setenv("KCP_FAKE_MODE", "normal")
        with pytest.raises(RefundRefused) as other_key:
            request_refund(kind="escrow-refund", tno=tno, verification=verified, idempotency_key="k-2")

    refund.refresh_from_db()
    assert refund.state == "UNKNOWN"
    assert reason in refund.failure_reason
    assert repeat.pk == refund.pk and repeat.state == "UNKNOWN"
    assert other_key.value.rule == "earlier_refund_unknown"
    assert fake_calls(kit, refund.ordr_idxx) == 1
    assert Refund.objects.count() == 1
    for text in (refund.failure_reason, str(refund.raw_response)):
        assert "123456789012" not in text
        assert HOLDER not in text


@pytest.mark.django_db(transaction=True)
def test_a_broken_refund_layouts_is_refused_before_anything_is_stored_or_run(
    kit: Path, verified: AccountVerification
) -> None:
    merchants = ppcli_merchants(kit, timeout=10)
    merchants["default"]["OPTIONS"]["REFUND_LAYOUTS"] = "00200000"  # not a dict of kind -> table
    runs_before = fake_calls(kit, "")  # the verification's own run
    with override_settings(KCP_MERCHANTS=merchants), pytest.raises(KcpConfigurationError, match="REFUND_LAYOUTS"):
        request_refund(kind="escrow-refund", tno=TNO, verification=verified)

    # Nothing was stored, so nothing holds the payment's place, and nothing was run.
    assert not Refund.objects.exists()
    assert fake_calls(kit, "") == runs_before
