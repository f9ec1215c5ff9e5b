"""The one place that decides how sensitive values look outside the encrypted column.

Mask by field, never by regex over a blob: every log line, stored raw answer and response goes
through :func:`mask_fields` or one of the helpers below.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ACCOUNT_FIELDS",
    "MASK_PREFIX",
    "NAME_FIELDS",
    "SECRET_FIELDS",
    "mask_account_no",
    "mask_fields",
    "mask_name",
    "mask_value",
    "masked_account",
]

#: Fields whose values are never shown at all.
SECRET_FIELDS = frozenset({"site_key", "enc_data", "enc_info", "site_key_hash"})
#: Fields that hold an account number: only the last four digits stay visible.
ACCOUNT_FIELDS = frozenset({"account_no", "mod_account", "acnt_no", "account", "refund_account"})
#: Fields that hold a person's name: first character (and last, for long names) stays visible.
NAME_FIELDS = frozenset({"owner_nm", "mod_depositor", "depositor", "acnt_nm", "refund_nm", "ipgm_name", "remitter"})


#: What stands for the hidden digits: always eight, so a masked number does not tell its length.
MASK_PREFIX = "********"


def masked_account(last4: str) -> str:
    """The one shape of a masked account number, from its stored last four digits."""
    return MASK_PREFIX + last4


def mask_account_no(value: str) -> str:
    """Show at most the last four digits: ``"123-456-789012"`` -> ``"********9012"``."""
    if not value:
        return ""
    digits = "".join(c for c in value if c.isdigit())
    return masked_account(digits[-4:] if len(digits) > 4 else "")


def mask_name(value: str) -> str:
    """``"홍길동"`` -> ``"홍*동"``, ``"홍길"`` -> ``"홍*"``, ``"A"`` -> ``"*"``."""
    if len(value) <= 1:
        return "*" * len(value)
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_value(field: str, value: str) -> str:
    key = field.lower()
    if key in SECRET_FIELDS:
        return "[hidden]" if value else ""
    if key in ACCOUNT_FIELDS:
        return mask_account_no(value)
    if key in NAME_FIELDS:
        return mask_name(value)
    return value


def mask_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``fields`` with every sensitive value masked by its field name."""
    return {key: mask_value(key, value) for key, value in fields.items()}
