"""OpenAPI descriptions of the views, for drf-spectacular (the optional ``openapi`` extra).

Without drf-spectacular installed, :func:`document` leaves a view as it is and the API works the same.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any, TypeVar

from kcp_django.api.serializers import (
    BankSerializer,
    ErrorSerializer,
    VerificationRequestSerializer,
    VerificationSerializer,
)

F = TypeVar("F", bound=Callable[..., Any])

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


def spectacular_installed() -> bool:
    return importlib.util.find_spec("drf_spectacular") is not None


def document(operation: str) -> Callable[[F], F]:
    """The drf-spectacular description of ``operation``, or no change without drf-spectacular."""
    if not spectacular_installed():
        return _unchanged
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.utils import extend_schema

    describe = extend_schema(**_DESCRIPTIONS[operation]())

    def decorate(view: F) -> F:
        # extend_schema builds on the schema class it finds on the view, else on the project's
        # DEFAULT_SCHEMA_CLASS as it is at import time: name drf-spectacular's, whatever the project says.
        view.schema = AutoSchema  # type: ignore[attr-defined]
        return describe(view)

    return decorate


def _unchanged(view: F) -> F:
    return view


def _create() -> dict[str, Any]:
    from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

    error = _error_responses()
    return {
        "operation_id": "kcp_verifications_create",
        "summary": "Verify a refund bank account",
        "description": (
            "Checks through KCP's account certification that `owner_nm` holds `account_no` at `bank_code`. "
            "Answers 201 when the outcome is final (`verified` or `rejected`), 202 when it is `pending` or "
            "`unknown` (poll `Location`). Daily caps per reference, per user and per account number answer "
            "429 with Retry-After, without calling KCP. With an `Idempotency-Key`, a repeat of the same body "
            "replays the first answer; another body with the same key is refused (422)."
        ),
        "request": VerificationRequestSerializer,
        "parameters": [
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                pattern=IDEMPOTENCY_KEY_PATTERN,
                description="Any unique string per logical request (e.g. a UUID); remembered per user for "
                "KCP_API['IDEMPOTENCY_TTL'] seconds.",
            ),
            OpenApiParameter(
                "Location",
                str,
                OpenApiParameter.HEADER,
                required=True,
                response=[201, 202],
                description="Where to read this verification again.",
            ),
            OpenApiParameter(
                "Location",
                str,
                OpenApiParameter.HEADER,
                required=False,
                response=[503],
                description="Where to read this verification again (outcome_not_stored); absent with "
                "configuration_error, which stored nothing.",
            ),
            OpenApiParameter(
                "Idempotent-Replayed",
                str,
                OpenApiParameter.HEADER,
                enum=["true"],
                response=[201, 202],
                description="Present when the answer is the stored first answer to this Idempotency-Key.",
            ),
            _retry_after(required=True, codes=[429, 503]),
        ],
        "responses": {
            201: OpenApiResponse(VerificationSerializer, description="Final outcome: verified or rejected."),
            202: OpenApiResponse(VerificationSerializer, description="Pending or unknown: poll Location."),
            400: error("Invalid fields (each names the field and the rule), or a malformed Idempotency-Key."),
            401: error("Not signed in (with an authentication scheme that answers 401)."),
            403: error("Not signed in, not allowed, or a missing CSRF token with session authentication."),
            409: error(
                "The ordr_idxx is already in use, or the first request with this Idempotency-Key is "
                "still being answered (with Retry-After)."
            ),
            415: error("The body is not JSON."),
            422: error("The Idempotency-Key was first used with another body."),
            429: error("A daily cap or the rate throttle is reached; see Retry-After."),
            503: error(
                "outcome_not_stored: KCP was asked, but the database would not take its answer: the verification "
                "stays pending until it is reconciled; read it at Location after Retry-After. "
                "database_unavailable: the database failed during the request; try again after Retry-After. "
                "configuration_error: the server's KCP settings must be fixed (a test double in real mode, pp_cli "
                "missing); nothing was stored or sent."
            ),
        },
        "tags": ["verifications"],
    }


def _retrieve() -> dict[str, Any]:
    from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

    error = _error_responses()
    return {
        "operation_id": "kcp_verifications_retrieve",
        "summary": "Read a verification",
        "description": "Only the user who asked, or staff with kcp_django.view_accountverification, can read it; "
        "anyone else gets 404.",
        "parameters": [
            OpenApiParameter("public_id", str, OpenApiParameter.PATH, description="The verification's `id`."),
            _retry_after(required=True, codes=[429, 503]),
        ],
        "responses": {
            200: OpenApiResponse(VerificationSerializer, description="The verification as stored now."),
            401: error("Not signed in."),
            403: error("Not signed in, or not allowed."),
            404: error("No such verification, or not yours."),
            429: error("Too many requests; see Retry-After."),
            503: error("database_unavailable: the database failed; try again after Retry-After."),
        },
        "tags": ["verifications"],
    }


def _banks() -> dict[str, Any]:
    from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

    error = _error_responses()
    return {
        "operation_id": "kcp_banks_list",
        "summary": "The banks KCP's account certification accepts",
        "description": "Cacheable: send the ETag back in If-None-Match to get 304 while the table is unchanged.",
        "parameters": [
            OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("ETag", str, OpenApiParameter.HEADER, required=True, response=[200, 304]),
            OpenApiParameter("Cache-Control", str, OpenApiParameter.HEADER, required=True, response=[200, 304]),
            _retry_after(required=True, codes=[429]),
        ],
        "responses": {
            200: OpenApiResponse(BankSerializer(many=True), description="Code, Korean and English name of each bank."),
            304: OpenApiResponse(description="Not modified since the ETag sent in If-None-Match."),
            429: error("Too many requests; see Retry-After."),
        },
        "tags": ["banks"],
    }


def _refund_create() -> dict[str, Any]:
    from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

    from kcp_django.api.refund_serializers import RefundRequestSerializer, RefundSerializer

    error = _error_responses()
    return {
        "operation_id": "kcp_refunds_create",
        "summary": "Refund a payment into a verified account",
        "description": (
            "Staff with `kcp_django.request_refund` only (or KCP_API['REFUND_PERMISSION_CLASSES']). Sends the "
            "refund to KCP once. Answers 201 with a final outcome (`accepted`, `completed` or `rejected`), 202 "
            "when it is `pending` or `unknown` (check KCP's admin and resolve it: it is never sent again by "
            "code), 200 for a repeat of a stored Idempotency-Key (nothing sent). A rule that refuses the refund "
            "answers 409 with the rule's id as `code`; nothing is sent."
        ),
        "request": RefundRequestSerializer,
        "parameters": [
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                pattern=r"^[\x21-\x7e]{1,100}$",
                description="Any unique string per refund (e.g. a UUID), per merchant: a repeat with the same "
                "body answers the stored refund (200) and sends nothing; another body answers 409 "
                "`idempotency_key_reused`.",
            ),
            OpenApiParameter(
                "Location",
                str,
                OpenApiParameter.HEADER,
                required=True,
                response=[200, 201, 202, 503],
                description="Where to read this refund again.",
            ),
            OpenApiParameter(
                "Idempotent-Replayed",
                str,
                OpenApiParameter.HEADER,
                enum=["true"],
                response=[200],
                description="The refund was stored for this Idempotency-Key before this request.",
            ),
            _retry_after(required=True, codes=[503]),
        ],
        "responses": {
            200: OpenApiResponse(RefundSerializer, description="A repeat of a stored Idempotency-Key: nothing sent."),
            201: OpenApiResponse(RefundSerializer, description="Final outcome: accepted, completed or rejected."),
            202: OpenApiResponse(RefundSerializer, description="Pending or unknown: staff resolve it in KCP's admin."),
            400: error("Invalid fields (each names the field and the rule), the Idempotency-Key included."),
            401: error("Not signed in (with an authentication scheme that answers 401)."),
            403: error("Not signed in, not staff, without kcp_django.request_refund, or a missing CSRF token."),
            409: error(
                "Refused by a rule, nothing sent; `code` is the rule: verification_required, account_required, "
                "account_twice, verification_not_verified, verification_purged, verification_other_merchant, "
                "verification_stale, full_refund_exists, partial_refunds_exist, chain_mismatch, "
                "refund_in_progress, idempotency_key_reused."
            ),
            415: error("The body is not JSON."),
            503: error(
                "Nothing sent: `refund_configuration` (the merchant cannot refund; see the server log), "
                "`refund_in_transaction` (the view ran inside a transaction), `database_unavailable`; or "
                "`refund_outcome_not_stored`: KCP was asked but its answer could not be saved, read Location later."
            ),
        },
        "tags": ["refunds"],
    }


def _refund_list() -> dict[str, Any]:
    from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

    from kcp_django.api.refund_serializers import RefundSerializer

    error = _error_responses()
    return {
        "operation_id": "kcp_refunds_list",
        "summary": "The refunds of one payment",
        "description": "Staff with `kcp_django.view_refund` only; oldest first.",
        "parameters": [
            OpenApiParameter("tno", str, OpenApiParameter.QUERY, required=True, pattern=r"^[0-9]{14}$"),
            _retry_after(required=True, codes=[429]),
        ],
        "responses": {
            200: OpenApiResponse(RefundSerializer(many=True), description="Every refund of the payment."),
            400: error("tno is missing or not 14 digits."),
            401: error("Not signed in."),
            403: error("Not signed in, not staff, or without kcp_django.view_refund."),
            429: error("Too many requests; see Retry-After."),
        },
        "tags": ["refunds"],
    }


def _refund_retrieve() -> dict[str, Any]:
    from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

    from kcp_django.api.refund_serializers import RefundSerializer

    error = _error_responses()
    return {
        "operation_id": "kcp_refunds_retrieve",
        "summary": "Read a refund",
        "description": "Staff with `kcp_django.view_refund` only.",
        "parameters": [
            OpenApiParameter("public_id", str, OpenApiParameter.PATH, description="The refund's `id`."),
            _retry_after(required=True, codes=[429]),
        ],
        "responses": {
            200: OpenApiResponse(RefundSerializer, description="The refund as stored now."),
            401: error("Not signed in."),
            403: error("Not signed in, not staff, or without kcp_django.view_refund."),
            404: error("No such refund."),
            429: error("Too many requests; see Retry-After."),
        },
        "tags": ["refunds"],
    }


def _retry_after(*, required: bool, codes: list[int]) -> Any:
    from drf_spectacular.utils import OpenApiParameter

    return OpenApiParameter(
        "Retry-After",
        int,
        OpenApiParameter.HEADER,
        required=required,
        response=codes,
        description="Seconds to wait before trying again.",
    )


def _error_responses() -> Callable[[str], Any]:
    from drf_spectacular.utils import OpenApiResponse

    def error(description: str) -> Any:
        return OpenApiResponse(ErrorSerializer, description=description)

    return error


_DESCRIPTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "create": _create,
    "retrieve": _retrieve,
    "banks": _banks,
    "refund_create": _refund_create,
    "refund_list": _refund_list,
    "refund_retrieve": _refund_retrieve,
}
