import dataclasses
import gettext
import re
import unicodedata
from pathlib import Path

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

import kcp_django
from kcp_django.exceptions import InvalidRequest, KcpError
from kcp_django.validation import (
    FORBIDDEN_CHARACTERS,
    NormalizedInput,
    generate_ordr_idxx,
    normalize,
    normalize_client_ip,
)

VALID = {"bank_code": "04", "account_no": "123456789012", "owner_nm": "홍길동"}
HANGUL_SYLLABLE = re.compile("[가-힣]")


def errors_of(**changes):
    with pytest.raises(InvalidRequest) as excinfo:
        normalize(**{**VALID, **changes})
    return excinfo.value.errors


def rules_of(**changes):
    return {(error.field, error.rule) for error in errors_of(**changes)}


def message_of(field, rule, **changes):
    (error,) = [e for e in errors_of(**changes) if (e.field, e.rule) == (field, rule)]
    return str(error.message)


# --- accepted input -------------------------------------------------------------------------


def test_valid_input_is_normalised():
    result = normalize(
        bank_code=" 4 ",
        account_no="123-456 789012",
        owner_nm="  홍   길동 ",
        ordr_idxx="ORDER-2024_0001",
        reference="  refund 17 ",
    )
    assert result == NormalizedInput(
        bank_code="04",
        account_no="123456789012",
        owner_nm="홍 길동",
        ordr_idxx="ORDER-2024_0001",
        reference="refund 17",
    )


def test_generate_ordr_idxx_is_short_safe_and_unique():
    ids = {generate_ordr_idxx() for _ in range(1000)}
    assert len(ids) == 1000
    for ordr_idxx in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", ordr_idxx)


@pytest.mark.parametrize("ordr_idxx", [None, "", "   "])
def test_missing_ordr_idxx_is_generated(ordr_idxx):
    result = normalize(**VALID, ordr_idxx=ordr_idxx)
    assert re.fullmatch(r"KCPD[A-Za-z0-9_-]{1,36}", result.ordr_idxx)
    assert result.ordr_idxx != normalize(**VALID, ordr_idxx=ordr_idxx).ordr_idxx


def test_reference_is_optional():
    assert normalize(**VALID).reference == ""
    assert normalize(**VALID, reference=None).reference == ""


# --- owner_nm --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (unicodedata.normalize("NFD", "홍길동"), "홍길동"),
        (" 홍\u00a0\u00a0길\u3000동 ", "홍 길 동"),
        ("Hong Gildong", "Hong Gildong"),
        ("가" * 10, "가" * 10),
        ("A" * 20, "A" * 20),
        ("홍길동 Hong Gil Dong", "홍길동 Hong Gil Dong"),
        ("ㄱ", "ㄱ"),
    ],
)
def test_owner_nm_is_normalised(raw, expected):
    assert normalize(**{**VALID, "owner_nm": raw}).owner_nm == expected


def test_owner_nm_with_comma_is_refused():
    assert rules_of(owner_nm="홍길동,") == {("owner_nm", "forbidden_character")}


@pytest.mark.parametrize(
    ("char", "shown"),
    [
        (",", "','"),
        ("&", "'&'"),
        (";", "';'"),
        ("\n", "U+000A"),
        ("\\", "'\\'"),
        ("|", "'|'"),
        ("'", '"\'"'),
        ('"', "'\"'"),
        ("<", "'<'"),
        (">", "'>'"),
        ("\x00", "U+0000"),
        ("\t", "U+0009"),
        ("\r", "U+000D"),
        ("\x1c", "U+001C"),
        ("\x1f", "U+001F"),
        ("\x7f", "U+007F"),
        ("\u200b", "U+200B"),
        ("\ufeff", "U+FEFF"),
        ("\ud800", "U+D800"),
    ],
)
def test_forbidden_characters_are_refused_and_shown_safely(char, shown):
    name = f"홍{char}길동"
    assert rules_of(owner_nm=name) == {("owner_nm", "forbidden_character")}
    with translation.override("en"):
        message = message_of("owner_nm", "forbidden_character", owner_nm=name)
    assert shown in message
    if not char.isprintable():
        assert char not in message


