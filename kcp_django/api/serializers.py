"""What the API reads and writes. Input rules live in :mod:`kcp_django.validation`, not here."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from rest_framework import serializers
from rest_framework.fields import empty

from kcp_django.api.errors import field_errors
from kcp_django.banks import BANKS, MERGED_BANK_CODES, Bank
from kcp_django.exceptions import FieldError, InvalidRequest
from kcp_django.models import AccountVerification, VerificationState
from kcp_django.timezones import KST
from kcp_django.validation import REFERENCE_MAX_LENGTH, NormalizedInput, normalize

__all__ = [
    "BODY_NOT_AN_OBJECT",
    "FIELDS",
    "OTHER_REJECTION",
    "REFERENCE_REQUIRED",
    "REJECTION_CATEGORIES",
    "REJECTION_DETAIL",
    "SHOW_RESULT_CODE",
    "STATE_MESSAGES",
    "BankSerializer",
    "ErrorSerializer",
    "FieldErrorSerializer",
    "KstDateTimeField",
    "PassThroughChoiceField",
    "PassThroughField",
    "RejectionReasonField",
    "StatusField",
    "VerificationRequestSerializer",
    "VerificationSerializer",
    "as_kst",
    "rejection_category",
]

FIELDS = ("bank_code", "account_no", "owner_nm", "reference", "ordr_idxx")

STATE_MESSAGES = {
    VerificationState.PENDING: _("The request was sent to KCP and is waiting for an answer; ask again shortly."),
    VerificationState.VERIFIED: _("The account holder and the account number match: the account is verified."),
    VerificationState.REJECTED: _(
        "The account could not be verified; check the bank, the account number and the holder's name."
    ),
    VerificationState.UNKNOWN: _("KCP gave no answer, so the outcome is not known yet; ask again later."),
}
REFERENCE_REQUIRED = _("reference (shop reference) is required.")
BODY_NOT_AN_OBJECT = _(
    "The request body must be a JSON object with the fields bank_code, account_no, owner_nm and reference."
)


class _PassThrough:
    """Hands the value over untouched (``None`` when absent), so that :func:`~kcp_django.validation.normalize`
    applies every rule and names it. Lengths, patterns and choices given to these fields only describe
    the rules in the schema: DRF never checks them."""

    def run_validation(self, data: Any = empty) -> Any:
        return None if data is empty else data

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # DRF makes every declared field again for each serializer; these fields hold nothing that
        # changes (the bank table's choices, the schema's validators), so a shallow copy, ready to
        # be bound, does, without building the bank table and the validators on every request.
        return copy.copy(self)


def _bank_code_choices() -> list[tuple[str, str]]:
    choices = [(code, f"{bank.name_ko} ({bank.name_en})") for code, bank in BANKS.items()]
    choices += [(old, f"old code of {BANKS[new].name_en}, stored as {new}") for old, new in MERGED_BANK_CODES.items()]
    return sorted(choices)


class PassThroughField(_PassThrough, serializers.CharField):
    pass


class PassThroughChoiceField(_PassThrough, serializers.ChoiceField):
    pass


class VerificationRequestSerializer(serializers.Serializer[Any]):
    """The account to verify. Every broken rule is reported at once, naming the field and the rule."""

    # validated_data: {"submitted": {field: value as sent}, "normalized": NormalizedInput, "ordr_idxx_given": bool}

    bank_code = PassThroughChoiceField(
        choices=_bank_code_choices(),
        help_text="KCP bank code, e.g. '04' (KB Kookmin Bank); see banks/. Old codes of merged banks are "
        "accepted and stored as the current bank's code.",
    )
    account_no = PassThroughField(
        validators=[RegexValidator(r"^[ -]*(?:[0-9][ -]*){1,20}$")],
        help_text="Account number: at most 20 digits; spaces and hyphens are removed.",
    )
    owner_nm = PassThroughField(
        max_length=20,
        help_text="Account holder name (예금주명): at most 20 bytes in EUC-KR (a Hangul syllable is 2), "
        "none of , & ; \\ | ' \" < > or control characters.",
    )
    reference = PassThroughField(
        max_length=REFERENCE_MAX_LENGTH,
        validators=[RegexValidator(r"\S")],
        help_text="The shop's own id for this refund (e.g. the refund's number): at most 100 characters.",
    )
    ordr_idxx = PassThroughField(
        required=False,
        allow_null=True,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]{1,40}$")],
        help_text="Optional order number sent to KCP; generated when absent.",
    )

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise field_errors([FieldError("non_field_errors", "not_an_object", BODY_NOT_AN_OBJECT)])
        # Every field hands its value over as sent (None when absent), so the values are read here
        # directly: DRF would otherwise copy and bind the five fields again for every request.
        return {name: data.get(name) for name in FIELDS}

    def run_validators(self, value: Any) -> None:
        """None to run: the serializer has no validators of its own, and :meth:`validate` applies every
        rule. (DRF's would build the bound fields to look for read-only defaults there are none of.)"""

    @sensitive_variables()
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        submitted = {name: attrs.get(name) for name in FIELDS}
        errors: list[FieldError] = []
        normalized: NormalizedInput | None = None
        try:
            normalized = normalize(**submitted)
        except InvalidRequest as exc:
            errors.extend(exc.errors)
        reference = submitted["reference"]
        if reference is None or (isinstance(reference, str) and not reference.strip()):
            errors.append(FieldError("reference", "required", REFERENCE_REQUIRED))
        if errors or normalized is None:
            raise field_errors(errors)
        return {
            "submitted": submitted,
            "normalized": normalized,
            "ordr_idxx_given": isinstance(submitted["ordr_idxx"], str) and bool(submitted["ordr_idxx"].strip()),
        }


class StatusField(serializers.ChoiceField):
    """The state, lower-case: ``pending``, ``verified``, ``rejected`` or ``unknown``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=[state.lower() for state in VerificationState.values], **kwargs)

    def to_representation(self, value: Any) -> str:
        return str(value).lower()


#: The coarse reason a rejection may show (``KCP_API["REJECTION_DETAIL"] = "category"``), from ``res_cd``.
#: KCP publishes no code list for account certification: these are the codes known (the sandbox's
#: too); any other rejection is ``other``.
REJECTION_CATEGORIES = {
    "8104": "holder_mismatch",  # the holder's name does not match the account
    "8105": "account_invalid",  # no such account, or closed
}
OTHER_REJECTION = "other"
#: ``VerificationSerializer(row, context={...})``: whether the caller may see KCP's own answer
#: (``res_cd``, ``res_msg``: staff only) and how much of a rejection anyone else learns.
SHOW_RESULT_CODE = "show_result_code"
REJECTION_DETAIL = "rejection_detail"


def rejection_category(row: AccountVerification) -> str | None:
    """``holder_mismatch``, ``account_invalid`` or ``other`` for a rejected row; ``None`` otherwise."""
    if row.state != VerificationState.REJECTED:
        return None
    return REJECTION_CATEGORIES.get(row.res_cd, OTHER_REJECTION)


def as_kst(value: dt.datetime | None) -> str | None:
    """ISO 8601 in KST (+09:00), KCP's own time, as ``kcp_verify`` prints it, whatever ``TIME_ZONE`` is."""
    return None if value is None else value.astimezone(KST).isoformat()


class KstDateTimeField(serializers.DateTimeField):
    """A timestamp in KST (+09:00), whatever the project's ``TIME_ZONE``."""

    def to_representation(self, value: Any) -> Any:
        return as_kst(value)


class RejectionReasonField(serializers.ChoiceField):
    """The reason of a rejection, coarse; ``null`` unless the status is ``rejected``."""

    def __init__(self, **kwargs: Any) -> None:
        choices = sorted({*REJECTION_CATEGORIES.values(), OTHER_REJECTION})
        super().__init__(choices=choices, source="*", allow_null=True, **kwargs)

    def to_representation(self, value: Any) -> Any:
        return rejection_category(value)


class VerificationSerializer(serializers.Serializer[AccountVerification]):
    """A verification: never the full account number, the holder's name or KCP's raw answer.

    A rejection reads the same to a customer whatever KCP's reason: telling "no such account" from
    "another holder" would let one attempt learn whether an account exists. Staff (and the admin)
    see KCP's ``res_cd`` and ``res_msg``; ``reason`` is there when ``KCP_API["REJECTION_DETAIL"]``
    is ``"category"`` (and always for staff).
    """

    id = serializers.UUIDField(source="public_id", read_only=True)
    status = StatusField(source="state", read_only=True)
    message = serializers.SerializerMethodField(help_text="What the status means, in the request's language.")
    # Not required: present only for some callers (a response-only serializer: never read from input).
    reason = RejectionReasonField(
        required=False,
        help_text="Rejected only, and only when KCP_API['REJECTION_DETAIL'] is 'category' (or for staff): "
        "holder_mismatch, account_invalid or other; null for other statuses.",
    )
    res_cd = serializers.CharField(
        required=False, help_text="Staff only: KCP's result code; empty while pending or unknown."
    )
    res_msg = serializers.CharField(required=False, help_text="Staff only: KCP's result message.")
    tno = serializers.CharField(
        read_only=True, help_text="KCP's transaction number, when verified (empty on a rejection, for non-staff)."
    )
    app_time = KstDateTimeField(
        read_only=True, allow_null=True, help_text="When KCP certified the account, in KST (+09:00)."
    )
    bank_code = serializers.CharField(read_only=True)
    bank_name = serializers.SerializerMethodField()
    account_no_masked = serializers.CharField(read_only=True, help_text="Only the last four digits are shown.")
    reference = serializers.CharField(read_only=True)
    created_at = KstDateTimeField(read_only=True, help_text="In KST (+09:00).")

    def to_representation(self, row: AccountVerification) -> dict[str, Any]:
        # Written out rather than through the declared fields, which DRF copies for every instance;
        # the declared fields describe this answer in the schema, and the tests keep the two equal.
        staff = bool(self.context.get(SHOW_RESULT_CODE, False))
        public_rejection = not staff and row.state == VerificationState.REJECTED
        answer: dict[str, Any] = {
            "id": str(row.public_id),
            "status": str(row.state).lower(),
            "message": self.get_message(row),
        }
        if staff or self.context.get(REJECTION_DETAIL) == "category":
            answer["reason"] = rejection_category(row)
        if staff:
            answer["res_cd"] = row.res_cd
            answer["res_msg"] = row.res_msg
        answer.update(
            {
                # Whatever KCP sent with a rejection is the same to a customer: nothing.
                "tno": "" if public_rejection else row.tno,
                "app_time": None if public_rejection else as_kst(row.app_time),
                "bank_code": row.bank_code,
                "bank_name": self.get_bank_name(row),
                "account_no_masked": row.account_no_masked,
                "reference": row.reference,
                "created_at": as_kst(row.created_at),
            }
        )
        return answer

    def get_message(self, row: AccountVerification) -> str:
        return str(STATE_MESSAGES[VerificationState(row.state)])

    def get_bank_name(self, row: AccountVerification) -> str:
        bank = row.bank
        return bank.name if bank else ""


class BankSerializer(serializers.Serializer[Bank]):
    code = serializers.CharField(read_only=True)
    name_ko = serializers.CharField(read_only=True)
    name_en = serializers.CharField(read_only=True)


class FieldErrorSerializer(serializers.Serializer[Any]):
    rule = serializers.CharField(help_text="Stable id of the broken rule, e.g. 'forbidden_character'.")
    message = serializers.CharField(help_text="Names the field and the rule, in the request's language.")


class ErrorSerializer(serializers.Serializer[Any]):
    """Every error answer has this shape."""

    # Documentation only: kcp_django.api.errors builds the answers.

    code = serializers.CharField(help_text="Stable id, e.g. 'invalid', 'limit_exceeded', 'not_found'.")
    message = serializers.CharField(help_text="In the request's language (Korean by default).")

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # Added here, not declared: a declared "errors" would hide Serializer.errors.
        fields = super().get_fields()
        fields["errors"] = serializers.DictField(
            child=FieldErrorSerializer(many=True),
            required=False,
            help_text="400 only: the broken rules of each field.",
        )
        fields["refund"] = serializers.UUIDField(
            required=False,
            help_text="409 earlier_refund_unknown only: the id of the earlier refund staff must resolve first.",
        )
        return fields
