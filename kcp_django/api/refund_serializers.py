"""What the refund endpoints read and write. The refund's rules live in :mod:`kcp_django.refunds`."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from django.views.decorators.debug import sensitive_variables
from rest_framework import serializers
from rest_framework.fields import empty

from kcp_django import conf
from kcp_django.api.errors import field_errors
from kcp_django.catalogue import field_error as _error
from kcp_django.exceptions import FieldError, InvalidRequest
from kcp_django.models import AccountVerification, Refund
from kcp_django.refund_kinds import REFUND_KINDS
from kcp_django.refunds.inputs import normalize_refund
from kcp_django.serialization import refund_as_dict

__all__ = [
    "HIDDEN_FIELDS",
    "REFERENCE_MAX_LENGTH",
    "RawBooleanField",
    "RawCharField",
    "RawChoiceField",
    "RawIntegerField",
    "RawUUIDField",
    "RefundRequestSerializer",
    "RefundSerializer",
    "check_tno",
]

REFERENCE_MAX_LENGTH = 100
#: Fields of the answer that the API leaves out: the holder's name stays with the row.
HIDDEN_FIELDS = frozenset({"owner_nm"})


class _Raw:
    """Hands the value over untouched (``None`` when absent): the refund's own rules check it and name
    every broken one at once. Types, choices and lengths given to these fields only describe the rules
    in the schema."""

    def run_validation(self, data: Any = empty) -> Any:
        return None if data is empty else data

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return copy.copy(self)


class RawCharField(_Raw, serializers.CharField):
    pass


class RawChoiceField(_Raw, serializers.ChoiceField):
    pass


class RawIntegerField(_Raw, serializers.IntegerField):
    pass


class RawBooleanField(_Raw, serializers.BooleanField):
    pass


class RawUUIDField(_Raw, serializers.UUIDField):
    pass


class RefundRequestSerializer(serializers.Serializer[Any]):
    """A refund to send. Every broken rule is reported at once, naming the field and the rule.

    A direct ``vbank-refund`` carries an account number and a holder's name: the methods that hold
    them show no variables in a crash report (nor do the fields' validations they call)."""

    kind = RawChoiceField(
        choices=list(REFUND_KINDS),
        help_text="escrow-cancel (before confirmation; STE2, or STE4 with after_shipping), escrow-refund "
        "(after the buyer confirmed; STE9) or vbank-refund (virtual account; KCP checks the account too).",
    )
    tno = RawCharField(help_text="KCP's 14-digit number of the payment to refund.")
    verification = RawUUIDField(
        required=False,
        allow_null=True,
        help_text="The `id` of a VERIFIED verification whose account is paid. Required except for vbank-refund.",
    )
    bank_code = RawCharField(required=False, allow_null=True, help_text="vbank-refund only, without verification.")
    account_no = RawCharField(
        required=False, allow_null=True, help_text="vbank-refund only, without verification: at most 20 digits."
    )
    owner_nm = RawCharField(required=False, allow_null=True, help_text="vbank-refund only, without verification.")
    after_shipping = RawBooleanField(required=False, help_text="escrow-cancel after shipping (STE4).")
    amount = RawIntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=9_999_999_999,
        help_text="vbank-refund partial refund: won to refund (with remaining). Absent: the whole payment.",
    )
    remaining = RawIntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=9_999_999_999,
        help_text="With amount: won left on the payment before this refund (the last partial refund's "
        "remaining minus its amount).",
    )
    reason = RawCharField(
        required=False, allow_blank=True, help_text="Sent to KCP as mod_desc: at most 100 bytes in EUC-KR."
    )
    reference = RawCharField(
        required=False, allow_blank=True, max_length=REFERENCE_MAX_LENGTH, help_text="The shop's own id, kept."
    )
    merchant = RawCharField(
        required=False,
        allow_null=True,
        help_text="Alias in KCP_MERCHANTS; default: the verification's, else KCP_API['MERCHANT'].",
    )

    @sensitive_variables()
    def run_validation(self, data: Any = empty) -> Any:
        return super().run_validation(data)

    @sensitive_variables()
    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise field_errors([_error("non_field_errors", "not_an_object")])
        return super().to_internal_value(data)

    @sensitive_variables()
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: list[FieldError] = []
        try:
            normalize_refund(
                kind=attrs.get("kind"),
                tno=attrs.get("tno"),
                amount=attrs.get("amount"),
                remaining=attrs.get("remaining"),
                reason=attrs.get("reason") if attrs.get("reason") is not None else "",
            )
        except InvalidRequest as exc:
            errors.extend(exc.errors)
        verification = _verification(attrs.get("verification"), errors)
        after_shipping = attrs.get("after_shipping")
        if after_shipping is None:
            after_shipping = False
        elif not isinstance(after_shipping, bool):
            errors.append(_error("after_shipping", "type"))
        reference = attrs.get("reference")
        if reference is None:
            reference = ""
        elif not isinstance(reference, str):
            errors.append(_error("reference", "type"))
        elif len(reference) > REFERENCE_MAX_LENGTH:
            errors.append(_error("reference", "max_length", length=len(reference)))
        merchant = attrs.get("merchant")
        if merchant is not None and (
            not isinstance(merchant, str) or merchant not in {m.alias for m in conf.all_merchants()}
        ):
            errors.append(_error("merchant", "choice"))
        if errors:
            raise field_errors(errors)
        return {
            "kind": attrs.get("kind"),
            "tno": attrs.get("tno"),
            "verification": verification,
            "bank_code": attrs.get("bank_code"),
            "account_no": attrs.get("account_no"),
            "owner_nm": attrs.get("owner_nm"),
            "after_shipping": after_shipping,
            "amount": attrs.get("amount"),
            "remaining": attrs.get("remaining"),
            "reason": attrs.get("reason") or "",
            "reference": reference,
            "merchant": merchant,
        }