def test_a_character_that_normalises_to_a_forbidden_one_is_refused():
    # U+037E GREEK QUESTION MARK is canonically equivalent to ";".
    assert rules_of(owner_nm="홍길동\u037e") == {("owner_nm", "forbidden_character")}


def test_eleven_hangul_syllables_are_too_long():
    assert rules_of(owner_nm="가" * 11) == {("owner_nm", "max_bytes")}
    with translation.override("en"):
        assert "22 bytes" in message_of("owner_nm", "max_bytes", owner_nm="가" * 11)


@pytest.mark.parametrize("name", ["A" * 21, "홍길동 Hong Gildong Jr"])
def test_mixed_or_latin_names_count_bytes(name):
    assert rules_of(owner_nm=name) == {("owner_nm", "max_bytes")}


@pytest.mark.parametrize(("name", "shown"), [("홍길동😀", "'😀'"), ("똠", "'똠'"), ("김똠순", "'똠'"), ("₩", "'₩'")])
def test_characters_outside_euc_kr_are_refused(name, shown):
    # "똠" is not one of KS X 1001's 2,350 syllables (Python's codec would write 8 jamo bytes).
    assert rules_of(owner_nm=name) == {("owner_nm", "encoding")}
    with translation.override("en"):
        assert shown in message_of("owner_nm", "encoding", owner_nm=name)


@pytest.mark.parametrize("name", [None, "", "   ", "\u3000"])
def test_owner_nm_is_required(name):
    assert rules_of(owner_nm=name) == {("owner_nm", "required")}


@pytest.mark.parametrize("name", [123, b"\xc8\xab", ["홍길동"]])
def test_owner_nm_must_be_text(name):
    assert rules_of(owner_nm=name) == {("owner_nm", "type")}


def test_one_field_can_break_several_rules():
    assert rules_of(owner_nm="홍길동😀" * 4) == {("owner_nm", "encoding"), ("owner_nm", "max_bytes")}
    assert rules_of(owner_nm="홍길동," + "가" * 10) == {
        ("owner_nm", "forbidden_character"),
        ("owner_nm", "max_bytes"),
    }


# --- account_no ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123-456 789012", "123456789012"),
        (" 1004 ", "1004"),
        ("１２３－４５６\u3000７８９", "123456789"),
        ("0012", "0012"),
        (1004, "1004"),
        ("1" * 20, "1" * 20),
    ],
)
def test_account_no_keeps_only_the_digits(raw, expected):
    assert normalize(**{**VALID, "account_no": raw}).account_no == expected


def test_account_no_with_letters_is_refused():
    assert rules_of(account_no="12a34") == {("account_no", "digits_only")}
    with translation.override("en"):
        assert "'a'" in message_of("account_no", "digits_only", account_no="12a34")


def test_account_no_with_non_ascii_digits_is_refused():
    assert rules_of(account_no="١٢٣٤") == {("account_no", "digits_only")}


def test_account_no_with_21_digits_is_too_long():
    assert rules_of(account_no="1" * 21) == {("account_no", "max_digits")}
    assert rules_of(account_no="1234-5678-9012-3456-78901") == {("account_no", "max_digits")}


def test_account_no_forbidden_character_is_not_also_reported_as_a_non_digit():
    assert rules_of(account_no="123,456") == {("account_no", "forbidden_character")}
    assert rules_of(account_no="123；456") == {("account_no", "forbidden_character")}


@pytest.mark.parametrize("raw", [None, "", "  ", " - -"])
def test_account_no_is_required(raw):
    assert rules_of(account_no=raw) == {("account_no", "required")}


