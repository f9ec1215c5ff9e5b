"""Refunds for back-office tools: ``POST refunds/``, ``GET refunds/?tno=``, ``GET refunds/<id>/``.

They call :func:`kcp_django.refunds.request_refund` and never a gateway. Staff only by
default (:class:`IsRefundStaff`); ``KCP_API["REFUND_PERMISSION_CLASSES"]`` replaces it.

Answers to ``POST``: 201 with a final outcome (accepted, completed, rejected), 202 while the outcome
is not known (pending, unknown: staff resolve it; it is never sent again by code), 200 for a repeat
of an ``Idempotency-Key`` already stored (nothing sent), 400 invalid fields, 409 refused by a rule
(``code`` is the rule), 503 configuration or database problems. The views are not atomic even with
``ATOMIC_REQUESTS``: a refund's row must be committed before KCP is called.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from rest_framework import exceptions, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from kcp_django.api.errors import field_errors
from kcp_django.api.idempotency import IDEMPOTENCY_HEADER
from kcp_django.api.permissions import configured_permissions
from kcp_django.api.refund_serializers import RefundRequestSerializer, RefundSerializer, check_tno
from kcp_django.api.schema import document
from kcp_django.api.throttles import ReadThrottle
from kcp_django.api.views import SENSITIVE_FIELDS, KcpApiView
from kcp_django.client_ip import client_ip
from kcp_django.conf import kcp_settings
from kcp_django.exceptions import (
    AnswerNotStored,
    DecryptionError,
    InvalidRequest,
    RefundInTransaction,
    RefundRefused,
)
from kcp_django.models import Refund, RefundState
from kcp_django.refunds import request_refund

__all__ = [
    "ACCOUNT_UNREADABLE",
    "DATABASE_UNAVAILABLE",
    "DETAIL_VIEW",
    "FINAL_STATES",
    "IN_TRANSACTION",
    "NO_STORE",
    "OUTCOME_NOT_STORED",
    "RETRY_AFTER",
    "AccountUnreadable",
    "IsRefundStaff",
    "RefundApiView",
    "RefundDetailView",
    "RefundListCreateView",
    "RefundOutcomeNotStored",
    "RefundRefusedError",
    "RefundUnavailable",
]

logger = logging.getLogger("kcp_django.api")

DETAIL_VIEW = "kcp_api:refund-detail"
NO_STORE = "no-store"
#: States KCP has given its word on: answered 201.
FINAL_STATES = (RefundState.ACCEPTED, RefundState.COMPLETED, RefundState.REJECTED)
RETRY_AFTER = 30


class IsRefundStaff(BasePermission):
    """Staff with ``kcp_django.request_refund`` to send a refund, ``kcp_django.view_refund`` to read one."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated or not user.is_staff:
            return False
        wanted = "kcp_django.request_refund" if request.method == "POST" else "kcp_django.view_refund"
        return bool(user.has_perm(wanted))


class RefundRefusedError(exceptions.APIException):
    """A rule of the refund service refused it; nothing was sent. ``code`` is the rule's id."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "refund_refused"

    def __init__(self, refused: RefundRefused) -> None:
        super().__init__(detail=str(refused.message), code=refused.rule)
        #: The earlier refund to resolve first, answered as ``"refund"`` (see the error handler).
        self.refund_id = refused.refund_id


class RefundUnavailable(exceptions.APIException):
    """The server cannot send refunds now; nothing was sent (see ``code``).

    ``wait`` becomes ``Retry-After`` only where waiting helps (the database, an answer to read back
    later); a configuration problem lasts until someone fixes it, so it says no time."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "refund_configuration"
    default_detail = _("Refunds are not configured correctly on this server; nothing was sent. See the server log.")

    def __init__(self, detail: Any = None, code: str | None = None, *, wait: int | None = None) -> None:
        super().__init__(detail=detail, code=code)
        self.wait = wait


class RefundOutcomeNotStored(RefundUnavailable):
    """KCP was asked, but neither its answer nor the row could be read back: read ``Location`` later."""

    def __init__(self, location: str) -> None:
        super().__init__(detail=OUTCOME_NOT_STORED, code="refund_outcome_not_stored", wait=RETRY_AFTER)
        self.location = location


class AccountUnreadable(RefundUnavailable):
    """The verification's stored account cannot be decrypted (its key left ``KCP_ENCRYPTION_KEYS``, or the
    value was altered): nothing was sent. No ``Retry-After``: it lasts until someone restores the key."""

    def __init__(self) -> None:
        super().__init__(detail=ACCOUNT_UNREADABLE, code="account_unreadable")


ACCOUNT_UNREADABLE = _(
    "The verified account's stored number cannot be read on this server (its encryption key is missing); "
    "nothing was sent. See the server log."
)
IN_TRANSACTION = _("The refund view ran inside a database transaction; nothing was sent. See the server log.")
DATABASE_UNAVAILABLE = _("The database is not available; nothing was sent. Try again later.")
OUTCOME_NOT_STORED = _(
    "KCP was asked, but its answer could not be saved yet; the refund stays pending and is never sent again. "
    "Read it at Location later."
)