def _verification(value: Any, errors: list[FieldError]) -> AccountVerification | None:
    if value is None or value == "":
        return None
    try:
        wanted = uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        wanted = None
    if wanted is None:
        errors.append(_error("verification", "format"))
        return None
    row = AccountVerification.objects.filter(public_id=wanted).first()
    if row is None:
        errors.append(_error("verification", "not_found"))
    return row


def check_tno(value: Any) -> str:
    """``?tno=`` of the list: 14 digits, else a 400 naming ``tno`` and the rule (the refund's own rule)."""
    try:
        return normalize_refund(kind=REFUND_KINDS[0], tno=value or "").tno
    except InvalidRequest as exc:
        raise field_errors([error for error in exc.errors if error.field == "tno"]) from None


class RefundSerializer(serializers.Serializer[Refund]):
    """A refund as stored: never the full account number, the holder's name or KCP's raw answer.

    The row read holds the holder's name: a crash report shows no variable of the representation."""

    id = serializers.UUIDField(read_only=True)
    status = serializers.CharField(
        read_only=True, help_text="pending, accepted, completed, rejected or unknown (lower case)."
    )
    kind = serializers.ChoiceField(choices=list(REFUND_KINDS), read_only=True)
    tno = serializers.CharField(read_only=True, help_text="KCP's number of the refunded payment.")
    ordr_idxx = serializers.CharField(read_only=True, help_text="The order number the refund was sent to KCP with.")
    mod_type = serializers.CharField(read_only=True, help_text="KCP's mod_type: STE2, STE4, STE9, STHD or STPD.")
    res_cd = serializers.CharField(read_only=True, help_text="KCP's result code; empty while pending or unknown.")
    res_msg = serializers.CharField(read_only=True, help_text="KCP's result message.")
    app_time = serializers.DateTimeField(read_only=True, allow_null=True)
    amount = serializers.IntegerField(read_only=True, allow_null=True, help_text="Null for a full refund.")
    remaining = serializers.IntegerField(read_only=True, allow_null=True)
    bank_code = serializers.CharField(read_only=True)
    bank_name = serializers.CharField(read_only=True)
    account_no_masked = serializers.CharField(read_only=True, help_text="Only the last four digits are shown.")
    verification = serializers.UUIDField(read_only=True, allow_null=True, help_text="The verification paid into.")
    reference = serializers.CharField(read_only=True)
    merchant = serializers.CharField(read_only=True)
    failure_reason = serializers.CharField(read_only=True, help_text="Why the outcome is not known, or not sent.")
    needs_review = serializers.BooleanField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    completed_at = serializers.DateTimeField(read_only=True, allow_null=True)

    @sensitive_variables()
    def to_representation(self, row: Refund) -> dict[str, Any]:
        return {key: value for key, value in refund_as_dict(row).items() if key not in HIDDEN_FIELDS}
