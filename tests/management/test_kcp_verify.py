"""``manage.py kcp_verify`` as a shop's operator runs it. The outcomes and refusals run in this
process (:func:`in_process`: what a shell sees, status, stdout and stderr); what depends on the
example project reading its environment at start (the gateway, the mode, DEBUG) runs once as a real
process, and its variations in this process on the settings :func:`conf.settings_from_env` reads."""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import environ
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from kcp_django import conf
from tests.support.kit import make_fake_kit, ppcli_merchants
from tests.support.shop import ROOT, copy_of, operator_environment


@pytest.fixture(scope="module")
def shop_env(migrated_shop: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    database = tmp_path_factory.mktemp("shop") / "shop.sqlite3"
    return {**operator_environment(), "DATABASE_URL": copy_of(migrated_shop, database)}


def kcp_verify(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "kcp_verify", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def in_process(*args: str) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("kcp_verify", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return subprocess.CompletedProcess(["kcp_verify", *args], code, out.getvalue(), err.getvalue())


def from_environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> dict[str, object]:
    """The kcp settings the example project builds at start from exactly ``variables`` (no other KCP_*)."""
    for name in [name for name in os.environ if name.startswith("KCP_")]:
        monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return conf.settings_from_env(environ.Env())


@pytest.mark.django_db
def test_a_verified_account_prints_kcps_answer_as_json() -> None:
    done = in_process("--bank-code", "04", "--account-no", "123-456-789012", "--owner-nm", "홍길동", "--json")

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == "verified"
    assert answer["res_cd"] == "0000"
    assert len(answer["tno"]) == 14 and answer["tno"].isdigit()
    assert answer["app_time"].endswith("+09:00")
    assert answer["bank_code"] == "04"
    assert answer["account_no_masked"] == "********9012"
    assert {"id", "ordr_idxx", "res_msg"} <= answer.keys()
    assert "123456789012" not in done.stdout


@pytest.mark.parametrize(
    ("account_no", "owner_nm", "status", "exit_code"),
    [
        ("123-456-789012", "홍불일치", "rejected", 1),
        ("000-000-1111", "홍길동", "rejected", 1),
        ("999-111-2222", "홍길동", "unknown", 3),
    ],
)
@pytest.mark.django_db
def test_the_exit_status_tells_the_outcome(account_no: str, owner_nm: str, status: str, exit_code: int) -> None:
    done = in_process("--bank-code", "88", "--account-no", account_no, "--owner-nm", owner_nm, "--json")

    assert done.returncode == exit_code, done.stderr
    assert json.loads(done.stdout)["status"] == status


@pytest.mark.django_db
def test_invalid_input_exits_2_naming_the_field_and_rule_in_korean_and_english() -> None:
    done = in_process("--bank-code", "04", "--account-no", "123-456-789012", "--owner-nm", "홍길동,")

    assert done.returncode == 2
    assert "owner_nm" in done.stderr
    assert "forbidden_character" in done.stderr
    assert "예금주" in done.stderr  # Korean
    assert "holder" in done.stderr.lower()  # English


@pytest.mark.django_db
def test_the_same_order_number_is_answered_from_the_stored_row() -> None:
    args = ["--bank-code", "04", "--account-no", "1002-333-444555", "--owner-nm", "김환불", "--ordr-idxx", "CLI-1"]
    first = json.loads(in_process(*args, "--json").stdout)
    second = json.loads(in_process(*args, "--json").stdout)

    assert first["id"] == second["id"]
    assert first["tno"] == second["tno"]


@pytest.fixture(scope="module")
def fake_kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A KCP kit folder whose bin/pp_cli is kcp-django's fake client."""
    return make_fake_kit(tmp_path_factory.mktemp("kcp-kit"))


OUTCOMES = [
    ("123-456-789012", "홍길동"),
    ("123-456-789012", "홍불일치"),
    ("000-000-1111", "홍길동"),
    ("999-111-2222", "홍길동"),
]


def assert_same_outcome(ppcli: subprocess.CompletedProcess[str], sandbox: subprocess.CompletedProcess[str]) -> None:
    assert ppcli.returncode == sandbox.returncode, ppcli.stderr
    from_sandbox, from_ppcli = json.loads(sandbox.stdout), json.loads(ppcli.stdout)
    assert (from_ppcli["status"], from_ppcli["res_cd"], from_ppcli["res_msg"]) == (
        from_sandbox["status"],
        from_sandbox["res_cd"],
        from_sandbox["res_msg"],
    )
    assert len(from_ppcli["tno"]) == len(from_sandbox["tno"])


@pytest.mark.parametrize(("account_no", "owner_nm"), OUTCOMES)
@pytest.mark.django_db
def test_the_pp_cli_gateway_gives_the_sandboxs_outcomes(fake_kit: Path, account_no: str, owner_nm: str) -> None:
    args = ["--bank-code", "04", "--account-no", account_no, "--owner-nm", owner_nm, "--json"]

    sandbox = in_process(*args)
    with override_settings(KCP_MERCHANTS=ppcli_merchants(fake_kit)):
        ppcli = in_process(*args)

    assert_same_outcome(ppcli, sandbox)
    assert list((fake_kit / "log").rglob("*_pp_cli.log")), "the fake writes KCP's log layout"


@pytest.mark.django_db
def test_the_example_shop_takes_the_pp_cli_gateway_from_its_environment(
    shop_env: dict[str, str], tmp_path: Path
) -> None:
    # KCP_GATEWAY, KCP_HOME_DIR and KCP_TIMEOUT are read when the project starts: a real process.
    kit = make_fake_kit(tmp_path / "kcp-kit")
    args = ["--bank-code", "04", "--account-no", "123-456-789012", "--owner-nm", "홍길동", "--json"]
    through_ppcli = {**shop_env, "KCP_GATEWAY": "ppcli", "KCP_HOME_DIR": str(kit), "KCP_TIMEOUT": "2"}

    ppcli = kcp_verify(through_ppcli, *args)

    assert_same_outcome(ppcli, in_process(*args))
    assert json.loads(ppcli.stdout)["status"] == "verified"
    assert list((kit / "log").rglob("*_pp_cli.log")), "the shop ran the fake pp_cli in the kit it was given"


ACCOUNT = ["--bank-code", "04", "--account-no", "123-456-789012", "--owner-nm", "홍길동"]


def test_a_setting_a_system_check_refuses_exits_4_with_the_problem_as_json(shop_env: dict[str, str]) -> None:
    # Real mode without a site key: kcp_django.E001, found by Django's system checks before anything is sent.
    real_without_key = {**shop_env, "KCP_MODE": "real", "KCP_SITE_CD": "A52Q7"}

    done = kcp_verify(real_without_key, *ACCOUNT, "--json")

    assert done.returncode == 4, done.stderr
    answer = json.loads(done.stdout)
    assert answer["error"] == "configuration_error"
    [problem] = [error for error in answer["problems"] if "KCP_SITE_KEY" in error]
    assert "kcp_django.E001" in problem
    assert "KCP_SITE_KEY: is empty" in problem
    assert "OPTIONS" not in problem.split("HINT")[0], "the message names the variable that was set"
    assert "123456789012" not in done.stdout + done.stderr


@pytest.mark.django_db
def test_a_setting_a_system_check_refuses_exits_4_without_json_too(monkeypatch: pytest.MonkeyPatch) -> None:
    with override_settings(**from_environment(monkeypatch, KCP_MODE="real", KCP_SITE_CD="T0000")):
        done = in_process(*ACCOUNT)

    assert done.returncode == 4
    assert done.stdout == ""
    assert "KCP_SITE_CD: 'T0000' is a KCP test site code" in done.stderr
    assert "Traceback" not in done.stderr


def stored_rows(env: dict[str, str]) -> int:
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as database:
        (count,) = database.execute("SELECT COUNT(*) FROM kcp_django_accountverification").fetchone()
    return int(count)


def test_with_debug_off_and_no_mode_it_exits_4_and_stores_nothing(shop_env: dict[str, str]) -> None:
    # A forgotten environment on a production server: no KCP_MODE must not mean the sandbox.
    production = {**shop_env, "DEBUG": "False"}
    before = stored_rows(shop_env)

    done = kcp_verify(production, *ACCOUNT, "--json")

    assert done.returncode == 4, done.stderr
    answer = json.loads(done.stdout)
    assert answer["error"] == "configuration_error"
    [problem] = answer["problems"]
    assert "kcp_django.E001" in problem
    assert "KCP_MODE: must be set to 'test' or 'real' when DEBUG is False" in problem
    assert stored_rows(shop_env) == before


@pytest.mark.django_db
def test_an_unknown_merchant_alias_exits_4_with_json() -> None:
    done = in_process(*ACCOUNT, "--merchant", "elsewhere", "--json")

    assert done.returncode == 4
    answer = json.loads(done.stdout)
    assert answer["error"] == "configuration_error"
    problem = answer["message"]
    assert "KCP_MERCHANTS['elsewhere']: no such merchant alias (configured: default)" in problem


def test_the_help_lists_every_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    done = in_process("--help")
    printed = capsys.readouterr().out + done.stdout

    assert done.returncode == 0
    listed = re.findall(r"^  ([0-9])  (\S.*)$", printed, flags=re.MULTILINE)
    assert [status for status, _ in listed] == ["0", "1", "2", "3", "4"]
    assert all(meaning for _, meaning in listed)
