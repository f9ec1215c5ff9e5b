"""The fake pp_cli: KCP's command line, the sandbox's outcomes, and every fault mode."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kcp_django.exceptions import OutcomeUnknown
from kcp_django.gateways.base import VerificationRequest
from kcp_django.gateways.ppcli.client import (
    STDOUT_LIMIT,
    PpCliArgs,
    PpCliGateway,
    build_arg,
    last_line,
    parse_answer,
    run_bounded,
)
from kcp_django.gateways.sandbox import SandboxGateway
from tests.ppcli_standins import gone_soon, install_fake, ppcli_merchant

# KCP's S102 answer, plus the field only this test double sends, so kcp_check can recognise it.
S102_LINE = b"res_cd=S102\x1fres_msg=" + "연동 모듈 호출 오류".encode("euc-kr") + b"\x1fkcp_fake=1"
FAKE_MODULE = [sys.executable, "-m", "kcp_django.testing.fake_pp_cli"]
VERIFIED = VerificationRequest("ORD-OK-1", "04", "1234567890123", "홍길동", "203.0.113.7")
NOT_FOUND = VerificationRequest("ORD-NF-1", "88", "0001234567", "홍길동")
MISMATCH = VerificationRequest("ORD-MM-1", "20", "1234567890123", "김불일치")
NO_ANSWER = VerificationRequest("ORD-TO-1", "04", "9991234567", "홍길동")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    install_fake(tmp_path / "bin" / "pp_cli")
    return tmp_path


@pytest.fixture
def gateway(home: Path) -> PpCliGateway:
    return PpCliGateway(ppcli_merchant(home, TIMEOUT=10))


def fake(*args: str | bytes, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*FAKE_MODULE, *args], capture_output=True, timeout=20, env=env, check=False)


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["-h"], [], ["-x"], ["-h", "a", "b"], ["--help"]])
def test_any_other_usage_answers_s102(args: list[str]) -> None:
    completed = fake(*args)
    assert completed.stdout.rstrip(b"\n") == S102_LINE
    assert "PayPLUS CLIENT 모듈 ver 2.00".encode("euc-kr") in completed.stderr
    assert b"kcp-django" in completed.stderr


def test_console_script_answers_s102() -> None:
    script = Path(sys.executable).parent / "kcp-fake-pp-cli"
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e .)")
    completed = subprocess.run([str(script), "-h"], capture_output=True, timeout=20, check=False)
    assert last_line(completed.stdout) == S102_LINE


def test_getopt_style_attached_argument_is_a_transaction(tmp_path: Path) -> None:
    arg = build_arg(PpCliArgs(home=str(tmp_path), site_cd="T0000", site_key="k"))
    completed = fake(b"-h" + arg)
    assert b"res_cd=8999" in completed.stdout  # a transaction (off the layout), not S102


# --- never for KCP's real gateway ----------------------------------------------------------

REAL_SITE_KEY = "Zq9vX2mK7pL4sT8wR3nB6yC1_"


def test_the_installation_check_answer_marks_the_test_double() -> None:
    fields = parse_answer(last_line(fake("-h").stdout))
    assert (fields["res_cd"], fields["kcp_fake"]) == ("S102", "1")


@pytest.mark.parametrize("mode", ["normal", "hang", "slow"])
def test_a_request_for_the_real_gateway_is_refused_never_verified(
    home: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("KCP_FAKE_MODE", mode)
    monkeypatch.setenv("KCP_FAKE_SLEEP", "30")
    merchant = ppcli_merchant(home, MODE="real", SITE_CD="A52Q7", SITE_KEY=REAL_SITE_KEY, TIMEOUT=10)
    assert merchant.gateway_host == "paygw.kcp.co.kr"

    result = PpCliGateway(merchant).verify(VERIFIED)

    assert not result.is_success
    assert (result.res_cd, result.res_msg) == ("S999", "kcp-django fake pp_cli refuses the real gateway")
    assert result.ordr_idxx == VERIFIED.ordr_idxx
    assert "real gateway" in result.raw["_stderr"]
    assert not result.tno


@pytest.mark.parametrize("host", [b"PAYGW.KCP.CO.KR", b"paygw.kcp.co.kr."])
def test_the_real_host_is_recognised_in_any_spelling(tmp_path: Path, host: bytes) -> None:
    arg = build_arg(PpCliArgs(home=str(tmp_path), site_cd="A52Q7", site_key="k", pa_url=host.decode()))
    completed = fake("-h", arg)
    assert last_line(completed.stdout).startswith(b"res_cd=S999\x1f")


def test_the_test_gateway_host_still_gets_the_sandbox_answer(gateway: PpCliGateway) -> None:
    assert gateway.merchant.gateway_host == "testpaygw.kcp.co.kr"
    assert gateway.verify(VERIFIED).res_cd == "0000"


# --- the sandbox's outcomes ------------------------------------------------------------------


@pytest.mark.parametrize("request_", [VERIFIED, NOT_FOUND, MISMATCH], ids=["verified", "not-found", "mismatch"])
def test_outcomes_match_the_sandbox(gateway: PpCliGateway, home: Path, request_: VerificationRequest) -> None:
    from_fake = gateway.verify(request_)
    from_sandbox = SandboxGateway(ppcli_merchant(home)).verify(request_)
    assert (from_fake.res_cd, from_fake.res_msg, from_fake.ordr_idxx) == (
        from_sandbox.res_cd,
        from_sandbox.res_msg,
        from_sandbox.ordr_idxx,
    )
    assert from_fake.tno == from_sandbox.tno
    if from_sandbox.is_success:
        assert re.fullmatch(r"\d{14}", from_fake.tno)
        assert from_fake.app_time is not None
        assert from_sandbox.app_time is not None
        assert abs(from_fake.app_time - from_sandbox.app_time) < dt.timedelta(seconds=30)
    else:
        assert from_fake.app_time is None


def test_codes_of_the_sandbox(gateway: PpCliGateway) -> None:
    assert gateway.verify(VERIFIED).res_cd == "0000"
    assert gateway.verify(MISMATCH).res_cd == "8104"
    assert gateway.verify(NOT_FOUND).res_cd == "8105"


def test_999_gets_no_answer_and_times_out(home: Path) -> None:
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown, match="no answer within 1s"):
        PpCliGateway(ppcli_merchant(home, TIMEOUT=1)).verify(NO_ANSWER)
    assert time.monotonic() - started < 1 + 2


def test_request_off_the_layout_answers_8999(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    merchant = ppcli_merchant(home, TIMEOUT=10, LAYOUT={"tx_cd": "00999999"})
    result = PpCliGateway(merchant).verify(VERIFIED)
    assert result.res_cd == "8999"
    assert "tx_cd" in result.raw["_stderr"]
    # The fake reads the same overrides from KCP_FAKE_LAYOUT.
    monkeypatch.setenv("KCP_FAKE_LAYOUT", '{"tx_cd": "00999999"}')
    assert PpCliGateway(merchant).verify(VERIFIED).res_cd == "0000"


# --- fault modes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("crash", "killed by signal SIGSEGV"),
        ("killed", "killed by signal SIGKILL"),
        ("garbage", "no res_cd"),
        ("undecodable", "not EUC-KR/CP949"),
        ("exit", "exited with status 3"),
    ],
)
def test_fault_modes_are_unknown(
    gateway: PpCliGateway, monkeypatch: pytest.MonkeyPatch, mode: str, reason: str
) -> None:
    monkeypatch.setenv("KCP_FAKE_MODE", mode)
    with pytest.raises(OutcomeUnknown, match=reason):
        gateway.verify(VERIFIED)


def test_hang_times_out(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCP_FAKE_MODE", "hang")
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown, match="no answer within 1s"):
        PpCliGateway(ppcli_merchant(home, TIMEOUT=1)).verify(VERIFIED)
    assert time.monotonic() - started < 1 + 2


def test_exit_status_is_settable(gateway: PpCliGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCP_FAKE_MODE", "exit")
    monkeypatch.setenv("KCP_FAKE_EXIT_STATUS", "7")
    with pytest.raises(OutcomeUnknown, match="status 7"):
        gateway.verify(VERIFIED)


def test_empty_is_kcps_9502(gateway: PpCliGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCP_FAKE_MODE", "empty")
    result = gateway.verify(VERIFIED)
    assert (result.res_cd, result.res_msg) == ("9502", "연동 모듈 호출 오류")


def test_slow_answers_after_its_sleep(gateway: PpCliGateway, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCP_FAKE_MODE", "slow")
    monkeypatch.setenv("KCP_FAKE_SLEEP", "0.3")
    started = time.monotonic()
    assert gateway.verify(VERIFIED).res_cd == "0000"
    assert time.monotonic() - started >= 0.3
    monkeypatch.setenv("KCP_FAKE_SLEEP", "5")
    with pytest.raises(OutcomeUnknown, match="no answer within 1s"):
        PpCliGateway(ppcli_merchant(home, TIMEOUT=1)).verify(VERIFIED)


def test_huge_output_is_bounded_and_still_answered(
    gateway: PpCliGateway, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KCP_FAKE_MODE", "huge")
    assert gateway.verify(VERIFIED).res_cd == "0000"

    arg = build_arg(PpCliArgs(home="", site_cd="T0000", site_key="k", ordr_idxx="O1"))
    output = run_bounded([str(home / "bin" / "pp_cli"), "-h", arg], 10)
    assert output.stdout_truncated
    assert len(output.stdout) <= STDOUT_LIMIT


def test_spawn_answers_and_its_grandchild_does_not_outlive_the_call(
    gateway: PpCliGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KCP_FAKE_MODE", "spawn")
    started = time.monotonic()
    result = gateway.verify(VERIFIED)
    assert result.res_cd == "0000"
    assert time.monotonic() - started < 5  # not the 10 s timeout
    found = re.search(r"grandchild pid (\d+)", result.raw["_stderr"])
    assert found
    assert gone_soon(int(found.group(1)))


def test_unknown_mode_fails_loudly(gateway: PpCliGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCP_FAKE_MODE", "sideways")
    with pytest.raises(OutcomeUnknown, match="unknown KCP_FAKE_MODE"):
        gateway.verify(VERIFIED)


# --- the log ---------------------------------------------------------------------------------


def todays_log_names(folder: Path, before: dt.datetime, after: dt.datetime) -> set[Path]:
    return {folder / f"{moment:%Y%m}" / f"{moment:%d}_pp_cli.log" for moment in (before, after)}


def test_log_goes_to_log_path_by_month_and_day(home: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    log_dir = tmp_path_factory.mktemp("kcp-logs")
    before = dt.datetime.now()
    PpCliGateway(ppcli_merchant(home, TIMEOUT=10, LOG_DIR=str(log_dir))).verify(VERIFIED)
    after = dt.datetime.now()
    written = [path for path in todays_log_names(log_dir, before, after) if path.exists()]
    assert len(written) == 1
    text = written[0].read_bytes().decode("cp949")
    assert "ORD-OK-1" in text
    assert "res_cd=0000" in text
    assert "1234567890123" not in text  # the fake masks what the real client would log in full
    assert "홍길동" not in text
    assert not (home / "log").exists()


def test_log_falls_back_to_home_log(home: Path) -> None:
    arg = build_arg(PpCliArgs(home=str(home), site_cd="T0000", site_key="k", tx_cd="00402200", log_path=""))
    before = dt.datetime.now()
    fake("-h", arg)
    after = dt.datetime.now()
    assert any(path.exists() for path in todays_log_names(home / "log", before, after))
