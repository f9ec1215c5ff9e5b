"""``manage.py kcp_refund`` as an operator or a script runs it: its exit status, its output, its
refusals. Run in this process through ``call_command`` (what a shell sees: status, stdout, stderr);
one test runs a real ``manage.py`` process on the example project, where the process's own exit
status is the point.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from kcp_django.gateways.base import GatewayResult, RefundCall
from kcp_django.gateways.sandbox import SandboxGateway, refund_outbox
from kcp_django.models import Refund
from tests.support.kit import merchants_with
from tests.support.payments import ORDER

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("paid")]

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123-456-789012"
DIGITS = "123456789012"
DIRECT_ACCOUNT = "110-987-654321"
DIRECT_DIGITS = "110987654321"


@pytest.fixture
def shop_env(paid: Any) -> dict[str, str]:
    """The environment of a real ``manage.py`` process: only :func:`as_a_process` uses it."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("KCP_", "DJANGO_"))}


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command in this process, as an operator's shell would: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    finally:
        sys.stdin = saved
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def as_a_process(env: dict[str, str], database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A real ``manage.py`` process on the example project, on its own database file."""
    env = {**env, "DATABASE_URL": f"sqlite:///{database}"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def kcp_refund(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return manage(env, "kcp_refund", *args, stdin=stdin)


@pytest.fixture
def verification_id(shop_env: dict[str, str]) -> str:
    done = manage(
        shop_env,
        "kcp_verify",
        "--bank-code",
        "04",
        "--account-no",
        ACCOUNT,
        "--owner-nm",
        "홍길동",
        "--reference",
        ORDER,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["id"])


def refund_args(verification: str, tno: str, *extra: str) -> list[str]:
    return ["--kind", "escrow-cancel", "--tno", tno, "--verification", verification, *extra]


def assert_no_full_number(done: subprocess.CompletedProcess[str]) -> None:
    for number in (DIGITS, ACCOUNT, DIRECT_DIGITS, DIRECT_ACCOUNT):
        assert number not in done.stdout and number not in done.stderr


# Outcomes and their exit codes


def test_an_accepted_refund_exits_0_and_prints_one_json_object(shop_env: dict[str, str], verification_id: str) -> None:
    done = kcp_refund(shop_env, *refund_args(verification_id, "20261127000101", "--reason", "단순 변심"), "--json")

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["status"], answer["kind"], answer["tno"], answer["res_cd"]) == (
        "accepted",
        "escrow-cancel",
        "20261127000101",
        "0000",
    )
    assert answer["res_msg"] and answer["id"]
    assert answer["account_no_masked"] == "********9012"
    assert answer["verification"] == verification_id
    assert_no_full_number(done)


def test_human_output_is_a_few_lines_with_the_account_masked(shop_env: dict[str, str], verification_id: str) -> None:
    done = kcp_refund(shop_env, *refund_args(verification_id, "20261127000102", "--after-shipping"))

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("accepted")
    assert len(lines) <= 10
    assert "********9012" in done.stdout
    assert "STE4" in done.stdout
    assert_no_full_number(done)


@pytest.mark.parametrize(
    ("tno", "status", "exit_code"), [("20261127000108", "rejected", 1), ("20261127000109", "unknown", 3)]
)
def test_the_exit_status_tells_the_outcome(
    shop_env: dict[str, str], verification_id: str, tno: str, status: str, exit_code: int
) -> None:
    done = kcp_refund(shop_env, *refund_args(verification_id, tno), "--json")

    assert done.returncode == exit_code, done.stderr
    assert json.loads(done.stdout)["status"] == status


def test_an_unknown_refund_is_never_sent_again(shop_env: dict[str, str], verification_id: str) -> None:
    first = kcp_refund(shop_env, *refund_args(verification_id, "20261127000119"))
    again = kcp_refund(shop_env, *refund_args(verification_id, "20261127000119"), "--json")

    assert first.returncode == 3
    assert "절대 다시 보내지 마세요" in first.stdout  # the operator is told to resolve it, never to resend
    assert again.returncode == 2
    held_by = str(Refund.objects.get().public_id)
    assert json.loads(again.stdout) == {
        "error": "refused",
        "rule": "earlier_refund_unknown",
        "message": json.loads(again.stdout)["message"],
        "refund": held_by,  # the refund staff resolve first
    }


def test_the_same_key_shows_the_stored_refund(shop_env: dict[str, str], verification_id: str) -> None:
    args = [*refund_args(verification_id, "20261127000103", "--key", "cli-refund-1"), "--json"]
    first = json.loads(kcp_refund(shop_env, *args).stdout)
    second = kcp_refund(shop_env, *args)

    assert second.returncode == 0
    assert json.loads(second.stdout) == first


# Invalid input or refused by a rule: exit 2, nothing sent


def test_invalid_input_exits_2_naming_every_field_and_rule(shop_env: dict[str, str]) -> None:
    done = kcp_refund(shop_env, "--kind", "cancel", "--tno", "2026", "--json")

    assert done.returncode == 2
    answer = json.loads(done.stdout)
    assert answer["error"] == "invalid"
    assert {(field, e["rule"]) for field, errors in answer["fields"].items() for e in errors} == {
        ("kind", "choice"),
        ("tno", "format"),
    }
    assert "KCP 거래번호" in answer["message"]  # the example shop speaks Korean: the field by its label
    human = kcp_refund(shop_env, "--kind", "cancel", "--tno", "20261127000104")
    assert human.returncode == 2 and "kind [choice]" in human.stderr


def test_a_rule_exits_2_naming_the_rule(shop_env: dict[str, str]) -> None:
    done = kcp_refund(shop_env, "--kind", "escrow-refund", "--tno", "20261127000105", "--json")

    assert done.returncode == 2
    answer = json.loads(done.stdout)
    assert (answer["error"], answer["rule"]) == ("refused", "verification_required")
    assert answer["message"]


@pytest.mark.parametrize(
    ("verification", "error"),
    [("not-a-uuid", "invalid"), ("0b6f7c1e-8d2a-4c3e-9f10-2a3b4c5d6e7f", "not_found")],
)
def test_a_bad_verification_id_exits_2(shop_env: dict[str, str], verification: str, error: str) -> None:
    done = kcp_refund(shop_env, *refund_args(verification, "20261127000106"), "--json")

    assert done.returncode == 2
    answer = json.loads(done.stdout)
    assert (answer["error"], list(answer["fields"])) == (error, ["verification"])
    assert answer["message"]
    human = kcp_refund(shop_env, *refund_args(verification, "20261127000106"))
    assert human.returncode == 2 and "verification" in human.stderr


# The account from standard input


def test_account_no_dash_reads_the_number_from_stdin(shop_env: dict[str, str]) -> None:
    args = ["--kind", "vbank-refund", "--tno", "20261127000107", "--bank-code", "88", "--account-no", "-"]
    done = kcp_refund(
        shop_env,
        *args,
        "--owner-nm",
        "김환불",
        "--amount",
        "1,000",
        "--remaining",
        "10000",
        "--json",
        stdin=DIRECT_ACCOUNT + "\n",
    )

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["status"], answer["account_no_masked"], answer["mod_type"]) == ("accepted", "********4321", "STPD")
    assert (answer["amount"], answer["remaining"]) == (1000, 10000)
    assert_no_full_number(done)


def test_an_empty_stdin_exits_2(shop_env: dict[str, str]) -> None:
    args = ["--kind", "vbank-refund", "--tno", "20261127000110", "--bank-code", "88", "--account-no", "-"]
    done = kcp_refund(shop_env, *args, "--owner-nm", "김환불", "--json", stdin="")

    assert done.returncode == 2
    assert list(json.loads(done.stdout)["fields"]) == ["account_no"]


# --show


def test_show_prints_a_refund_and_exits_by_its_state(shop_env: dict[str, str], verification_id: str) -> None:
    unknown = json.loads(kcp_refund(shop_env, *refund_args(verification_id, "20261127000129"), "--json").stdout)

    shown = kcp_refund(shop_env, "--show", unknown["id"], "--json")
    human = kcp_refund(shop_env, "--show", unknown["id"])

    assert shown.returncode == 3
    assert json.loads(shown.stdout) == unknown
    assert human.returncode == 3 and unknown["id"] in human.stdout and "********9012" in human.stdout
    assert_no_full_number(human)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--show", "0b6f7c1e-8d2a-4c3e-9f10-2a3b4c5d6e7f"], "not_found"),
        (["--show", "nope"], "invalid"),
        (["--show", "0b6f7c1e-8d2a-4c3e-9f10-2a3b4c5d6e7f", "--tno", "20261127000111"], "invalid"),
    ],
)
def test_show_refuses_what_it_cannot_show(shop_env: dict[str, str], args: list[str], error: str) -> None:
    done = kcp_refund(shop_env, *args, "--json")

    assert done.returncode == 2
    answer = json.loads(done.stdout)
    assert (answer["error"], list(answer["fields"])) == (error, ["show"])


# Configuration: exit 4


def test_a_failing_system_check_exits_4_with_json(shop_env: dict[str, str], tmp_path: Path) -> None:
    some_id = "0b6f7c1e-8d2a-4c3e-9f10-2a3b4c5d6e7f"
    env = {**shop_env, "KCP_INDEX_KEY": "bad"}
    done = as_a_process(env, tmp_path / "db.sqlite3", "kcp_refund", *refund_args(some_id, "20261127000112"), "--json")

    assert done.returncode == 4
    answer = json.loads(done.stdout)
    assert answer["error"] == "configuration_error"
    assert "KCP_INDEX_KEY" in answer["message"] and "kcp_django.E001" in answer["message"]


def test_a_gateway_that_cannot_refund_exits_4(shop_env: dict[str, str]) -> None:
    args = ["--kind", "vbank-refund", "--tno", "20261127000113", "--bank-code", "88", "--account-no", DIRECT_ACCOUNT]
    with override_settings(KCP_MERCHANTS=merchants_with("tests.support.gateways.ExplodingGateway")):
        done = kcp_refund(shop_env, *args, "--owner-nm", "김환불", "--json")

    assert done.returncode == 4, done.stderr
    answer = json.loads(done.stdout)
    assert answer["error"] == "configuration_error" and "refund" in answer["message"]


def test_help_lists_the_exit_codes_and_prefers_the_verification(
    shop_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    done = kcp_refund(shop_env, "--help")
    printed = capsys.readouterr().out + done.stdout

    assert done.returncode == 0
    for code in ("0", "1", "2", "3", "4"):
        assert f"\n  {code}  " in printed
    # The shop speaks Korean: prefer --verification, the command line stays in the shell's history.
    assert "--verification을 쓰세요" in printed and "셸 기록" in printed
    assert "--account-no - 는 계좌번호를 표준 입력에서 읽습니다" in printed


# In-process paths


def run_command(*args: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with pytest.raises(SystemExit) as ended:
        call_command("kcp_refund", *args, "--json", "--skip-checks", stdout=out, stderr=io.StringIO())
    return int(ended.value.code or 0), json.loads(out.getvalue())


VBANK = ["--kind", "vbank-refund", "--bank-code", "88", "--account-no", DIRECT_ACCOUNT, "--owner-nm", "김환불"]


@pytest.mark.django_db
def test_a_refund_inside_a_transaction_exits_4_and_sends_nothing() -> None:
    refund_outbox.clear()
    code, answer = run_command(*VBANK, "--tno", "20261127000114")  # the test runs inside a transaction

    assert code == 4
    assert answer["error"] == "configuration_error" and "transaction" in answer["message"]
    assert len(refund_outbox) == 0 and not Refund.objects.exists()


class TableGoneGateway(SandboxGateway):
    """Answers like the sandbox, but the refunds' table is gone by the time the answer is stored."""

    def refund(self, request: RefundCall) -> GatewayResult:
        result = super().refund(request)
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE kcp_django_refund RENAME TO kcp_django_refund_away")
        return result


@pytest.fixture
def table_goes_away() -> Iterator[None]:
    if connection.vendor != "sqlite":
        pytest.skip("renames the table under the service; SQLite lets it happen in the same connection")
    with override_settings(KCP_MERCHANTS=merchants_with("tests.management.test_kcp_refund.TableGoneGateway")):
        yield
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        if "kcp_django_refund_away" in tables:
            cursor.execute("ALTER TABLE kcp_django_refund_away RENAME TO kcp_django_refund")


@pytest.mark.django_db(transaction=True)
def test_an_answer_the_database_would_not_take_exits_3(table_goes_away: None) -> None:
    code, answer = run_command(*VBANK, "--tno", "20261127000115")

    assert code == 3
    assert (answer["error"], answer["status"]) == ("outcome_not_stored", "pending")
    assert answer["id"] and "never sent again" in answer["message"]
