"""Where a shop's model keeps a refund account, and reading it from one row.

The admin action and the bulk worker verify rows of any model (``AccountVerification`` itself, or a
shop's ``RefundRequest``): an :class:`AccountSource` names the attributes that hold the bank code,
account number, holder name, reference and merchant alias. Paths follow relations with ``__`` (as
in ``list_display``); a method at the end of a path is called.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from django.db import models

from kcp_django import conf
from kcp_django.banks import get_bank
from kcp_django.crypto import last_four
from kcp_django.exceptions import DecryptionError, InvalidRequest
from kcp_django.masking import masked_account
from kcp_django.validation import NormalizedInput, normalize


@dataclass(frozen=True)
class AccountInput:
    """What one row asks the service to verify, as read (not yet normalised)."""

    bank_code: Any
    account_no: Any
    owner_nm: Any
    reference: str
    merchant: str

    def service_kwargs(self) -> dict[str, Any]:
        return {**self.input_kwargs(), "merchant": self.merchant}

    def input_kwargs(self) -> dict[str, Any]:
        """The request's fields as :func:`~kcp_django.validation.normalize` takes them."""
        return {
            "bank_code": self.bank_code,
            "account_no": self.account_no,
            "owner_nm": self.owner_nm,
            "reference": self.reference,
        }

    def normalized(self) -> NormalizedInput:
        """The checked input; raises :class:`~kcp_django.exceptions.InvalidRequest` like the service."""
        return normalize(
            bank_code=self.bank_code, account_no=self.account_no, owner_nm=self.owner_nm, reference=self.reference
        )


@dataclass(frozen=True)
class RowPreview:
    """A row as a confirmation page may show it: the account masked like ``account_no_masked``
    (fixed width, last four digits), the problems by rule."""

    label: str
    bank_name: str
    account_no_masked: str
    owner_nm: str
    reference: str
    errors: tuple[str, ...]

    @property
    def is_valid(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class AccountSource:
    """Attribute paths on a model; ``reference`` defaults to ``"<app_label>.<model>:<pk>"`` and
    ``merchant`` to the bulk run's merchant alias."""

    bank_code: str
    account_no: str
    owner_nm: str
    reference: str | None = None
    merchant: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountSource:
        return cls(
            bank_code=str(data["bank_code"]),
            account_no=str(data["account_no"]),
            owner_nm=str(data["owner_nm"]),
            reference=data.get("reference") or None,
            merchant=data.get("merchant") or None,
        )

    def reference_of(self, row: models.Model) -> str:
        return verification_reference(row, self.reference)

    def read(self, row: models.Model, default_merchant: str = conf.DEFAULT_ALIAS) -> AccountInput:
        merchant = resolve_path(row, self.merchant) if self.merchant else None
        return AccountInput(
            bank_code=resolve_path(row, self.bank_code),
            account_no=resolve_path(row, self.account_no),
            owner_nm=resolve_path(row, self.owner_nm),
            reference=self.reference_of(row),
            merchant=str(merchant) if merchant else default_merchant,
        )

    def preview(self, row: models.Model, default_merchant: str = conf.DEFAULT_ALIAS) -> RowPreview:
        try:
            account = self.read(row, default_merchant)
        except DecryptionError as exc:
            return RowPreview(str(row), "", "", "", "", (f"cannot read the row: {type(exc).__name__}",))
        try:
            checked = account.normalized()
        except InvalidRequest as exc:
            errors = tuple(str(error.message) for error in exc.errors)
            return RowPreview(str(row), "", "", str(account.owner_nm or ""), account.reference, errors)
        return RowPreview(
            label=str(row),
            bank_name=get_bank(checked.bank_code).name,
            account_no_masked=masked_account(last_four(checked.account_no)),
            owner_nm=checked.owner_nm,
            reference=checked.reference,
            errors=(),
        )


def verification_reference(row: models.Model, path: str | None) -> str:
    """The row's reference at ``path``, or ``"<app_label>.<model>:<pk>"`` when no path is given."""
    if path is None:
        return f"{row._meta.label_lower}:{row.pk}"
    value = resolve_path(row, path)
    return "" if value is None else str(value)


def resolve_path(row: object, path: str) -> Any:
    """``row.a.b`` for ``"a__b"``; ``None`` when a step is ``None``; a method at the end is called."""
    value: Any = row
    for name in path.split("__"):
        if not name or name.startswith("_"):
            raise ValueError(f"{path!r} is not an attribute path (private names are not followed).")
        if value is None:
            return None
        value = getattr(value, name)
    if callable(value):
        value = value()
    return value
