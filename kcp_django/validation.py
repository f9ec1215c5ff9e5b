"""Check and normalise the fields of an account certification request (guide §2.3 and §4.1).

:func:`normalize` reports every broken rule at once, as :class:`~kcp_django.exceptions.FieldError`
items with a stable ``rule`` id and a lazily translated message.
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
import string
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.views.decorators.debug import sensitive_variables

from .banks import resolve_bank_code
from .catalogue import field_error as _error
from .exceptions import FieldError, InvalidRequest

__all__ = [
    "ACCOUNT_NO_MAX_DIGITS",
    "FORBIDDEN_CHARACTERS",
    "ORDR_IDXX_MAX_LENGTH",
    "OWNER_NM_MAX_BYTES",
    "REFERENCE_MAX_LENGTH",
    "NormalizedInput",
    "check_reference",
    "generate_ordr_idxx",
    "normalize",
    "normalize_client_ip",
    "optional_text",
    "parse_client_ip",
]

OWNER_NM_MAX_BYTES = 20
ACCOUNT_NO_MAX_DIGITS = 20
ORDR_IDXX_MAX_LENGTH = 40
REFERENCE_MAX_LENGTH = 100

#: Guide §2.3.2: these break KCP's request or cut off what follows them. The guide's Korean font
#: draws the backslash as "₩". Control (Cc) and format (Cf) characters are refused as well, and
#: lone surrogates (Cs), which can't be encoded at all.
FORBIDDEN_CHARACTERS = frozenset(",&;\n\\|'\"<>")
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})

_ORDR_IDXX_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_-")
_MAX_CHARACTERS_SHOWN = 10


@dataclass(frozen=True)
class NormalizedInput:
    bank_code: str  # current two-digit code (after merged-bank mapping)
    account_no: str  # ASCII digits only
    owner_nm: str  # NFC, trimmed, inner runs of whitespace collapsed to one space
    ordr_idxx: str  # given, or generated
    reference: str  # the shop's free reference (order / refund id), trimmed


def generate_ordr_idxx() -> str:
    """``"KCPD"`` + UTC time to the microsecond + 64 random bits: 40 characters of ``[A-Za-z0-9]``."""
    return f"KCPD{datetime.now(UTC):%Y%m%d%H%M%S%f}{secrets.token_hex(8)}"


@sensitive_variables()  # crash reports show no account number or name, here or below
def normalize(
    *,
    bank_code: object,
    account_no: object,
    owner_nm: object,
    ordr_idxx: object = None,
    reference: object = "",
) -> NormalizedInput:
    """Check every field and return the values to send, or raise :class:`InvalidRequest` listing
    every broken rule (one or more per field)."""
    errors: list[FieldError] = []
    result = NormalizedInput(
        bank_code=_bank_code(bank_code, errors),
        account_no=_account_no(account_no, errors),
        owner_nm=_owner_nm(owner_nm, errors),
        ordr_idxx=_ordr_idxx(ordr_idxx, errors),
        reference=_reference(reference, errors),
    )
    if errors:
        raise InvalidRequest(errors)
    return result


def normalize_client_ip(value: object) -> str | None:
    """The client's address as stored and sent to KCP (``cust_ip``), or ``None`` when unknown.

    ``None`` and empty text mean unknown. Anything else must parse as one IPv4 or IPv6 address
    (:func:`ipaddress.ip_address`; an IPv4-mapped IPv6 address becomes its IPv4 address), or
    :class:`InvalidRequest` names the field ``client_ip`` and the rule.
    """
    if value is None:
        return None
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidRequest([_error("client_ip", "type")])
    if not value.strip():
        return None
    address = parse_client_ip(value)
    if address is None:
        raise InvalidRequest([_error("client_ip", "ip_address")])
    return address


def parse_client_ip(value: object) -> str | None:
    """``value`` as an IP address (see :func:`normalize_client_ip`), or ``None`` if it is not one.

    For addresses a server hands over (``REMOTE_ADDR``): one it cannot name is unknown, not an error.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if "%" in text:  # a zone ("fe80::1%eth0") means nothing off this host, and inet columns refuse it
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


@functools.lru_cache(maxsize=4096)
def _is_forbidden(char: str) -> bool:
    # Cached: a name or number repeats few characters, and this runs for each one of every value.
    return char in FORBIDDEN_CHARACTERS or unicodedata.category(char) in _FORBIDDEN_CATEGORIES


def _check_forbidden(field: str, raw: str, normalized: str, errors: list[FieldError]) -> tuple[str, bool]:
    """Report forbidden characters in the raw or normalised value (NFKC turns "；" into ";").

    Returns the normalised value without them, so later rules don't report the same problem
    again, and whether there were any.
    """
    if not any(map(_is_forbidden, {*raw, *normalized})):
        return normalized, False  # the common case: each distinct character looked at once
    found = [char for char in raw + normalized if _is_forbidden(char)]
    if found:
        errors.append(_error(field, "forbidden_character", chars=_describe(found)))
    return "".join(char for char in normalized if not _is_forbidden(char)), bool(found)


def _describe(chars: Iterable[str]) -> str:
    """``'a', '&', U+000A``: distinct characters, invisible ones as code points, never raw."""
    distinct = list(dict.fromkeys(chars))
    shown = [_show(char) for char in distinct[:_MAX_CHARACTERS_SHOWN]]
    if len(distinct) > _MAX_CHARACTERS_SHOWN:
        shown.append("…")
    return ", ".join(shown)