@pytest.mark.parametrize("raw", [True, -1, 12.5, b"1234"])
def test_account_no_must_be_text_or_a_non_negative_integer(raw):
    assert rules_of(account_no=raw) == {("account_no", "type")}


# --- bank_code -------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("4", "04"), ("04", "04"), (4, "04"), ("26", "88"), ("05", "81")])
def test_bank_code_is_resolved(raw, expected):
    assert normalize(**{**VALID, "bank_code": raw}).bank_code == expected


@pytest.mark.parametrize("raw", ["99", "004", "KB", "0 4"])
def test_unknown_bank_code_is_refused(raw):
    assert rules_of(bank_code=raw) == {("bank_code", "unknown_bank")}


@pytest.mark.parametrize("raw", [None, "", " "])
def test_bank_code_is_required(raw):
    assert rules_of(bank_code=raw) == {("bank_code", "required")}


@pytest.mark.parametrize("raw", [4.0, False, ["04"]])
def test_bank_code_must_be_text_or_an_integer(raw):
    assert rules_of(bank_code=raw) == {("bank_code", "type")}


def test_bank_code_with_forbidden_character():
    assert rules_of(bank_code="04;") == {("bank_code", "forbidden_character")}


# --- ordr_idxx and reference -----------------------------------------------------------------


def test_ordr_idxx_of_40_characters_is_kept():
    assert normalize(**VALID, ordr_idxx="A" * 40).ordr_idxx == "A" * 40


def test_ordr_idxx_of_41_characters_is_refused():
    assert rules_of(ordr_idxx="A" * 41) == {("ordr_idxx", "max_length")}
    with translation.override("en"):
        assert "41" in message_of("ordr_idxx", "max_length", ordr_idxx="A" * 41)


@pytest.mark.parametrize(("raw", "shown"), [("주문-1", "'주'"), ("A B", "U+0020"), ("A.B", "'.'")])
def test_ordr_idxx_format(raw, shown):
    assert rules_of(ordr_idxx=raw) == {("ordr_idxx", "format")}
    with translation.override("en"):
        assert shown in message_of("ordr_idxx", "format", ordr_idxx=raw)


def test_ordr_idxx_forbidden_character_is_not_also_a_format_error():
    assert rules_of(ordr_idxx="A&B") == {("ordr_idxx", "forbidden_character")}
    assert rules_of(ordr_idxx=";") == {("ordr_idxx", "forbidden_character")}


def test_ordr_idxx_must_be_text():
    assert rules_of(ordr_idxx=12345) == {("ordr_idxx", "type")}


def test_reference_limits():
    assert normalize(**VALID, reference="r" * 100).reference == "r" * 100
    assert rules_of(reference="r" * 101) == {("reference", "max_length")}
    assert rules_of(reference="order 1 | refund 2") == {("reference", "forbidden_character")}
    assert rules_of(reference=17) == {("reference", "type")}
    # A lone surrogate (e.g. from JSON "\\ud800") could not be stored or sent.
    assert rules_of(reference="refund \udc00") == {("reference", "forbidden_character")}


# --- all errors at once ----------------------------------------------------------------------


def test_every_broken_field_is_reported_at_once():
    with pytest.raises(InvalidRequest) as excinfo:
        normalize(
            bank_code="99",
            account_no="12a34",
            owner_nm="홍길동,",
            ordr_idxx="A" * 41,
            reference="a<b",
        )
    error = excinfo.value
    assert {(e.field, e.rule) for e in error.errors} == {
        ("bank_code", "unknown_bank"),
        ("account_no", "digits_only"),
        ("owner_nm", "forbidden_character"),
        ("ordr_idxx", "max_length"),
        ("reference", "forbidden_character"),
    }
    assert set(error.by_field()) == {"bank_code", "account_no", "owner_nm", "ordr_idxx", "reference"}
    assert isinstance(error, ValueError)
    assert isinstance(error, KcpError)


