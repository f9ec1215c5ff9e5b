"""``manage.py kcp_payment`` as an operator runs it: registering a payment, showing what it paid, refunded
and has left, on the real database (and once as a real process, for its exit status)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

from kcp_django.gateways.sandbox import refund_outbox
from kcp_django.models import Payment, Refund
from kcp_django.refunds import request_refund
from kcp_django.verifications import verify_refund_account
from tests.support.api import make_user
from tests.support.shop import ROOT, copy_of, operator_environment

pytestmark = pytest.mark.django_db(transaction=True)

TNO = "20261127000301"
ACCOUNT = "123-456-789012"
DIGITS = "123456789012"


def kcp_payment(*args: str) -> tuple[int, str, str]:
    """Run the command in-process, in the project's language (Korean): its exit status, standard output
    and standard error."""
    out, err = io.StringIO(), io.StringIO()
    with translation.override("ko"), pytest.raises(SystemExit) as ended:
        call_command("kcp_payment", *args, "--skip-checks", stdout=out, stderr=err)
    return int(ended.value.code or 0), out.getvalue(), err.getvalue()


def register(*extra: str) -> tuple[int, str, str]:
    return kcp_payment("--tno", TNO, "--amount", "30000", "--reference", "ORDER-7", *extra)


def test_registering_a_payment_stores_it_once_and_prints_it() -> None:
    payer = make_user("buyer")

    code, out, _err = register("--payer", "buyer", "--json")
    again, out_again, _ = register("--payer", "buyer", "--json")

    assert (code, again) == (0, 0)
    payment = Payment.objects.get()
    assert (payment.tno, payment.amount, payment.reference, payment.payer_id) == (TNO, 30000, "ORDER-7", payer.pk)
    answer = json.loads(out)
    assert answer == json.loads(out_again)
    assert (answer["tno"], answer["paid"], answer["refunded"], answer["remaining"]) == (TNO, 30000, 0, 30000)
    assert (answer["reference"], answer["payer"], answer["merchant"], answer["mode"]) == (
        "ORDER-7",
        "buyer",
        "default",
        "test",
    )
    assert answer["site_cd"] == payment.site_cd and answer["refunds"] == []


def test_another_amount_or_reference_for_a_registered_payment_is_refused_and_changes_nothing() -> None:
    assert register()[0] == 0

    code, out, err = kcp_payment("--tno", TNO, "--amount", "31000", "--reference", "ORDER-8", "--json")

    assert code == 2
    answer = json.loads(out)
    assert (answer["error"], sorted(answer["fields"])) == ("invalid", ["amount", "reference"])
    assert err == "", "with --json the object is all the command writes"
    _code, _out, human = kcp_payment("--tno", TNO, "--amount", "31000", "--reference", "ORDER-8")
    assert "amount [differs]" in human and "reference [differs]" in human
    payment = Payment.objects.get()
    assert (payment.amount, payment.reference) == (30000, "ORDER-7")


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        (["--tno", "123", "--amount", "30000", "--reference", "ORDER-7"], ["tno"]),
        (["--tno", TNO, "--amount", "-5", "--reference", "ORDER-7"], ["amount"]),
        (["--tno", TNO, "--amount", "30000"], ["reference"]),
        (["--tno", TNO, "--reference", "ORDER-7"], ["amount"]),
    ],
    ids=["short-tno", "negative-amount", "no-reference", "no-amount"],
)
def test_bad_input_exits_2_naming_the_field_in_korean_and_english(args: list[str], fields: list[str]) -> None:
    code, out, err = kcp_payment(*args, "--json")
    _code, _out, human = kcp_payment(*args)

    assert code == 2
    assert sorted(json.loads(out)["fields"]) == fields
    assert err == "", "with --json the object is all the command writes"
    assert human.startswith(f"{fields[0]} [") and " / " in human, "Korean / English"
    assert not Payment.objects.exists()


def test_an_unknown_payer_is_refused_before_anything_is_stored() -> None:
    code, out, err = register("--payer", "nobody", "--json")

    assert code == 2
    message = "payer: 사용자 이름이 nobody인 사용자가 없습니다."
    assert json.loads(out) == {
        "error": "not_found",
        "fields": {"payer": [{"rule": "not_found", "message": message}]},
        "message": message,
    }
    assert err == "", "with --json the object is all the command writes"
    assert not Payment.objects.exists()


def test_an_unknown_merchant_exits_4_naming_the_setting() -> None:
    code, out, err = register("--merchant", "nope", "--json")

    assert code == 4
    answer = json.loads(out)
    assert answer["error"] == "configuration_error"
    assert "KCP_MERCHANTS['nope']" in answer["message"]
    assert err == "", "with --json the object is all the command writes"
    assert not Payment.objects.exists()


def test_show_gives_paid_refunded_remaining_and_the_refunds_masked() -> None:
    assert register()[0] == 0
    verification = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", reference="ORDER-7")
    refund_outbox.clear()
    first = request_refund(kind="vbank-refund", tno=TNO, verification=verification, amount=10000, remaining=30000)
    refused = request_refund(
        kind="vbank-refund", tno=TNO, bank_code="04", account_no="000-1234567", owner_nm="홍길동", amount=5000
    )
    assert (first.state, refused.state) == ("ACCEPTED", "REJECTED")

    code, out, _err = kcp_payment("--show", TNO, "--json")
    human_code, human, _ = kcp_payment("--show", TNO)

    assert (code, human_code) == (0, 0)
    answer = json.loads(out)
    assert (answer["paid"], answer["refunded"], answer["remaining"]) == (30000, 10000, 20000), (
        "a rejected one holds nothing"
    )
    assert [(r["id"], r["status"], r["amount"]) for r in answer["refunds"]] == [
        (str(first.public_id), "accepted", 10000),
        (str(refused.public_id), "rejected", 5000),
    ]
    assert answer["refunds"][0]["account_no_masked"] == "********9012"
    assert "paid: 30,000 won" in human and "refunded: 10,000 won" in human and "remaining: 20,000 won" in human
    assert f"refund {first.public_id}  accepted  vbank-refund  10,000 won  ********9012" in human
    for text in (out, human):
        assert DIGITS not in text and "0001234567" not in text


def test_show_of_a_payment_that_is_not_registered_exits_2() -> None:
    code, out, err = kcp_payment("--show", TNO, "--json")

    assert code == 2
    assert json.loads(out)["error"] == "not_found"
    assert f"등록된 결제 {TNO}이(가) 없습니다" in json.loads(out)["message"]
    assert err == "", "with --json the object is all the command writes"


def test_show_takes_no_registration_options() -> None:
    assert register()[0] == 0

    code, out, _err = kcp_payment("--show", TNO, "--amount", "1", "--json")

    assert code == 2
    assert list(json.loads(out)["fields"]) == ["show"]
    assert "--amount" in json.loads(out)["message"]


def test_a_payment_is_registered_under_the_merchants_site_code() -> None:
    default = settings.KCP_MERCHANTS["default"]
    other = {**default, "OPTIONS": {**default["OPTIONS"], "SITE_CD": "T0001"}}
    with override_settings(KCP_MERCHANTS={**settings.KCP_MERCHANTS, "other": other}):
        assert register("--merchant", "other")[0] == 0
        shown_elsewhere = kcp_payment("--show", TNO)[0]
        shown_here = kcp_payment("--show", TNO, "--merchant", "other", "--json")

    assert Payment.objects.get().site_cd == "T0001"
    assert shown_elsewhere == 2, "the default merchant's SITE_CD has no such payment"
    assert shown_here[0] == 0 and json.loads(shown_here[1])["merchant"] == "other"


def test_a_refund_of_a_registered_payment_shows_on_it() -> None:
    """The command and the refund service see the same row: the refund names the payment it returns."""
    assert register()[0] == 0
    verification = verify_refund_account(bank_code="04", account_no=ACCOUNT, owner_nm="홍길동", reference="ORDER-7")

    refund = request_refund(kind="escrow-cancel", tno=TNO, verification=verification)

    assert Refund.objects.get(pk=refund.pk).payment == Payment.objects.get()
    answer = json.loads(kcp_payment("--show", TNO, "--json")[1])
    assert (answer["refunded"], answer["remaining"]) == (30000, 0), "a full refund holds the whole payment"


def test_as_a_process_a_refused_registration_exits_2_and_a_good_one_0(tmp_path: Path, migrated_shop: Path) -> None:
    env = {**operator_environment(), "DATABASE_URL": copy_of(migrated_shop, tmp_path / "shop.sqlite3")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "manage.py", "kcp_payment", *args]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    good = run("--tno", TNO, "--amount", "30000", "--reference", "ORDER-7")
    bad = run("--tno", TNO, "--amount", "1", "--reference", "ORDER-7", "--json")

    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith(f"registered  {TNO}")
    assert bad.returncode == 2, bad.stderr
    assert list(json.loads(bad.stdout)["fields"]) == ["amount"]


def test_registering_confirms_a_payment_the_upgrade_created_and_clears_its_flag() -> None:
    """docs/upgrading.md: a payment made from refunds stored before 0.2 is confirmed by registering it."""
    site_cd = settings.KCP_MERCHANTS["default"]["OPTIONS"]["SITE_CD"]
    Payment.objects.create(
        site_cd=site_cd, tno=TNO, amount=1000, needs_review=True, review_reason="created by the 0.2 migration"
    )

    code, out, _err = register("--json")

    assert code == 0
    answer = json.loads(out)
    assert (answer["paid"], answer["reference"], answer["needs_review"], answer["review_reason"]) == (
        30000,
        "ORDER-7",
        False,
        "",
    )
    assert Payment.objects.get().amount == 30000
