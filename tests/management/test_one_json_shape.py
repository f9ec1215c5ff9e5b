"""What ``kcp_verify`` and ``kcp_refund`` print for scripts: one JSON shape for every outcome, nothing
else written with ``--json``, ids given either way, and a stored account whose key is gone (issue 18,
items 4, 7 and 8). Each is seen once as a real process on the example project (``2>&1 | jq``); the
variations run the same command line in this process (:func:`in_process`: ``run_from_argv``, as
``manage.py`` calls it, with everything the process writes captured at its file descriptors)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import get_commands, load_command_class
from django.test import override_settings

from kcp_django.models import AccountVerification, Refund
from tests.support.payments import ORDER
from tests.support.shop import ROOT, copy_of, operator_environment

ACCOUNT = ["--bank-code", "04", "--account-no", "123-456-789012", "--owner-nm", "홍길동"]
OLD_KEY = "old:6LAl8AREineQeZOgKVjmb7b8ro1Gd4um9n5__wRB8PQ"
NEW_KEY = "new:DEW4TY3BfCKq_AjEgUXjUmU1SXzamyM8Wy95UUE44Yc"
INDEX_KEY = "Qm9vX2mK7pL4sT8wR3nB6yC1Zq9vX2mK7pL4sT8wR3k"


@pytest.fixture(scope="module")
def shop_env(migrated_shop: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    database = tmp_path_factory.mktemp("shop") / "shop.sqlite3"
    env = operator_environment()
    env.update(DATABASE_URL=copy_of(migrated_shop, database), KCP_ENCRYPTION_KEYS=OLD_KEY, KCP_INDEX_KEY=INDEX_KEY)
    # The example shop logs kcp_django's INFO records to stderr; a script's project logs warnings only.
    env["KCP_LOG_LEVEL_NAME"] = "WARNING"
    # The shop's checkout registered the payments these tests refund.
    register = "from tests.support.payments import pay_all; pay_all()"
    subprocess.run([sys.executable, "manage.py", "shell", "-c", register], cwd=ROOT, env=env, check=True, timeout=120)
    return env


def together(env: dict[str, str], *args: str) -> tuple[int, str]:
    """The command's stdout and stderr as one stream, as ``2>&1 | jq`` reads them."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout


def in_process(capfd: pytest.CaptureFixture[str], name: str, *args: str) -> tuple[int, str, str]:
    """``manage.py NAME ARGS`` in this process, through the command's ``run_from_argv`` as ``manage.py``
    runs it: the exit status, and all the process wrote to stdout and to stderr meanwhile (the file
    descriptors, so a stray print or log line counts too)."""
    capfd.readouterr()
    command = load_command_class(get_commands()[name], name)
    with pytest.raises(SystemExit) as ended:
        command.run_from_argv(["manage.py", name, *args])
    out, err = capfd.readouterr()
    return int(ended.value.code or 0), out, err


def one_object(output: str) -> dict[str, Any]:
    answer = json.loads(output)  # fails on anything but exactly one JSON document
    assert isinstance(answer, dict)
    return answer


def assert_error_shape(answer: dict[str, Any]) -> None:
    """``{"error", "rule" or "fields", "message"}`` (plus a row's ``id``/``status``, a ``key_id``, or the
    configuration ``problems`` one by one)."""
    assert isinstance(answer["error"], str) and answer["error"]
    assert isinstance(answer["message"], str) and answer["message"]
    assert not ("rule" in answer and "fields" in answer)
    if "fields" in answer:
        for field, errors in answer["fields"].items():
            assert isinstance(field, str)
            assert all(set(entry) == {"rule", "message"} for entry in errors)
    assert set(answer) <= {"error", "rule", "fields", "message", "id", "status", "key_id", "problems", "warnings"}


@pytest.fixture(scope="module")
def verification(shop_env: dict[str, str]) -> dict[str, Any]:
    status, output = together(shop_env, "kcp_verify", *ACCOUNT, "--reference", ORDER, "--json")
    assert status == 0, output
    return one_object(output)


def test_a_verification_reads_like_the_api_lowercase_state(verification: dict[str, Any]) -> None:
    """Item 7: ``kcp_verify --json`` printed ``"VERIFIED"`` while kcp_refund and the API print lower case."""
    assert verification["status"] == "verified"