# --- messages --------------------------------------------------------------------------------

EVERY_RULE = [
    ({"owner_nm": ""}, "owner_nm", "required"),
    ({"owner_nm": 123}, "owner_nm", "type"),
    ({"owner_nm": "홍길동,"}, "owner_nm", "forbidden_character"),
    ({"owner_nm": "똠"}, "owner_nm", "encoding"),
    ({"owner_nm": "가" * 11}, "owner_nm", "max_bytes"),
    ({"account_no": None}, "account_no", "required"),
    ({"account_no": True}, "account_no", "type"),
    ({"account_no": "123<456"}, "account_no", "forbidden_character"),
    ({"account_no": "12a34"}, "account_no", "digits_only"),
    ({"account_no": "1" * 21}, "account_no", "max_digits"),
    ({"bank_code": " "}, "bank_code", "required"),
    ({"bank_code": 4.0}, "bank_code", "type"),
    ({"bank_code": "04|"}, "bank_code", "forbidden_character"),
    ({"bank_code": "99"}, "bank_code", "unknown_bank"),
    ({"ordr_idxx": b"X"}, "ordr_idxx", "type"),
    ({"ordr_idxx": "A&B"}, "ordr_idxx", "forbidden_character"),
    ({"ordr_idxx": "주문-1"}, "ordr_idxx", "format"),
    ({"ordr_idxx": "A" * 41}, "ordr_idxx", "max_length"),
    ({"reference": 17}, "reference", "type"),
    ({"reference": 'say "hi"'}, "reference", "forbidden_character"),
    ({"reference": "r" * 101}, "reference", "max_length"),
]


#: How a Korean shop's customers know each field: its label, never the parameter's name (issue 18 item 13).
KOREAN_LABELS = {
    "owner_nm": "예금주명",
    "account_no": "계좌번호",
    "bank_code": "은행",
    "ordr_idxx": "주문번호",
    "reference": "참조값",
    "client_ip": "고객 IP 주소",
}


@pytest.mark.parametrize(("changes", "field", "rule"), EVERY_RULE)
def test_message_names_the_field_by_its_korean_label_and_in_english(changes, field, rule):
    """The Korean message names the field as customers know it (``예금주명``), not ``owner_nm(예금주명)``;
    the field's parameter name is in ``error.field`` (and the API's ``errors``) for programs."""
    (error,) = errors_of(**changes)
    assert (error.field, error.rule) == (field, rule)
    with translation.override("ko"):
        korean = str(error.message)
    with translation.override("en"):
        english = str(error.message)
    assert KOREAN_LABELS[field] in korean
    assert field not in korean
    assert field in english
    assert korean != english
    assert english.startswith(f"{field} (")


def test_message_renders_in_the_language_active_when_shown_not_when_created():
    with translation.override("en"):
        (error,) = errors_of(owner_nm="가" * 11)
    with translation.override("ko"):
        assert str(error.message) == (
            "예금주명이 너무 깁니다. 한글 10자(영문 20자)까지 입력할 수 있습니다(현재 22바이트)."
        )
    with translation.override("en"):
        assert str(error.message) == (
            "owner_nm (account holder name) must be at most 20 bytes in EUC-KR "
            "(a Korean syllable counts as 2); it is 22 bytes."
        )
        assert str(error) == f"owner_nm: {error.message}"


def test_compiled_korean_catalogue_ships_with_the_package():
    mo = Path(kcp_django.__file__).parent / "locale" / "ko" / "LC_MESSAGES" / "django.mo"
    with mo.open("rb") as fp:
        catalogue = gettext.GNUTranslations(fp)
    assert catalogue.info()["language"] == "ko"
    assert catalogue.gettext("bank_code (bank code) is required.") == "은행을 선택해 주세요."


# --- properties ------------------------------------------------------------------------------

