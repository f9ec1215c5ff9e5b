"""PpCliGateway against stand-in pp_cli programs (real subprocesses, no mocks)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from kcp_django.exceptions import GatewayUnavailable, KcpConfigurationError, OutcomeUnknown
from kcp_django.gateways.base import VerificationRequest, ensure_usable, is_test_double, parse_app_time
from kcp_django.gateways.ppcli.client import (
    STDOUT_LIMIT,
    PpCliArgs,
    PpCliGateway,
    build_arg,
    find_binary,
    last_line,
    mask_text,
    parse_answer,
)
from tests.ppcli_standins import SITE_KEY, gone_soon, install, ppcli_merchant

ACCOUNT_NO = "1234567890123"
REQUEST = VerificationRequest(
    ordr_idxx="ORD-20240424-0001",
    bank_code="04",
    account_no=ACCOUNT_NO,
    owner_nm="홍길동",
    cust_ip="203.0.113.7",
)
FORBIDDEN = [",", "\x00", "\x1c", "\x1d", "\x1e", "\x1f"]
BASE_ARGS = PpCliArgs(home="/k", site_cd="T0000", site_key="k")


def recorded_argv(home: Path) -> list[bytes]:
    return (home / "bin" / "argv.bin").read_bytes().split(b"\0")


def test_argv_is_byte_for_byte_what_kcps_library_builds(tmp_path: Path) -> None:
    binary = install("recorder", tmp_path / "bin" / "pp_cli")
    result = PpCliGateway(ppcli_merchant(tmp_path)).verify(REQUEST)

    home = os.fsencode(tmp_path)
    expected_arg = (
        b"home=" + home + b","
        b"site_cd=T0000,"
        b"site_key=Xq7SiteKeyForPpCliTests9_,"
        b"tx_cd=00402200,"
        b"pa_url=testpaygw.kcp.co.kr,"
        b"pa_port=8090,"
        b"ordr_idxx=ORD-20240424-0001,"
        b"payx_data=payx_data="
        b"common=amount=0\x1fcust_ip=203.0.113.7\x1f\x1e"
        b"acco=pay_method=ACCO\x1freq_tx=pay\x1fowner_nm=\xc8\xab\xb1\xe6\xb5\xbf\x1f"
        b"account_no=1234567890123\x1fbank_code=04\x1f\x1e,"
        b"ordr_data=ordr_data=ordr_idxx=ORD-20240424-0001\x1f,"
        b"rcvr_data=,"
        b"escw_data=,"
        b"modx_data=,"
        b"enc_data=,"
        b"enc_info=,"
        b"trace_no=,"
        b"cust_ip=203.0.113.7,"
        b"log_path=" + home + b"/log,"
        b"log_level=3,"
        b"opt=0"
    )
    assert recorded_argv(tmp_path) == [os.fsencode(binary), b"-h", expected_arg]
    assert result.res_cd == "0000"
    assert result.res_msg == "정상처리"
    assert result.tno == "20240424942340"
    assert result.app_time is not None
    assert result.app_time.strftime("%Y%m%d%H%M%S") == "20240424142638"


def test_real_mode_goes_to_the_real_gateway_host(tmp_path: Path) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    merchant = ppcli_merchant(tmp_path, MODE="real", SITE_CD="A52Q7", LOG_LEVEL=1)
    PpCliGateway(merchant).verify(REQUEST)
    arg = recorded_argv(tmp_path)[2]
    assert b",pa_url=paygw.kcp.co.kr,pa_port=8090," in arg
    assert arg.endswith(b",log_level=1,opt=0")


def test_layout_override_from_options(tmp_path: Path) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    layout = {"tx_cd": "00999999", "payx_data": {"acco": {"req_tx": None}}, "rcvr_data": {"note": "x"}}
    PpCliGateway(ppcli_merchant(tmp_path, LAYOUT=layout)).verify(REQUEST)
    arg = recorded_argv(tmp_path)[2]
    assert b",tx_cd=00999999," in arg
    assert b"req_tx" not in arg
    assert b",rcvr_data=rcvr_data=note=x\x1f," in arg


def test_broken_layout_runs_nothing(tmp_path: Path) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    # The settings refuse such a merchant (tests/test_conf.py); the gateway still does if handed one.
    broken = {"LAYOUT": {"payx_data": {"acco": {"owner_nm": "{owner}"}}}}
    merchant = dataclasses.replace(ppcli_merchant(tmp_path), options=broken)
    with pytest.raises(GatewayUnavailable, match="LAYOUT"):
        PpCliGateway(merchant).verify(REQUEST)
    assert not (tmp_path / "bin" / "argv.bin").exists()


def test_builder_frames_sections_like_kcps_library() -> None:
    args = PpCliArgs(
        home="/k",
        site_cd="T0000",
        site_key="key",
        tx_cd="00100000",
        payx_data=[("common", [("amount", "0"), ("cust_ip", "")]), ("empty", [("x", "")])],
        ordr_data=[("ordr_idxx", "O1"), ("good_name", "")],
        escw_data=[("deli_term", "03"), ("bask_cntx", "1")],
        modx_data=[("mod_type", "STSC"), ("tno", "20240424942340")],
    )
    assert build_arg(args) == (
        b"home=/k,site_cd=T0000,site_key=key,tx_cd=00100000,pa_url=,pa_port=8090,ordr_idxx=,"
        b"payx_data=payx_data=common=amount=0\x1f\x1e,"
        b"ordr_data=ordr_data=ordr_idxx=O1\x1f,"
        b"rcvr_data=,"
        b"escw_data=escw_data=deli_term=03\x1dbask_cntx=1\x1d,"
        b"modx_data=mod_data=mod_type=STSC\x1ftno=20240424942340\x1f,"
        b"enc_data=,enc_info=,trace_no=,cust_ip=,log_path=,log_level=3,opt=0"
    )


def test_builder_keeps_payx_datas_own_name_when_it_is_empty() -> None:
    arg = build_arg(PpCliArgs(home="", site_cd="T0000", site_key="k"))
    assert b",payx_data=payx_data=,ordr_data=," in arg


@pytest.mark.parametrize("character", FORBIDDEN)
@pytest.mark.parametrize(
    "field",
    ["home", "site_cd", "site_key", "tx_cd", "pa_url", "ordr_idxx", "trace_no", "cust_ip", "log_path", "log_level"],
)
def test_builder_refuses_framing_characters_in_any_header_value(field: str, character: str) -> None:
    changes: dict[str, Any] = {field: f"a{character}b"}
    args = dataclasses.replace(BASE_ARGS, **changes)
    with pytest.raises(GatewayUnavailable, match="nothing was sent") as caught:
        build_arg(args)
    assert field in caught.value.reason


@pytest.mark.parametrize("character", FORBIDDEN)
def test_builder_refuses_framing_characters_in_section_values(character: str) -> None:
    for section in ("ordr_data", "rcvr_data", "escw_data", "modx_data"):
        changes: dict[str, Any] = {section: [("name", f"a{character}")]}
        with pytest.raises(GatewayUnavailable):
            build_arg(dataclasses.replace(BASE_ARGS, **changes))
    with pytest.raises(GatewayUnavailable):
        build_arg(dataclasses.replace(BASE_ARGS, payx_data=[("acco", [("x", f"{character}")])]))


@pytest.mark.parametrize("character", FORBIDDEN)
@pytest.mark.parametrize("field", ["owner_nm", "account_no", "ordr_idxx", "cust_ip", "bank_code"])
def test_gateway_refuses_before_exec(tmp_path: Path, field: str, character: str) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    values = {
        "ordr_idxx": REQUEST.ordr_idxx,
        "bank_code": "04",
        "account_no": ACCOUNT_NO,
        "owner_nm": "홍길동",
        "cust_ip": "203.0.113.7",
    }
    values[field] += character
    with pytest.raises(GatewayUnavailable, match="nothing was sent") as caught:
        PpCliGateway(ppcli_merchant(tmp_path)).verify(VerificationRequest(**values))
    assert not (tmp_path / "bin" / "argv.bin").exists()
    assert ACCOUNT_NO not in caught.value.reason
    assert "홍길동" not in caught.value.reason


def test_gateway_refuses_text_euc_kr_cannot_carry(tmp_path: Path) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    request = VerificationRequest("ORD-1", "04", ACCOUNT_NO, "홍길동😀")
    with pytest.raises(GatewayUnavailable, match="EUC-KR"):
        PpCliGateway(ppcli_merchant(tmp_path)).verify(request)
    assert not (tmp_path / "bin" / "argv.bin").exists()


def test_gateway_refuses_a_comma_in_home_dir(tmp_path: Path) -> None:
    home = tmp_path / "kcp,home"
    install("recorder", home / "bin" / "pp_cli")
    with pytest.raises(GatewayUnavailable, match="home"):
        PpCliGateway(ppcli_merchant(home)).verify(REQUEST)
    assert not (home / "bin" / "argv.bin").exists()


# --- timeouts and the process group ----------------------------------------------------------


def test_sleeping_forever_times_out_and_leaves_nothing(tmp_path: Path) -> None:
    install("sleeper", tmp_path / "bin" / "pp_cli")
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown, match=r"no answer within 1s"):
        PpCliGateway(ppcli_merchant(tmp_path)).verify(REQUEST)
    assert time.monotonic() - started < 1 + 2
    (pid,) = map(int, (tmp_path / "bin" / "pids.txt").read_text().split())
    assert gone_soon(pid)


def test_grandchild_holding_the_pipe_is_killed_with_the_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCP_FAKE_STANDIN_SPAWN", "1")
    install("sleeper", tmp_path / "bin" / "pp_cli")
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown, match="process group was killed"):
        PpCliGateway(ppcli_merchant(tmp_path)).verify(REQUEST)
    assert time.monotonic() - started < 1 + 2
    pids = list(map(int, (tmp_path / "bin" / "pids.txt").read_text().split()))
    assert len(pids) == 2
    assert all(gone_soon(pid) for pid in pids)


def test_answer_then_exit_with_a_grandchild_on_the_pipe_does_not_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KCP_FAKE_STANDIN_SPAWN", "1")
    monkeypatch.setenv("KCP_FAKE_STANDIN_THEN", "answer")
    install("sleeper", tmp_path / "bin" / "pp_cli")
    started = time.monotonic()
    result = PpCliGateway(ppcli_merchant(tmp_path, TIMEOUT=10)).verify(REQUEST)
    assert result.res_cd == "0000"
    assert time.monotonic() - started < 5
    pids = list(map(int, (tmp_path / "bin" / "pids.txt").read_text().split()))
    assert all(gone_soon(pid) for pid in pids)


# --- reading the output ----------------------------------------------------------------------


def run_printer(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stdout: bytes = b"",
    stderr: bytes = b"",
    status: int = 0,
    echo_arg: bool = False,
) -> PpCliGateway:
    monkeypatch.setenv("KCP_FAKE_STANDIN_STDOUT", stdout.hex())
    monkeypatch.setenv("KCP_FAKE_STANDIN_STDERR", stderr.hex())
    monkeypatch.setenv("KCP_FAKE_STANDIN_EXIT", str(status))
    monkeypatch.setenv("KCP_FAKE_STANDIN_ECHO_ARG", "1" if echo_arg else "0")
    install("printer", tmp_path / "bin" / "pp_cli")
    return PpCliGateway(ppcli_merchant(tmp_path, TIMEOUT=10))


def test_empty_output_is_kcps_9502_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_printer(tmp_path, monkeypatch, stdout=b"\n").verify(REQUEST)
    assert (result.res_cd, result.res_msg) == ("9502", "연동 모듈 호출 오류")
    assert not result.is_success


def test_non_zero_exit_with_nothing_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(OutcomeUnknown, match="status 4"):
        run_printer(tmp_path, monkeypatch, status=4).verify(REQUEST)


def test_non_zero_exit_with_an_answer_keeps_the_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = b"res_cd=S204\x1fres_msg=" + "수신 오류".encode("euc-kr") + b"\r\n\r\n"
    result = run_printer(tmp_path, monkeypatch, stdout=answer, status=1).verify(REQUEST)
    assert (result.res_cd, result.res_msg) == ("S204", "수신 오류")
    assert result.raw["_exit_status"] == "1"


def test_one_line_longer_than_the_bound_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "stdout.bin"
    output.write_bytes(b"banner\nres_cd=0000\x1fres_msg=" + b"x" * (STDOUT_LIMIT + 10) + b"\n")
    monkeypatch.setenv("KCP_FAKE_STANDIN_STDOUT_FILE", str(output))
    with pytest.raises(OutcomeUnknown, match="longer than"):
        run_printer(tmp_path, monkeypatch).verify(REQUEST)


def test_last_line_and_fields_are_read_like_kcps_libraries() -> None:
    assert last_line(b"banner\nres_cd=0000\x1fres_msg=ok\r\n\n") == b"res_cd=0000\x1fres_msg=ok"
    assert last_line(b"") == b""
    assert parse_answer(b"res_cd=0000\x1fres_msg=a=b\x1f\x1fflag\x1ftno=1") == {
        "res_cd": "0000",
        "res_msg": "a=b",
        "flag": "",
        "tno": "1",
    }
    with pytest.raises(UnicodeDecodeError):
        parse_answer(b"res_cd=0000\x1fres_msg=\xff")


def test_mask_text_masks_by_field_and_known_values() -> None:
    text = "site_key=SECRET,payx_data=acco=owner_nm=홍길동\x1faccount_no=1234567890123\x1f also 1234567890123 홍길동"
    masked = mask_text(text, {"site_key": "SECRET", "account_no": "1234567890123", "owner_nm": "홍길동"})
    assert "SECRET" not in masked
    assert "1234567890123" not in masked
    assert "홍길동" not in masked
    assert "owner_nm=홍*동" in masked
    assert "********0123" in masked


# --- secrets never leak ----------------------------------------------------------------------


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SITE_KEY not in text
        assert ACCOUNT_NO not in text
        assert "홍길동" not in text


def test_site_key_and_account_never_leak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A chatty client echoing its whole ARG to stderr, then failing.
    gateway = run_printer(tmp_path, monkeypatch, status=3, echo_arg=True)
    with pytest.raises(OutcomeUnknown) as caught:
        gateway.verify(REQUEST)
    error = caught.value
    assert "_stderr" in error.raw
    assert "site_key=[hidden]" in error.raw["_stderr"]
    assert_no_secret(str(error), error.reason, *error.raw.values())

    # The same client answering: the answer's raw fields and stderr are masked too.
    answer = b"res_cd=0000\x1fres_msg=ok\x1fowner_nm=" + "홍길동".encode("euc-kr") + b"\x1faccount_no=1234567890123\n"
    result = run_printer(tmp_path, monkeypatch, stdout=answer, echo_arg=True).verify(REQUEST)
    assert result.raw["owner_nm"] == "홍*동"
    assert_no_secret(*result.raw.values())

    # A timeout and a refusal.
    install("sleeper", tmp_path / "bin" / "pp_cli")
    with pytest.raises(OutcomeUnknown) as timed_out:
        PpCliGateway(ppcli_merchant(tmp_path)).verify(REQUEST)
    with pytest.raises(GatewayUnavailable) as refused:
        PpCliGateway(ppcli_merchant(tmp_path)).verify(VerificationRequest("O,1", "04", ACCOUNT_NO, "홍길동"))
    assert_no_secret(str(timed_out.value), str(refused.value))

    assert caplog.records
    assert_no_secret(*(record.getMessage() for record in caplog.records))


# --- finding the binary ----------------------------------------------------------------------


def test_discovery_prefers_bin_then_x64_then_pp_cli(tmp_path: Path) -> None:
    plain = install("recorder", tmp_path / "bin" / "pp_cli")
    assert find_binary(ppcli_merchant(tmp_path)) == str(plain)
    x64 = install("recorder", tmp_path / "bin" / "pp_cli_x64")
    assert find_binary(ppcli_merchant(tmp_path)) == str(x64)
    elsewhere = install("recorder", tmp_path / "elsewhere" / "my_pp_cli")
    assert find_binary(ppcli_merchant(tmp_path, BIN=str(elsewhere))) == str(elsewhere)


def test_missing_binary_is_unavailable_and_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(GatewayUnavailable) as caught:
        PpCliGateway(ppcli_merchant(tmp_path)).verify(REQUEST)
    assert str(tmp_path / "bin" / "pp_cli") in caught.value.reason
    assert "HOME_DIR" in caught.value.reason
    with pytest.raises(GatewayUnavailable, match="BIN"):
        find_binary(ppcli_merchant(tmp_path, BIN=str(tmp_path / "nope")))
    with pytest.raises(GatewayUnavailable, match="neither"):
        find_binary(ppcli_merchant(tmp_path, HOME_DIR=""))


def test_non_executable_binary_is_unavailable(tmp_path: Path) -> None:
    binary = install("recorder", tmp_path / "bin" / "pp_cli")
    binary.chmod(0o644)
    with pytest.raises(GatewayUnavailable, match="chmod 755"):
        PpCliGateway(ppcli_merchant(tmp_path)).verify(REQUEST)
    assert not (tmp_path / "bin" / "argv.bin").exists()


def test_binary_that_cannot_be_executed_is_unavailable(tmp_path: Path) -> None:
    binary = tmp_path / "bin" / "pp_cli"
    binary.parent.mkdir()
    binary.write_bytes(b"\x7fELF not really\n")
    binary.chmod(0o755)
    with pytest.raises(GatewayUnavailable, match="could not start"):
        PpCliGateway(ppcli_merchant(tmp_path)).verify(REQUEST)


# --- readiness, before every request ---------------------------------------------------------


def test_a_ready_installation_passes_check_ready_and_runs_nothing(tmp_path: Path) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    merchant = ppcli_merchant(tmp_path)
    PpCliGateway.check_ready(merchant)
    ensure_usable(PpCliGateway, merchant)
    assert not (tmp_path / "bin" / "argv.bin").exists(), "the readiness check never runs pp_cli"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"HOME_DIR": ""}, ["OPTIONS['HOME_DIR']", "KCP_HOME_DIR", "OPTIONS['BIN']"]),
        ({}, ["bin/pp_cli", "KCP_HOME_DIR", "KCP_BIN"]),
        ({"BIN": "/nonexistent/pp_cli"}, ["/nonexistent/pp_cli", "OPTIONS['BIN']"]),
        ({"LAYOUT": {"tx_cd": "{ordr_idxx}"}}, ["KCP_MERCHANTS['shop2']['OPTIONS']['LAYOUT']['tx_cd']"]),
    ],
    ids=["no-home-no-bin", "missing-binary", "missing-bin", "broken-layout"],
)
def test_a_gateway_that_could_send_nothing_is_a_configuration_error(
    tmp_path: Path, options: dict[str, Any], named: list[str]
) -> None:
    if "LAYOUT" in options:
        install("recorder", tmp_path / "bin" / "pp_cli")
    with pytest.raises(KcpConfigurationError) as caught:
        # A broken LAYOUT is refused as the merchant is read; the others when the gateway is readied.
        PpCliGateway.check_ready(ppcli_merchant(tmp_path, alias="shop2", **options))
    assert str(caught.value).startswith("KCP_MERCHANTS['shop2']")
    for text in named:
        assert text in str(caught.value)


def test_a_non_executable_binary_is_a_configuration_error(tmp_path: Path) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli").chmod(0o644)
    with pytest.raises(KcpConfigurationError, match="chmod 755"):
        ensure_usable(PpCliGateway, ppcli_merchant(tmp_path))


def test_pp_cli_is_no_test_double_in_real_mode(tmp_path: Path) -> None:
    install("recorder", tmp_path / "bin" / "pp_cli")
    merchant = ppcli_merchant(tmp_path, MODE="real", SITE_CD="A52Q7")
    assert not is_test_double(PpCliGateway)
    ensure_usable(PpCliGateway, merchant)


def test_pp_cli_does_not_inherit_the_servers_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from kcp_django.gateways.ppcli.client import child_environment

    monkeypatch.setenv("KCP_SITE_KEY", "secret-site-key")
    monkeypatch.setenv("SECRET_KEY", "django-secret")
    monkeypatch.setenv("DATABASE_URL", "postgres://user:password@db/shop")
    monkeypatch.setenv("KCP_FAKE_MODE", "slow")

    inherited = child_environment()

    assert {"KCP_SITE_KEY", "SECRET_KEY", "DATABASE_URL"}.isdisjoint(inherited)
    assert inherited["KCP_FAKE_MODE"] == "slow"
    assert inherited["PATH"] == os.environ["PATH"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20240424142638", (2024, 4, 24, 14, 26, 38)),
        (" 20240229000000 ", (2024, 2, 29, 0, 0, 0)),
        ("20241324142638", None),  # month 13
        ("20230229000000", None),  # not a leap year
        ("2024042414263", None),  # 13 digits
        ("２０２４０４２４１４２６３８", None),  # full-width digits are not KCP's
        ("", None),
    ],
)
def test_kcp_app_time_is_read_in_korean_time_or_not_at_all(value: str, expected: tuple[int, ...] | None) -> None:
    parsed = parse_app_time(value)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert (parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute, parsed.second) == expected
        assert parsed.utcoffset() == dt.timedelta(hours=9)
