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

    from kcp_django.api.idempotency import IDEMPOTENCY_KEY_MAX_LENGTH

    return _operation(
        "kcp_verifications_create",
        "Verify a refund bank account",
        (
            "Checks through KCP's account certification that `owner_nm` holds `account_no` at `bank_code`. "
            "Answers 201 when the outcome is final (`verified` or `rejected`), 202 when it is `pending` or "
            "`unknown` (poll `Location`). Daily caps per reference, per user and per account number answer "
            "429 with Retry-After, without calling KCP. With an `Idempotency-Key`, a repeat of the same body "
            "replays the first answer; another body with the same key is refused (422)."
        ),
        request=VerificationRequestSerializer,
        parameters=[
            _idempotency_key(
                IDEMPOTENCY_KEY_MAX_LENGTH,
                "Any unique string per logical request (e.g. a UUID); remembered per user for "
                "KCP_API['IDEMPOTENCY_TTL'] seconds.",
            ),
            _location([201, 202], "Where to read this verification again."),
            OpenApiParameter(
                "Location",
                str,
                OpenApiParameter.HEADER,
                required=False,
                response=[503],
                description="Where to read this verification again (outcome_not_stored); absent with "
                "configuration_error, which stored nothing.",
            ),
            _replayed([201, 202], "Present when the answer is the stored first answer to this Idempotency-Key."),
            _retry_after(required=True, codes=[429, 503]),
        ],
        responses={
            201: OpenApiResponse(VerificationSerializer, description="Final outcome: verified or rejected."),
            202: OpenApiResponse(VerificationSerializer, description="Pending or unknown: poll Location."),
            **_sending_errors("not allowed"),
            409: _error(
                "The ordr_idxx is already in use, or the first request with this Idempotency-Key is "
                "still being answered (with Retry-After)."
            ),
            422: _error("The Idempotency-Key was first used with another body."),
            429: _error("A daily cap or the rate throttle is reached; see Retry-After."),
            503: _error(
                "outcome_not_stored: KCP was asked, but the database would not take its answer: the verification "
                "stays pending until it is reconciled; read it at Location after Retry-After. "
                "database_unavailable: the database failed during the request; try again after Retry-After. "
                "configuration_error: the server's KCP settings must be fixed (a test double in real mode, pp_cli "
                "missing); nothing was stored or sent."
            ),
        },
    )


def _retrieve() -> dict[str, Any]:
    return _reading(
        "kcp_verifications_retrieve",
        "Read a verification",
        "Only the user who asked, or staff with kcp_django.view_accountverification, can read it; anyone else "
        "gets 404.",
        VerificationSerializer,
        "verification",
        errors={
            403: "Not signed in, or not allowed.",
            404: "No such verification, or not yours.",
            503: "database_unavailable: the database failed; try again after Retry-After.",
        },
        retry_codes=[429, 503],
    )


def _banks() -> dict[str, Any]:
    from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

    return _operation(
        "kcp_banks_list",
        "The banks KCP's account certification accepts",
        "Cacheable: send the ETag back in If-None-Match to get 304 while the table is unchanged.",
        parameters=[
            OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("ETag", str, OpenApiParameter.HEADER, required=True, response=[200, 304]),
            OpenApiParameter("Cache-Control", str, OpenApiParameter.HEADER, required=True, response=[200, 304]),
            _retry_after(required=True, codes=[429]),
        ],
        responses={
            200: OpenApiResponse(BankSerializer(many=True), description="Code, Korean and English name of each bank."),
            304: OpenApiResponse(description="Not modified since the ETag sent in If-None-Match."),
            429: _error("Too many requests; see Retry-After."),
        },
    )


def _refund_create() -> dict[str, Any]:
    from drf_spectacular.utils import OpenApiResponse

    from kcp_django.api.refund_serializers import RefundRequestSerializer, RefundSerializer
    from kcp_django.exceptions import REFUND_RULES
    from kcp_django.refunds.inputs import IDEMPOTENCY_KEY_MAX_LENGTH

    return _operation(
        "kcp_refunds_create",
        "Refund a payment into a verified account",
        (
            "Staff with `kcp_django.request_refund` only (or KCP_API['REFUND_PERMISSION_CLASSES']). Sends the "
            "refund to KCP once. Answers 201 with a final outcome (`accepted`, `completed` or `rejected`), 202 "
            "when it is `pending` or `unknown` (check KCP's admin and resolve it: it is never sent again by "
            "code), 200 for a repeat of a stored Idempotency-Key (nothing sent). A rule that refuses the refund "
            "answers 409 with the rule's id as `code`; nothing is sent."
        ),
        request=RefundRequestSerializer,
        parameters=[
            _idempotency_key(
                IDEMPOTENCY_KEY_MAX_LENGTH,
                "Any unique string per refund (e.g. a UUID), per merchant: a repeat with the same "
                "body answers the stored refund (200) and sends nothing; another body answers 409 "
                "`idempotency_key_reused`.",
            ),
            _location([200, 201, 202, 503], "Where to read this refund again."),
            _replayed([200], "The refund was stored for this Idempotency-Key before this request."),
            _retry_after(required=True, codes=[503]),
        ],
        responses={
            200: OpenApiResponse(RefundSerializer, description="A repeat of a stored Idempotency-Key: nothing sent."),
            201: OpenApiResponse(RefundSerializer, description="Final outcome: accepted, completed or rejected."),
            202: OpenApiResponse(RefundSerializer, description="Pending or unknown: staff resolve it in KCP's admin."),
            **_sending_errors("not staff, without kcp_django.request_refund"),
            409: _error(f"Refused by a rule, nothing sent; `code` is the rule: {', '.join(REFUND_RULES)}."),
            503: _error(
                "Nothing sent: `refund_configuration` (the merchant cannot refund; see the server log), "
                "`refund_in_transaction` (the view ran inside a transaction), `database_unavailable`; or "
                "`refund_outcome_not_stored`: KCP was asked but its answer could not be saved, read Location later."
            ),
        },
    )