# The 2,350 syllables of KS X 1001 (EUC-KR rows 0xB0-0xC8), and all 11,172 modern ones.
euc_kr_hangul = st.sampled_from(
    [bytes([row, cell]).decode("euc_kr") for row in range(0xB0, 0xC9) for cell in range(0xA1, 0xFF)]
)
any_hangul = st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3)
names = st.one_of(
    st.text(alphabet=st.one_of(euc_kr_hangul, st.sampled_from(" \u3000\u00a0Abz-.·ㄱ")), max_size=15),
    st.text(
        alphabet=st.one_of(any_hangul, st.sampled_from(" \t'&,;<😀\u200b\x1f\u037e"), st.characters()),
        max_size=15,
    ),
)
digits_with_separators = st.lists(
    st.tuples(st.text(alphabet=" -", max_size=3), st.sampled_from("0123456789")), min_size=1, max_size=20
)
valid_inputs = st.fixed_dictionaries(
    {
        "bank_code": st.sampled_from(["4", "04", " 88 ", "26", "05", "90", 7, 71]),
        "account_no": st.from_regex(r"[0-9][0-9 -]{0,20}", fullmatch=True),
        "owner_nm": st.text(
            alphabet=st.one_of(euc_kr_hangul, st.sampled_from(" A")),
            min_size=1,
            max_size=10,
        ),
        "ordr_idxx": st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)),
        "reference": st.text(
            alphabet=st.characters(exclude_categories=("Cc", "Cf", "Cs"), exclude_characters=FORBIDDEN_CHARACTERS),
            max_size=100,
        ),
    }
)


@given(valid_inputs)
def test_normalize_is_idempotent(fields):
    try:
        first = normalize(**fields)
    except InvalidRequest:
        return
    assert normalize(**dataclasses.asdict(first)) == first


@given(names)
def test_any_accepted_owner_nm_fits_in_20_euc_kr_bytes_without_forbidden_characters(name):
    try:
        owner_nm = normalize(**{**VALID, "owner_nm": name}).owner_nm
    except InvalidRequest:
        return
    assert len(owner_nm.encode("euc_kr")) <= 20
    for char in owner_nm:
        assert char not in FORBIDDEN_CHARACTERS
        assert unicodedata.category(char) not in ("Cc", "Cf", "Cs")
    assert owner_nm == unicodedata.normalize("NFC", owner_nm) == " ".join(owner_nm.split())


@given(digits_with_separators)
def test_digits_spaces_and_hyphens_give_back_exactly_the_digits(parts):
    raw = "".join(separator + digit for separator, digit in parts)
    assert normalize(**{**VALID, "account_no": raw}).account_no == "".join(digit for _, digit in parts)


# --- client_ip --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("2001:DB8:0:0::7", "2001:db8::7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
    ],
)
def test_client_ip_is_kept_as_an_address_or_none_when_unknown(given, stored):
    assert normalize_client_ip(given) == stored


@pytest.mark.parametrize(
    ("given", "rule"),
    [
        ("1.2.3.4&res_cd=0000;x|y<z>", "ip_address"),
        ("1.2.3.4, 5.6.7.8", "ip_address"),
        ("fe80::1%eth0;x", "ip_address"),
        ("01.2.3.4", "ip_address"),
        ("localhost", "ip_address"),
        (16909060, "type"),
    ],
)
def test_anything_but_an_ip_address_is_refused_naming_client_ip_and_the_rule(given, rule):
    with pytest.raises(InvalidRequest) as excinfo:
        normalize_client_ip(given)

    (error,) = excinfo.value.errors
    assert (error.field, error.rule) == ("client_ip", rule)
    with translation.override("ko"):
        korean = str(error.message)
    with translation.override("en"):
        english = str(error.message)
    assert english.startswith("client_ip (")
    assert "고객 IP 주소" in korean and "client_ip" not in korean
    assert "res_cd" not in korean + english  # the refused value is never echoed