INVALID_VERIFICATION = ["kcp_verify", "--bank-code", "04", "--account-no", "12", "--owner-nm", "홍길동,"]
UNKNOWN_MERCHANT = ["kcp_verify", *ACCOUNT, "--merchant", "elsewhere"]
ERRORS = [
    pytest.param(INVALID_VERIFICATION, 2, "invalid", id="verify-invalid"),
    pytest.param(["kcp_verify", "--bank-code", "04"], 2, "usage", id="verify-usage"),
    pytest.param(UNKNOWN_MERCHANT, 4, "configuration_error", id="verify-configuration"),
    pytest.param(["kcp_refund", "--kind", "escrow-refund", "--tno", "20261127000201"], 2, "refused", id="refused"),
    pytest.param(["kcp_refund", "--kind", "cancel", "--tno", "2026"], 2, "invalid", id="refund-invalid"),
    pytest.param(["kcp_refund", "--show", "nope"], 2, "invalid", id="bad-id"),
    pytest.param(["kcp_refund", "--show", "987654"], 2, "not_found", id="no-row"),
]


@pytest.mark.parametrize(("args", "status", "error"), [ERRORS[0], ERRORS[3]])
def test_every_error_is_one_object_of_one_shape_and_nothing_else(
    shop_env: dict[str, str], args: list[str], status: int, error: str
) -> None:
    """Item 7: errors came as three dialects, with the message also on stderr, so ``2>&1 | jq`` broke.
    A real process for each command; every error below in this process."""
    code, output = together(shop_env, *args, "--json")

    assert code == status, output
    answer = one_object(output)
    assert answer["error"] == error
    assert_error_shape(answer)


@pytest.mark.parametrize(("args", "status", "error"), ERRORS)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("paid")
def test_every_error_in_this_process_is_one_object_of_one_shape_and_nothing_else(
    capfd: pytest.CaptureFixture[str], args: list[str], status: int, error: str
) -> None:
    code, out, err = in_process(capfd, *args, "--json")

    assert code == status, out + err
    assert err == "", "with --json the object is all the command writes"
    answer = one_object(out)
    assert answer["error"] == error
    assert_error_shape(answer)


def test_with_json_system_check_warnings_go_inside_the_object(shop_env: dict[str, str]) -> None:
    """Item 7: a warning (here kcp_django.W001, development keys with DEBUG off) went to stderr."""
    env = {**shop_env, "DEBUG": "False", "KCP_MODE": "test"}
    env.pop("KCP_ENCRYPTION_KEYS")
    env.pop("KCP_INDEX_KEY")

    code, output = together(env, "kcp_verify", *ACCOUNT, "--json")

    assert code == 0, output
    answer = one_object(output)
    assert answer["status"] == "verified"
    assert any("kcp_django.W001" in warning for warning in answer["warnings"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("paid")
def test_ids_are_taken_as_the_uuid_or_the_number(capfd: pytest.CaptureFixture[str], verified: Any) -> None:
    """Item 8: ``kcp_refund --show 1`` was refused although the admin shows only numbers."""
    code, output, err = in_process(
        capfd,
        "kcp_refund",
        "--kind",
        "escrow-cancel",
        "--tno",
        "20261127000202",
        "--verification",
        str(verified.pk),
        "--json",
    )
    assert (code, err) == (0, ""), output + err
    refund = one_object(output)
    assert refund["verification"] == str(verified.public_id)
    refund_number = Refund.objects.get(public_id=refund["id"]).pk

    by_number = in_process(capfd, "kcp_refund", "--show", str(refund_number), "--json")
    by_uuid = in_process(capfd, "kcp_refund", "--show", refund["id"], "--json")

    assert by_number == by_uuid == (0, by_uuid[1], "")
    assert one_object(by_number[1]) == refund


def test_a_stored_account_whose_key_is_gone_exits_4_naming_the_key(
    shop_env: dict[str, str], verification: dict[str, Any]
) -> None:
    """Item 4: after the key changed, ``kcp_refund`` printed a DecryptionError traceback and exited 1
    (the code for "rejected"), with no JSON."""
    env = {**shop_env, "KCP_ENCRYPTION_KEYS": NEW_KEY}
    args = ["kcp_refund", "--kind", "escrow-cancel", "--tno", "20261127000203", "--verification", verification["id"]]

    code, output = together(env, *args, "--json")

    assert code == 4, output
    answer = one_object(output)
    assert (answer["error"], answer["key_id"]) == ("account_unreadable", "old")
    assert "old" in answer["message"]
    assert_error_shape(answer)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("paid")
def test_a_stored_account_whose_key_is_gone_is_said_to_a_person_without_a_traceback(
    capfd: pytest.CaptureFixture[str], verified: AccountVerification
) -> None:
    """Item 4, without ``--json``: the stored account's key (k2) is named, and no traceback."""
    args = ["--kind", "escrow-cancel", "--tno", "20261127000203", "--verification", str(verified.public_id)]

    with override_settings(KCP_ENCRYPTION_KEYS=[NEW_KEY]):
        code, out, human = in_process(capfd, "kcp_refund", *args)

    assert code == 4
    assert "Traceback" not in out + human and "k2" in human
    assert not Refund.objects.exists()