class RefundApiView(KcpApiView):
    """``KCP_API["REFUND_PERMISSION_CLASSES"]`` instead of ``PERMISSION_CLASSES``; reads are throttled."""

    def get_permissions(self) -> list[BasePermission]:
        return configured_permissions(self.api_settings.refund_permission_classes)

    def get_throttles(self) -> list[BaseThrottle]:
        return [ReadThrottle()] if self.request.method == "GET" else []

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        location = getattr(exc, "location", None)
        if location:
            response.headers["Location"] = location
        return response


class RefundListCreateView(RefundApiView):
    """A direct ``vbank-refund`` carries an account number and a holder's name, and every refund read
    back holds the name: no method here shows its variables (or those of what it calls) in a crash
    report."""

    sensitive_post_fields = SENSITIVE_FIELDS

    @document("refund_create")
    @sensitive_variables()
    def post(self, request: Request) -> Response:
        try:
            return self._create(request)
        except DatabaseError:
            logger.exception("kcp_django.api: the database failed while a refund was asked for")
            raise RefundUnavailable(DATABASE_UNAVAILABLE, "database_unavailable", wait=RETRY_AFTER) from None

    @sensitive_variables()
    def _create(self, request: Request) -> Response:
        serializer = RefundRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        verification = data["verification"]
        merchant = data["merchant"] or (verification.merchant if verification is not None else None)
        merchant = merchant or self.api_settings.merchant
        key = request.headers.get(IDEMPOTENCY_HEADER)
        try:
            row = _request_refund(request, data, merchant=merchant, key=key, ip=self._client_ip(request))
        except AnswerNotStored as exc:
            # KCP was asked but the database would not take its answer: the row stays PENDING for staff.
            location = _location(request, exc.public_id)
            try:
                row = Refund.objects.select_related("verification").get(public_id=str(exc.public_id))
            except DatabaseError:
                raise RefundOutcomeNotStored(location) from None
        # The service answers a refund already stored for this Idempotency-Key without a second call.
        repeat = row.replayed
        code: int
        if repeat:
            code = status.HTTP_200_OK
        else:
            code = status.HTTP_201_CREATED if row.state in FINAL_STATES else status.HTTP_202_ACCEPTED
        headers = {"Location": _location(request, row.public_id), "Cache-Control": NO_STORE}
        if repeat:
            headers["Idempotent-Replayed"] = "true"
        return Response(RefundSerializer(row).data, status=code, headers=headers)

    def _client_ip(self, request: Request) -> str | None:
        return client_ip(request._request, kcp_settings.TRUSTED_PROXIES)

    @document("refund_list")
    @sensitive_variables()
    def get(self, request: Request) -> Response:
        tno = check_tno(request.query_params.get("tno"))
        rows = Refund.objects.select_related("verification").filter(tno=tno).order_by("created_at", "id")
        return Response([RefundSerializer(row).data for row in rows], headers={"Cache-Control": NO_STORE})


class RefundDetailView(RefundApiView):
    @document("refund_retrieve")
    @sensitive_variables()
    def get(self, request: Request, public_id: str) -> Response:
        try:
            wanted = uuid.UUID(public_id)
        except ValueError:
            raise exceptions.NotFound() from None
        row = Refund.objects.select_related("verification").filter(public_id=wanted).first()
        if row is None:
            raise exceptions.NotFound()
        return Response(RefundSerializer(row).data, headers={"Cache-Control": NO_STORE})


@sensitive_variables()
def _request_refund(
    request: Request, data: dict[str, Any], *, merchant: str, key: str | None, ip: str | None
) -> Refund:
    try:
        return request_refund(
            kind=data["kind"],
            tno=data["tno"],
            verification=data["verification"],
            bank_code=data["bank_code"],
            account_no=data["account_no"],
            owner_nm=data["owner_nm"],
            amount=data["amount"],
            remaining=data["remaining"],
            after_shipping=data["after_shipping"],
            reason=data["reason"],
            idempotency_key=key,
            reference=data["reference"],
            merchant=merchant,
            user=request.user,
            client_ip=ip,
        )
    except InvalidRequest as exc:
        raise field_errors(exc.errors) from None
    except RefundRefused as exc:
        raise RefundRefusedError(exc) from None
    except DecryptionError as exc:
        logger.error(
            "kcp_django.api: the verification's stored account cannot be decrypted (key %s%s): %s",
            exc.key_id,
            ", not in KCP_ENCRYPTION_KEYS" if exc.missing_key else "",
            exc,
        )
        raise AccountUnreadable() from None
    except RefundInTransaction:
        logger.exception("kcp_django.api: a refund view ran inside a transaction")
        raise RefundUnavailable(IN_TRANSACTION, "refund_in_transaction") from None
    except ImproperlyConfigured:
        logger.exception("kcp_django.api: refunds are not configured correctly")
        raise RefundUnavailable() from None


def _location(request: Request, public_id: Any) -> str:
    match = request._request.resolver_match
    return reverse(DETAIL_VIEW, kwargs={"public_id": str(public_id)}, current_app=match.namespace if match else None)
