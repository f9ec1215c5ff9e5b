"""The bank codes KCP's account certification accepts (guide §6.1)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import get_language

__all__ = [
    "BANKS",
    "MERGED_BANK_CODES",
    "Bank",
    "bank_choices",
    "get_bank",
    "resolve_bank_code",
]


@dataclass(frozen=True)
class Bank:
    code: str
    name_ko: str
    name_en: str

    @property
    def name(self) -> str:
        """The name in the active language: English if it starts with "en", Korean otherwise."""
        language = get_language() or ""
        return self.name_en if language.lower().startswith("en") else self.name_ko


def _table(*rows: tuple[str, str, str]) -> dict[str, Bank]:
    return {code: Bank(code, name_ko, name_en) for code, name_ko, name_en in rows}


#: Every current bank, in the guide's order (its columns are sorted by Korean name).
BANKS: dict[str, Bank] = _table(
    ("39", "경남은행", "Kyongnam Bank"),
    ("34", "광주은행", "Kwangju Bank"),
    ("04", "국민은행", "KB Kookmin Bank"),
    ("03", "기업은행", "IBK Industrial Bank of Korea"),
    ("11", "농협", "NongHyup Bank"),
    ("31", "대구은행", "Daegu Bank"),
    ("32", "부산은행", "Busan Bank"),
    ("64", "산림조합", "Korea Forestry Cooperatives"),
    ("45", "새마을금고", "MG Saemaul Geumgo"),
    ("07", "수협", "Suhyup Bank"),
    ("88", "신한은행", "Shinhan Bank"),
    ("48", "신협", "Shinhyup (National Credit Union Federation)"),
    ("20", "우리은행", "Woori Bank"),
    # The extracted guide text pairs 71 with 제주은행 and 35 with 우체국, but its name column
    # is sorted (우체국 before 제주은행) and the Korean financial code standard has
    # 71 = 우체국 and 35 = 제주은행: the extraction swapped the two names.
    ("71", "우체국", "Korea Post"),
    ("35", "제주은행", "Jeju Bank"),
    ("90", "카카오뱅크", "KakaoBank"),
    ("27", "한국시티은행", "Citibank Korea"),
    ("54", "HSBC", "HSBC"),
    ("23", "SC제일은행", "Standard Chartered Bank Korea"),
    ("02", "산업은행", "KDB Korea Development Bank"),
    ("37", "전북은행", "Jeonbuk Bank"),
    ("89", "케이뱅크", "K bank"),
    ("81", "KEB 하나은행", "KEB Hana Bank"),
)

#: Codes of banks that were merged away, mapped to the code of the bank that took them over.
MERGED_BANK_CODES: dict[str, str] = {
    "26": "88",  # 구 신한은행 -> 신한은행
    "21": "88",  # 구 조흥은행 -> 신한은행
    "53": "27",  # 구 씨티은행 -> 한국시티은행
    "06": "04",  # 구 주택은행 -> 국민은행
    "25": "81",  # 구 서울은행 -> 하나은행
    "83": "20",  # 구 평화은행 -> 우리은행
    "05": "81",  # 구 외환은행 -> KEB 하나은행
}


def resolve_bank_code(raw: str | int) -> str | None:
    """The current two-digit code for ``raw`` (``4``, ``"4"``, ``" 04 "``, old ``"06"`` -> ``"04"``),
    or ``None`` if it is not a bank KCP knows."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None
    text = str(raw).strip()
    if not (1 <= len(text) <= 2 and text.isascii() and text.isdigit()):
        return None
    code = text.zfill(2)
    code = MERGED_BANK_CODES.get(code, code)
    return code if code in BANKS else None


def get_bank(code: str | int) -> Bank:
    """The bank for ``code`` (resolved like :func:`resolve_bank_code`); ``LookupError`` if unknown."""
    resolved = resolve_bank_code(code)
    if resolved is None:
        raise LookupError(f"{code!r} is not a bank code KCP knows (see the guide's bank code table, §6.1).")
    return BANKS[resolved]


def bank_choices() -> list[tuple[str, str]]:
    """``(code, name)`` pairs in the guide's order, names in the active language."""
    return [(bank.code, bank.name) for bank in BANKS.values()]
