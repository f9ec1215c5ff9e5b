import dataclasses

import pytest
from django.utils import translation

from kcp_django.banks import BANKS, MERGED_BANK_CODES, Bank, bank_choices, get_bank, resolve_bank_code

GUIDE_CODES = {
    "39": "경남은행",
    "34": "광주은행",
    "04": "국민은행",
    "03": "기업은행",
    "11": "농협",
    "31": "대구은행",
    "32": "부산은행",
    "64": "산림조합",
    "45": "새마을금고",
    "07": "수협",
    "88": "신한은행",
    "48": "신협",
    "20": "우리은행",
    "71": "우체국",
    "35": "제주은행",
    "90": "카카오뱅크",
    "27": "한국시티은행",
    "54": "HSBC",
    "23": "SC제일은행",
    "02": "산업은행",
    "37": "전북은행",
    "89": "케이뱅크",
    "81": "KEB 하나은행",
}


def test_every_bank_of_the_guide_is_known_with_its_korean_name():
    assert {code: bank.name_ko for code, bank in BANKS.items()} == GUIDE_CODES
    for code, bank in BANKS.items():
        assert bank.code == code
        assert bank.name_en
        assert bank.name_en.isascii()


def test_jeju_bank_and_korea_post_follow_the_financial_code_standard():
    assert BANKS["35"].name_en == "Jeju Bank"
    assert BANKS["71"].name_en == "Korea Post"


@pytest.mark.parametrize(
    ("code", "english"),
    [
        ("04", "KB Kookmin Bank"),
        ("03", "IBK Industrial Bank of Korea"),
        ("11", "NongHyup Bank"),
        ("90", "KakaoBank"),
        ("89", "K bank"),
        ("81", "KEB Hana Bank"),
        ("27", "Citibank Korea"),
        ("23", "Standard Chartered Bank Korea"),
        ("02", "KDB Korea Development Bank"),
    ],
)
def test_english_names(code, english):
    assert BANKS[code].name_en == english


def test_bank_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        BANKS["04"].name_ko = "다른은행"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("language", "expected"),
    [("ko", "국민은행"), ("en", "KB Kookmin Bank"), ("en-us", "KB Kookmin Bank"), ("fr", "국민은행")],
)
def test_name_follows_the_active_language(language, expected):
    with translation.override(language):
        assert BANKS["04"].name == expected


def test_name_is_korean_when_translation_is_deactivated():
    with translation.override(None):
        assert Bank("04", "국민은행", "KB Kookmin Bank").name == "국민은행"


@pytest.mark.parametrize("raw", ["4", "04", " 04 ", "\t4\n", 4])
def test_resolve_accepts_one_or_two_digits(raw):
    assert resolve_bank_code(raw) == "04"


@pytest.mark.parametrize(
    ("old", "current"),
    [("26", "88"), ("21", "88"), ("53", "27"), ("06", "04"), (6, "04"), ("25", "81"), ("83", "20"), ("05", "81")],
)
def test_resolve_maps_merged_banks_to_the_bank_that_took_them_over(old, current):
    assert resolve_bank_code(old) == current


def test_merged_codes_are_not_current_codes_and_point_at_current_banks():
    assert not set(MERGED_BANK_CODES) & set(BANKS)
    assert set(MERGED_BANK_CODES.values()) <= set(BANKS)


@pytest.mark.parametrize("raw", ["99", "", "  ", "004", "4a", "０４", "٠٤", "-4", -4, 104, True, None, 4.0])
def test_resolve_returns_none_for_anything_else(raw):
    assert resolve_bank_code(raw) is None


def test_get_bank_resolves_first():
    assert get_bank("26") is BANKS["88"]
    assert get_bank(4) is BANKS["04"]


def test_get_bank_raises_lookup_error_naming_the_code():
    with pytest.raises(LookupError, match="'99'"):
        get_bank("99")


def test_bank_choices_in_guide_order_and_active_language():
    with translation.override("ko"):
        choices = bank_choices()
    assert [code for code, _ in choices] == list(GUIDE_CODES)
    assert choices[0] == ("39", "경남은행")
    with translation.override("en"):
        assert ("04", "KB Kookmin Bank") in bank_choices()
