"""Arbitrary input against the validator, the service and the API: only clear refusals or valid
outcomes, never a server error. 10,000 examples in all (``KCP_FUZZ_SCALE`` multiplies them).
Each test runs its own property and checks that the examples ran, so any one passes alone."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from kcp_django.banks import BANKS, MERGED_BANK_CODES
from kcp_django.exceptions import InvalidRequest
from kcp_django.models import AccountVerification
from kcp_django.validation import normalize
from kcp_django.verifications import verify_refund_account
from tests.support.api import api_settings, make_user

pytestmark = pytest.mark.slow

SCALE = float(os.environ.get("KCP_FUZZ_SCALE", "1"))
VALIDATOR_EXAMPLES = int(5000 * SCALE)
SERVICE_EXAMPLES = int(2500 * SCALE)
API_EXAMPLES = int(2500 * SCALE)

FIELDS = {"bank_code", "account_no", "owner_nm", "ordr_idxx", "reference", "non_field_errors"}
RULES = {
    "required",
    "type",
    "forbidden_character",
    "encoding",
    "max_bytes",
    "digits_only",
    "max_digits",
    "unknown_bank",
    "format",
    "max_length",
}


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=bool(os.environ.get("CI")),  # CI repeats one fixed sequence; local runs explore
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# Near-valid values mixed with anything at all, so both paths are exercised.
bank_codes = st.one_of(
    st.sampled_from([*BANKS, *MERGED_BANK_CODES, "4", "004", "99"]), st.text(max_size=5), st.integers()
)
account_numbers = st.one_of(
    st.from_regex(r"\A[0-9 -]{1,30}\Z"),
    st.text(alphabet="0123456789０１２３-– \t,;", max_size=30),
    st.text(max_size=40),
    st.integers(),
)
hangul = st.text(alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), min_size=1, max_size=12)
names = st.one_of(hangul, st.text(max_size=30), st.text(alphabet="홍길동 ,&;\n\\|'\"<>\x00\x1f\u200b똠", max_size=12))
# Order numbers are logged by design, and the suite's leak guard takes any run of 9 or more digits
# that an earlier example used as an account number for a leaked account: a caller who makes an
# order number of an account number leaks it themselves. Runs of digits stop at 8 here.
order_numbers = st.one_of(st.none(), st.from_regex(r"\A[A-Za-z0-9_-]{1,45}\Z"), st.text(max_size=45)).map(
    lambda value: value if value is None else re.sub(r"(\d{8})(?=\d)", r"\1x", value)
)
references = st.one_of(st.text(max_size=120), st.from_regex(r"\Arefund-[0-9]{1,6}\Z"))
counted = {"validator": 0, "service": 0, "api": 0}


def run_counted(kind: str, examples: int, prop: Any) -> None:
    """Run one property and show that Hypothesis really tried its examples (each test alone, in any order)."""
    before = counted[kind]
    prop()
    ran = counted[kind] - before
    print(f"\nfuzz examples ({kind}): {ran}")
    # Hypothesis may stop early once it has seen every distinct example; these spaces are far larger.
    assert ran >= examples // 2, f"only {ran} of {examples} {kind} examples ran"


#: How the Korean messages name each field: by the label a customer sees, never the parameter.
KOREAN_LABELS = {
    "bank_code": ("은행",),
    "account_no": ("계좌번호",),
    "owner_nm": ("예금주",),
    "ordr_idxx": ("주문번호",),
    "reference": ("참조값",),
    "non_field_errors": ("",),
}


def assert_clear_refusal(exc: InvalidRequest) -> None:
    assert exc.errors
    for error in exc.errors:
        assert error.field in FIELDS and error.rule in RULES
        with translation.override("en"):
            assert error.field in str(error.message)
        with translation.override("ko"):
            korean = str(error.message)
            assert korean and any(label in korean for label in KOREAN_LABELS[error.field]), korean


def test_the_validator_accepts_or_names_the_broken_rule() -> None:
    run_counted("validator", VALIDATOR_EXAMPLES, validator_property)


@fuzz(VALIDATOR_EXAMPLES)
@given(bank_codes, account_numbers, names, order_numbers, references)
def validator_property(bank_code: Any, account_no: Any, owner_nm: Any, ordr_idxx: Any, reference: Any) -> None:
    counted["validator"] += 1
    try:
        data = normalize(
            bank_code=bank_code, account_no=account_no, owner_nm=owner_nm, ordr_idxx=ordr_idxx, reference=reference
        )
    except InvalidRequest as exc:
        assert_clear_refusal(exc)
    else:
        assert data.bank_code in BANKS
        assert data.account_no.isascii() and data.account_no.isdigit() and len(data.account_no) <= 20
        assert len(data.owner_nm.encode("euc_kr")) <= 20


@pytest.mark.django_db
def test_the_service_stores_a_truthful_row_or_refuses_clearly() -> None:
    run_counted("service", SERVICE_EXAMPLES, service_property)


@fuzz(SERVICE_EXAMPLES)
@given(bank_codes, account_numbers, names, references)
def service_property(bank_code: Any, account_no: Any, owner_nm: Any, reference: Any) -> None:
    counted["service"] += 1
    before = AccountVerification.objects.count()
    try:
        row = verify_refund_account(bank_code=bank_code, account_no=account_no, owner_nm=owner_nm, reference=reference)
    except InvalidRequest as exc:
        assert_clear_refusal(exc)
        assert AccountVerification.objects.count() == before
    else:
        assert AccountVerification.objects.count() == before + 1
        stored = AccountVerification.objects.get(pk=row.pk)
        assert stored.state in {"VERIFIED", "REJECTED", "UNKNOWN"}
        assert (stored.state == "VERIFIED") == (stored.res_cd == "0000")


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30)
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
api_bodies = st.one_of(
    st.fixed_dictionaries(
        {"bank_code": bank_codes, "account_no": account_numbers, "owner_nm": names, "reference": references},
        optional={"ordr_idxx": order_numbers},
    ),
    st.dictionaries(st.sampled_from(sorted(FIELDS)), json_values, max_size=6),
    json_values,
)


@pytest.mark.django_db
def test_the_api_answers_every_body_without_a_server_error() -> None:
    run_counted("api", API_EXAMPLES, api_property)


@fuzz(API_EXAMPLES)
@given(body=api_bodies, language=st.sampled_from(["ko", "en", "ko-KR,ko;q=0.9", ""]))
def api_property(body: Any, language: str) -> None:
    counted["api"] += 1
    # A plain client: the suite-wide leak guard scans these answers for the numbers that passed
    # validation; the API tests' own scanner would take every fuzzed string for an account number.
    client = APIClient()
    client.force_authenticate(make_user(f"fuzz{counted['api']}"))
    with api_settings(LIMITS={"reference": None, "user": None, "account": None}):
        response = client.post("/kcp/verifications/", body, format="json", headers={"accept-language": language})
    assert response.status_code in {201, 202, 400, 409}, response.content
    answer = response.json()
    if response.status_code == 400:
        assert answer["code"] in {"invalid", "parse_error"} and answer["message"]
    else:
        assert answer.get("status") in {"verified", "rejected", "unknown", "pending"} or answer["code"]