def _refund_list() -> dict[str, Any]:
    from drf_spectacular.utils import OpenApiParameter

    from kcp_django.api.refund_serializers import RefundSerializer

    described = _reading(
        "kcp_refunds_list",
        "The refunds of one payment",
        "Staff with `kcp_django.view_refund` only; oldest first.",
        RefundSerializer(many=True),
        "refunds",
        errors={400: "tno is missing or not 14 digits.", 403: _REFUND_READERS},
        path_parameter=False,
    )
    described["parameters"].insert(
        0, OpenApiParameter("tno", str, OpenApiParameter.QUERY, required=True, pattern=r"^[0-9]{14}$")
    )
    described["responses"][200].description = "Every refund of the payment."
    return described


def _refund_retrieve() -> dict[str, Any]:
    from kcp_django.api.refund_serializers import RefundSerializer

    return _reading(
        "kcp_refunds_retrieve",
        "Read a refund",
        "Staff with `kcp_django.view_refund` only.",
        RefundSerializer,
        "refund",
        errors={403: _REFUND_READERS, 404: "No such refund."},
    )


_REFUND_READERS = "Not signed in, not staff, or without kcp_django.view_refund."


def _reading(
    operation_id: str,
    summary: str,
    description: str,
    serializer: Any,
    noun: str,
    *,
    errors: dict[int, str],
    retry_codes: list[int] | None = None,
    path_parameter: bool = True,
) -> dict[str, Any]:
    """A GET of stored rows: the answer, who may not read them, and the rate throttle's 429."""
    from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

    parameters = [_retry_after(required=True, codes=retry_codes or [429])]
    if path_parameter:
        parameters.insert(
            0, OpenApiParameter("public_id", str, OpenApiParameter.PATH, description=f"The {noun}'s `id`.")
        )
    responses = {
        200: OpenApiResponse(serializer, description=f"The {noun} as stored now."),
        401: _error("Not signed in."),
    }
    responses.update({status: _error(text) for status, text in errors.items()})
    responses[429] = _error("Too many requests; see Retry-After.")
    return _operation(
        operation_id, summary, description, parameters=parameters, responses=dict(sorted(responses.items()))
    )


def _operation(
    operation_id: str,
    summary: str,
    description: str,
    *,
    parameters: list[Any],
    responses: dict[int, Any],
    request: Any = None,
) -> dict[str, Any]:
    """One operation's description; its tag is the resource its id names (``kcp_<tag>_<action>``)."""
    described = {
        "operation_id": operation_id,
        "summary": summary,
        "description": description,
        "parameters": parameters,
        "responses": responses,
        "tags": [operation_id.split("_")[1]],
    }
    if request is not None:
        described["request"] = request
    return described


def _sending_errors(who: str) -> dict[int, Any]:
    """What a POST answers before anything is sent: bad fields, no sign-in, not allowed, not JSON."""
    return {
        400: _error("Invalid fields (each names the field and the rule), or a malformed Idempotency-Key."),
        401: _error("Not signed in (with an authentication scheme that answers 401)."),
        403: _error(f"Not signed in, {who}, or a missing CSRF token with session authentication."),
        415: _error("The body is not JSON."),
    }


def _idempotency_key(max_length: int, description: str) -> Any:
    """The ``Idempotency-Key`` header: printable ASCII without spaces, up to the endpoint's limit."""
    from drf_spectacular.utils import OpenApiParameter

    return OpenApiParameter(
        "Idempotency-Key",
        str,
        OpenApiParameter.HEADER,
        required=False,
        pattern=rf"^[\x21-\x7e]{{1,{max_length}}}$",
        description=description,
    )


def _location(codes: list[int], description: str) -> Any:
    from drf_spectacular.utils import OpenApiParameter

    return OpenApiParameter(
        "Location", str, OpenApiParameter.HEADER, required=True, response=codes, description=description
    )


def _replayed(codes: list[int], description: str) -> Any:
    from drf_spectacular.utils import OpenApiParameter

    return OpenApiParameter(
        "Idempotent-Replayed", str, OpenApiParameter.HEADER, enum=["true"], response=codes, description=description
    )


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


def _error(description: str) -> Any:
    """An answer in the API's error shape (:class:`ErrorSerializer`)."""
    from drf_spectacular.utils import OpenApiResponse

    return OpenApiResponse(ErrorSerializer, description=description)


_DESCRIPTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "create": _create,
    "retrieve": _retrieve,
    "banks": _banks,
    "refund_create": _refund_create,
    "refund_list": _refund_list,
    "refund_retrieve": _refund_retrieve,
}
