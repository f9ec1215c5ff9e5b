"""Every error the API answers, in one shape: ``{"code", "message", "errors"?}``.

``code`` is stable and machine-readable; ``message`` is in the request's language; ``errors``
(400 only) maps each field to the rules it broke: ``{"owner_nm": [{"rule": ..., "message": ...}]}``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from kcp_django.exceptions import FieldError

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

__all__ = [
    "CSRF_FAILED_PREFIX",
    "DATABASE_RETRY_AFTER",
    "MESSAGES",
    "NON_FIELD_ERRORS",
    "ApiError",
    "ConfigurationError",
    "DatabaseUnavailable",
    "DuplicateOrder",
    "IdempotencyKeyInProgress",
    "IdempotencyKeyNeedsUser",
    "IdempotencyKeyReused",
    "InvalidIdempotencyKey",
    "LimitExceeded",
    "OutcomeNotStored",
    "ReferenceNotAllowed",
    "exception_handler",
    "field_errors",
]

logger = logging.getLogger("kcp_django.api")

MESSAGES: dict[str, StrPromise] = {
    "invalid": _("Some fields are not valid; see errors."),
    "parse_error": _("The request body could not be read; send a JSON object."),
    "not_authenticated": _("Sign in to use this API."),
    "authentication_failed": _("The credentials are not valid."),
    "permission_denied": _("You are not allowed to do this."),
    "csrf_failed": _("The CSRF token is missing or wrong; send it in the X-CSRFToken header."),
    "not_found": _("Not found."),
    "method_not_allowed": _("This method is not allowed here."),
    "not_acceptable": _("The API answers in JSON only."),
    "unsupported_media_type": _("Send the request body as JSON (Content-Type: application/json)."),
    "throttled": _("Too many requests; wait a moment and try again."),
    "limit_exceeded": _("Too many verification attempts; try again later."),
    "reference_not_allowed": _(
        "reference (shop reference) is not one you may use; verify the account from your own order's refund page."
    ),
    "duplicate_order": _("This ordr_idxx (order number) is already in use; send another one or leave it out."),
    "idempotency_key_invalid": _("Idempotency-Key must be 1 to 255 visible ASCII characters."),
    "idempotency_key_needs_user": _("Idempotency-Key can only be used by a signed-in user."),
    "idempotency_key_reused": _("This Idempotency-Key was already used with a different request body."),
    "idempotency_key_in_progress": _(
        "The first request with this Idempotency-Key is still being answered; try again shortly."
    ),
    "outcome_not_stored": _(
        "KCP was asked, but its answer could not be saved yet; read the verification at Location later."
    ),
    "database_unavailable": _("The database is busy or unavailable; try again shortly (see Retry-After)."),
    "configuration_error": _(
        "Account verification is unavailable: the server's KCP settings need fixing. Nothing was stored or sent; "
        "try again later."
    ),
}
NON_FIELD_ERRORS = "non_field_errors"
#: Seconds a client is told to wait after a database failure (``Retry-After``).
DATABASE_RETRY_AFTER = 5
#: How DRF's SessionAuthentication words a CSRF refusal (a PermissionDenied like any other).
CSRF_FAILED_PREFIX = "CSRF Failed"


class ApiError(exceptions.APIException):
    """An error of this API: a subclass names its ``code`` and HTTP status, and its message is the
    code's in :data:`MESSAGES` (a code without one fails at import, not in an answer)."""

    def __init_subclass__(cls, *, code: str, status_code: int, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.status_code = status_code
        cls.default_code = code
        cls.default_detail = MESSAGES[code]


class LimitExceeded(ApiError, code="limit_exceeded", status_code=status.HTTP_429_TOO_MANY_REQUESTS):
    """A daily cap on verification attempts is used up (which one is not said: that would leak)."""

    def __init__(self, wait: int) -> None:
        super().__init__()
        self.wait = wait  # DRF's handler turns this into Retry-After


class ReferenceNotAllowed(ApiError, code="reference_not_allowed", status_code=status.HTTP_403_FORBIDDEN):
    """``KCP_API["REFERENCE_OWNER_CHECK"]`` said the caller may not use the reference."""


class DuplicateOrder(ApiError, code="duplicate_order", status_code=status.HTTP_409_CONFLICT):
    """The ``ordr_idxx`` (order number) is already in use for another request."""


class InvalidIdempotencyKey(ApiError, code="idempotency_key_invalid", status_code=status.HTTP_400_BAD_REQUEST):
    """The ``Idempotency-Key`` header is malformed (see its message for the allowed form)."""


class IdempotencyKeyNeedsUser(ApiError, code="idempotency_key_needs_user", status_code=status.HTTP_400_BAD_REQUEST):
    """An ``Idempotency-Key`` from a caller who is not signed in: keys are remembered per user."""


class IdempotencyKeyReused(ApiError, code="idempotency_key_reused", status_code=status.HTTP_422_UNPROCESSABLE_ENTITY):
    """The ``Idempotency-Key`` was first used with another body."""


class IdempotencyKeyInProgress(ApiError, code="idempotency_key_in_progress", status_code=status.HTTP_409_CONFLICT):
    """The first request with this ``Idempotency-Key`` is still being answered."""

    wait = 1  # DRF's handler turns this into Retry-After


class OutcomeNotStored(ApiError, code="outcome_not_stored", status_code=status.HTTP_503_SERVICE_UNAVAILABLE):
    """The gateway was called but the database took neither its answer nor a read: poll ``Location``."""

    wait = 30  # DRF's handler turns this into Retry-After

    def __init__(self, location: str) -> None:
        super().__init__()
        self.location = location


class DatabaseUnavailable(ApiError, code="database_unavailable", status_code=status.HTTP_503_SERVICE_UNAVAILABLE):
    """The database failed during the request (a lock, a lost connection): try again after ``Retry-After``.

    With an ``Idempotency-Key`` a retry is always safe: a claim already taken answers from its row."""

    wait = DATABASE_RETRY_AFTER


class ConfigurationError(ApiError, code="configuration_error", status_code=status.HTTP_503_SERVICE_UNAVAILABLE):
    """The merchant's gateway must not or cannot be used (a test double in real mode, pp_cli missing):
    refused before anything was stored or sent. The cause is in the server's log, not in the answer.

    No ``Retry-After``: the refusal lasts until someone fixes the settings, and waiting a given time
    would only invite the same request again. It counts against no daily cap."""


def field_errors(errors: list[FieldError]) -> exceptions.ValidationError:
    """A 400 naming each field and rule, messages rendered now in the active language."""
    detail: dict[str, list[exceptions.ErrorDetail]] = {}
    for error in errors:
        detail.setdefault(error.field, []).append(exceptions.ErrorDetail(str(error.message), code=error.rule))
    return exceptions.ValidationError(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status, ``WWW-Authenticate``, ``Retry-After``) with the body in our shape.

    A database that fails anywhere in the request (a lock, a lost connection, on any backend) is a
    503 ``database_unavailable``, logged with the request for error reports, never a 500.
    """
    if isinstance(exc, OperationalError | InterfaceError):
        unavailable = DatabaseUnavailable()
        unavailable.__cause__ = exc
        exc = unavailable
    if isinstance(exc, DatabaseUnavailable) and exc.__cause__ is not None:
        _log_database_failure(exc.__cause__, context)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = _code(exc)
    message = MESSAGES.get(code)
    body: dict[str, Any] = {"code": code, "message": str(message) if message else _detail_text(exc)}
    if isinstance(exc, exceptions.ValidationError):
        body["errors"] = _by_field(exc.detail)
    refund_id = getattr(exc, "refund_id", None)
    if isinstance(refund_id, str):
        body["refund"] = refund_id  # a refusal held by an earlier refund names it
    response.data = body
    if isinstance(exc, OutcomeNotStored):
        response.headers["Location"] = exc.location
    return response


def _log_database_failure(exc: BaseException, context: dict[str, Any]) -> None:
    request = context.get("request")
    logger.error(
        "kcp_django.api: database unavailable (%s); answered 503",
        type(exc).__name__,
        exc_info=exc,
        # As Django logs a 500: AdminEmailHandler builds its report from the request, with its filter.
        extra={"status_code": 503, "request": getattr(request, "_request", request)},
    )


def _code(exc: Exception) -> str:
    if isinstance(exc, Http404):
        return "not_found"
    if isinstance(exc, PermissionDenied):
        return "permission_denied"
    if isinstance(exc, exceptions.PermissionDenied) and str(exc.detail).startswith(CSRF_FAILED_PREFIX):
        return "csrf_failed"
    if isinstance(exc, exceptions.APIException):
        code = getattr(exc.detail, "code", None)
        return str(code or exc.default_code)
    return "error"


def _detail_text(exc: Exception) -> str:
    detail = getattr(exc, "detail", "")
    return detail if isinstance(detail, str) else str(MESSAGES["invalid"])


def _by_field(detail: Any) -> dict[str, list[dict[str, str]]]:
    if not isinstance(detail, dict):
        return {NON_FIELD_ERRORS: _entries(detail)}
    return {str(field): _entries(value) for field, value in detail.items()}


def _entries(value: Any) -> list[dict[str, str]]:
    items = value if isinstance(value, list) else [value]
    entries = []
    for item in items:
        if isinstance(item, list | dict):
            entries.extend(_entries(list(item.values()) if isinstance(item, dict) else item))
            continue
        entries.append({"rule": str(getattr(item, "code", None) or "invalid"), "message": str(item)})
    return entries