def _show(char: str) -> str:
    if not char.isprintable() or char.isspace() or unicodedata.category(char).startswith("M"):
        return f"U+{ord(char):04X}"
    return f'"{char}"' if char == "'" else f"'{char}'"


def _euc_kr_size(char: str) -> int | None:
    """Bytes ``char`` takes in EUC-KR, or ``None`` if it has no EUC-KR code.

    KS X 1001 has 2,350 Hangul syllables. Python's codec writes the others (e.g. "똠") as an 8-byte
    jamo sequence rather than plain two-byte EUC-KR, so those count as unencodable.
    """
    try:
        size = len(char.encode("euc_kr"))
    except UnicodeEncodeError:
        return None
    return size if size <= 2 else None


def _owner_nm(value: object, errors: list[FieldError]) -> str:
    if value is None:
        errors.append(_error("owner_nm", "required"))
        return ""
    if not isinstance(value, str):
        errors.append(_error("owner_nm", "type"))
        return ""
    composed = unicodedata.normalize("NFC", value)
    cleaned, forbidden = _check_forbidden("owner_nm", value, composed, errors)
    name = " ".join(unicodedata.normalize("NFC", cleaned).split())
    if not name:
        if not forbidden:
            errors.append(_error("owner_nm", "required"))
        return ""
    sizes = [_euc_kr_size(char) for char in name]
    unencodable = [char for char, size in zip(name, sizes, strict=True) if size is None]
    if unencodable:
        errors.append(_error("owner_nm", "encoding", chars=_describe(unencodable)))
    size = sum(size for size in sizes if size is not None)
    if size > OWNER_NM_MAX_BYTES:
        errors.append(_error("owner_nm", "max_bytes", size=size))
    return name


def _text_or_number(field: str, value: object, errors: list[FieldError], *, negative: bool) -> str | None:
    """A required field that may come as text or as an integer (``negative`` ones too, or not): its
    text, or ``None`` once a missing value or another type is reported."""
    if value is None:
        errors.append(_error(field, "required"))
        return None
    refused_negative = not negative and isinstance(value, int) and value < 0
    if isinstance(value, bool) or not isinstance(value, str | int) or refused_negative:
        errors.append(_error(field, "type"))
        return None
    return str(value)


def _account_no(value: object, errors: list[FieldError]) -> str:
    raw = _text_or_number("account_no", value, errors, negative=False)
    if raw is None:
        return ""
    folded = unicodedata.normalize("NFKC", raw)  # full-width "０１２" -> "012"
    cleaned, forbidden = _check_forbidden("account_no", raw, folded, errors)
    compact = "".join(cleaned.split()).replace("-", "")
    if not compact:
        if not forbidden:
            errors.append(_error("account_no", "required"))
        return ""
    not_digits = [char for char in compact if not (char.isascii() and char.isdigit())]
    if not_digits:
        errors.append(_error("account_no", "digits_only", chars=_describe(not_digits)))
    count = len(compact) - len(not_digits)
    if count > ACCOUNT_NO_MAX_DIGITS:
        errors.append(_error("account_no", "max_digits", count=count))
    return compact


def _bank_code(value: object, errors: list[FieldError]) -> str:
    raw = _text_or_number("bank_code", value, errors, negative=True)
    if raw is None:
        return ""
    cleaned, forbidden = _check_forbidden("bank_code", raw, raw, errors)
    if not cleaned.strip():
        if not forbidden:
            errors.append(_error("bank_code", "required"))
        return ""
    code = resolve_bank_code(cleaned)
    if code is None:
        errors.append(_error("bank_code", "unknown_bank"))
        return ""
    return code


def _ordr_idxx(value: object, errors: list[FieldError]) -> str:
    if value is None:
        return generate_ordr_idxx()
    if not isinstance(value, str):
        errors.append(_error("ordr_idxx", "type"))
        return ""
    cleaned, forbidden = _check_forbidden("ordr_idxx", value, value, errors)
    cleaned = cleaned.strip()
    if not cleaned:
        return "" if forbidden else generate_ordr_idxx()
    if len(cleaned) > ORDR_IDXX_MAX_LENGTH:
        errors.append(_error("ordr_idxx", "max_length", length=len(cleaned)))
    wrong = [char for char in cleaned if char not in _ORDR_IDXX_CHARACTERS]
    if wrong:
        errors.append(_error("ordr_idxx", "format", chars=_describe(wrong)))
    return cleaned


def optional_text(field: str, value: object, errors: list[FieldError]) -> str | None:
    """An optional text field as given: ``""`` when left out, ``None`` once another type is reported."""
    if value is None or isinstance(value, str):
        return value or ""
    errors.append(_error(field, "type"))
    return None


def _reference(value: object, errors: list[FieldError]) -> str:
    text = optional_text("reference", value, errors)
    if not text:
        return ""
    cleaned = _check_forbidden("reference", text, text, errors)[0].strip()
    if len(cleaned) > REFERENCE_MAX_LENGTH:
        errors.append(_error("reference", "max_length", length=len(cleaned)))
    return cleaned


def check_reference(value: object, errors: list[FieldError]) -> str:
    """A shop reference (an order number) by the rules every reference follows; errors go to ``errors``."""
    return _reference(value, errors)
