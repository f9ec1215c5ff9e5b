"""A refund's own fields, checked like the guide's: kind, payment number, amounts, reason.

The account (bank, number, holder) is checked by :func:`kcp_django.validation.normalize` when it
is given directly; a verified account was checked when it was verified.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from kcp_django.catalogue import field_error as _error
from kcp_django.exceptions import FieldError, InvalidRequest
from kcp_django.refund_kinds import REFUND_KINDS
from kcp_django.validation import FORBIDDEN_CHARACTERS, optional_text

__all__ = [
    "AMOUNT_MAX",
    "IDEMPOTENCY_KEY_MAX_LENGTH",
    "REASON_MAX_BYTES",
    "TNO_DIGITS",
    "RefundInput",
    "check_tno",
    "check_whole_won",
    "normalize_refund",
]

TNO_DIGITS = 14
#: KCP's forms take amounts of at most 10 digits (whole won).
AMOUNT_MAX = 9_999_999_999
REASON_MAX_BYTES = 100
IDEMPOTENCY_KEY_MAX_LENGTH = 100


@dataclass(frozen=True)
class RefundInput:
    kind: str
    tno: str
    amount: int | None
    remaining: int | None
    reason: str
    idempotency_key: str | None

    @property
    def is_partial(self) -> bool:
        """A partial refund names its amount; ``remaining`` then comes from the payment (or must equal it)."""
        return self.amount is not None


def _whole_won(field: str, value: object, errors: list[FieldError]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors.append(_error(field, "type"))
        return None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if not (text.isascii() and text.isdigit()):
            errors.append(_error(field, "type"))
            return None
        value = int(text)
    if not isinstance(value, int):
        errors.append(_error(field, "type"))
        return None
    if not 0 < value <= AMOUNT_MAX:
        errors.append(_error(field, "range"))
        return None
    return value


def _reason(value: object, errors: list[FieldError]) -> str:
    given = optional_text("reason", value, errors)
    if not given:
        return ""
    text = " ".join(unicodedata.normalize("NFC", given).split())
    if any(char in FORBIDDEN_CHARACTERS or unicodedata.category(char) in {"Cc", "Cf", "Cs"} for char in text):
        errors.append(_error("reason", "forbidden_character"))
        return ""
    try:
        size = len(text.encode("euc_kr"))
    except UnicodeEncodeError:
        errors.append(_error("reason", "encoding"))
        return ""
    if any(len(char.encode("euc_kr")) > 2 for char in text):
        errors.append(_error("reason", "encoding"))
        return ""
    if size > REASON_MAX_BYTES:
        errors.append(_error("reason", "max_bytes"))
    return text


def normalize_refund(
    *,
    kind: object,
    tno: object,
    amount: object = None,
    remaining: object = None,
    reason: object = "",
    key: object = None,
) -> RefundInput:
    """Check a refund's own fields; raise :class:`InvalidRequest` naming every broken rule."""
    errors: list[FieldError] = []
    if kind not in REFUND_KINDS:
        errors.append(_error("kind", "choice"))
    tno_text = check_tno(tno, errors)
    amount_won = _whole_won("amount", amount, errors)
    remaining_won = _whole_won("remaining", remaining, errors)
    if (amount is None or amount == "") and not (remaining is None or remaining == ""):
        errors.append(_error("remaining", "required"))
    elif amount_won is not None and remaining_won is not None and remaining_won < amount_won:
        errors.append(_error("remaining", "less_than_amount"))
    if amount_won is not None and kind in REFUND_KINDS and kind != "vbank-refund":
        errors.append(_error("amount", "partial_not_supported"))
    reason_text = _reason(reason, errors)
    idempotency_key = None
    if key is not None and key != "":
        if not (
            isinstance(key, str)
            and 0 < len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH
            and key.isascii()
            and key.isprintable()
            and " " not in key
        ):
            errors.append(_error("idempotency_key", "format"))
        else:
            idempotency_key = key
    if errors:
        raise InvalidRequest(errors)
    return RefundInput(
        kind=str(kind),
        tno=tno_text,
        amount=amount_won,
        remaining=remaining_won,
        reason=reason_text,
        idempotency_key=idempotency_key,
    )


def check_tno(value: object, errors: list[FieldError]) -> str:
    """KCP's 14-digit transaction number of a payment, or an error appended to ``errors``."""
    tno_text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not tno_text:
        errors.append(_error("tno", "required"))
    elif not (tno_text.isascii() and tno_text.isdigit() and len(tno_text) == TNO_DIGITS):
        errors.append(_error("tno", "format"))
    return tno_text


def check_whole_won(field: str, value: object, errors: list[FieldError]) -> int | None:
    """A whole number of won above 0, or an error naming ``field`` appended to ``errors``."""
    return _whole_won(field, value, errors)
