"""The API's views. They call :func:`kcp_django.verifications.verify_refund_account` and never a gateway.

Order of work for ``POST verifications/``, and why:

1. authenticate, check permissions, throttle (cheap refusals first);
2. validate: bad input is answered 400 and counts against nothing;
   then ``KCP_API["REFERENCE_OWNER_CHECK"]``, if set: a reference the caller may not use is 403;
3. claim the ``Idempotency-Key`` if one was sent: a repeat replays the stored answer here;
4. take one attempt against each daily cap (:mod:`kcp_django.api.limits`): over a cap is 429, and KCP
   is never called; a request the service then refuses before sending (configuration, an
   ``ordr_idxx`` of another account) gives its attempt back: only attempts that reach KCP count;
5. call the service, which commits its row itself; answer 201 (final) or 202 (poll ``Location``).

The views are not atomic even with ``ATOMIC_REQUESTS``: claims, counters and the service's row
must be committed at once for other requests to see them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import uuid
from functools import cache
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.module_loading import import_string
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kcp_django.api import errors, idempotency, limits
from kcp_django.api.idempotency import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_MAX_LENGTH
from kcp_django.api.parsers import BoundedJSONParser
from kcp_django.api.permissions import configured_authenticators, configured_permissions, visible_verifications
from kcp_django.api.reporting import protect_error_reports
from kcp_django.api.schema import document
from kcp_django.api.serializers import (
    REJECTION_DETAIL,
    SHOW_RESULT_CODE,
    BankSerializer,
    VerificationRequestSerializer,
    VerificationSerializer,
)
from kcp_django.api.throttles import ReadThrottle, VerifyThrottle
from kcp_django.banks import BANKS
from kcp_django.client_ip import client_ip
from kcp_django.conf import ApiSettings, kcp_settings
from kcp_django.crypto import blind_index
from kcp_django.exceptions import AnswerNotStored, DuplicateOrderError, KcpConfigurationError
from kcp_django.models import AccountVerification
from kcp_django.validation import NormalizedInput, generate_ordr_idxx
from kcp_django.verifications import verify_normalized

__all__ = [
    "BANKS_CACHE_CONTROL",
    "DETAIL_VIEW",
    "NO_STORE",
    "REFUSALS",
    "SENSITIVE_FIELDS",
    "BankListView",
    "KcpApiView",
    "VerificationCreateView",
    "VerificationDetailView",
]

logger = logging.getLogger("kcp_django.api")

DETAIL_VIEW = "kcp_api:verification-detail"
#: Answers given before KCP is asked: they free an Idempotency-Key for another try.
REFUSALS = (
    errors.LimitExceeded,
    errors.DuplicateOrder,
    errors.DatabaseUnavailable,
    errors.ConfigurationError,
    exceptions.ValidationError,
)
NO_STORE = "no-store"
BANKS_CACHE_CONTROL = "public, max-age=86400"


class KcpApiView(APIView):
    """JSON only, ``KCP_API``'s authentication and permissions, errors in one shape, the request's language."""

    renderer_classes = [JSONRenderer]
    parser_classes = [BoundedJSONParser]
    #: Request fields a crash report must not show (Django's ``sensitive_post_parameters``).
    sensitive_post_fields: tuple[str, ...] = ()

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        view = super().as_view(**initkwargs)
        if cls.sensitive_post_fields:
            # Wrapped once here, not on every request as a method decorator on dispatch would be.
            view = sensitive_post_parameters(*cls.sensitive_post_fields)(view)
        return transaction.non_atomic_requests(view)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        protect_error_reports(request)
        language = _language_of(request)
        # With LocaleMiddleware the language is active already: activating it again costs a request.
        active = language == translation.get_language()
        with contextlib.nullcontext() if active else translation.override(language):
            response = super().dispatch(request, *args, **kwargs)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", language)
        return response

    @property
    def api_settings(self) -> ApiSettings:
        return kcp_settings.API

    def get_authenticators(self) -> list[BaseAuthentication]:
        return configured_authenticators(self.api_settings.authentication_classes)

    def get_permissions(self) -> list[BasePermission]:
        return configured_permissions(self.api_settings.permission_classes)

    def get_exception_handler(self) -> Any:
        return errors.exception_handler


#: The request fields a crash report must not show (Django's sensitive-data filtering).
SENSITIVE_FIELDS = ("account_no", "owner_nm")


class VerificationCreateView(KcpApiView):
    """Every method here holds the account number and the holder's name: none shows its variables
    (or those of what it calls) in a crash report."""

    sensitive_post_fields = SENSITIVE_FIELDS

    throttle_classes = [VerifyThrottle]

    @document("create")
    @sensitive_variables()
    def post(self, request: Request) -> Response:
        serializer = VerificationRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _check_reference_owner(self.api_settings, request, data["normalized"].reference)
        key = _idempotency_key(request)
        if key is None:
            return self._verify(request, data, data["normalized"].ordr_idxx)
        return self._verify_once(request, data, key)

    @sensitive_variables()
    def _verify_once(self, request: Request, data: dict[str, Any], key: str) -> Response:
        """The first answer ever given to ``key`` (for this user and this body)."""
        if not request.user.is_authenticated:
            raise errors.IdempotencyKeyNeedsUser()
        api = self.api_settings
        normalized: NormalizedInput = data["normalized"]
        # Fixed now and kept with the claim: whoever answers this key asks KCP with this order number.
        ordr_idxx = normalized.ordr_idxx if data["ordr_idxx_given"] else generate_ordr_idxx()
        try:
            outcome = idempotency.claim(
                user_pk=request.user.pk,
                key=hashlib.sha256(key.encode("ascii")).hexdigest(),
                body_fingerprint=idempotency.fingerprint(data["submitted"]),
                ordr_idxx=ordr_idxx,
                ttl=api.idempotency_ttl,
                wait=api.idempotency_wait,
                lease=api.idempotency_lease,
            )
        except idempotency.KeyReused:
            raise errors.IdempotencyKeyReused() from None
        except idempotency.KeyInProgress:
            raise errors.IdempotencyKeyInProgress() from None
        if isinstance(outcome, idempotency.StoredAnswer):
            return _replay(outcome)
        try:
            response = self._verify(request, data, outcome.ordr_idxx)
        except REFUSALS:
            try:
                idempotency.release(outcome)  # refused before KCP was asked: the key may be sent again
            except (OperationalError, InterfaceError) as exc:
                logger.warning(
                    "kcp_django.api: an Idempotency-Key stays claimed for its lease (%s)", type(exc).__name__
                )
            raise
        # Anything else keeps the claim unanswered: after the lease, a repeat takes it over with the
        # claim's ordr_idxx, and the service answers from the row already stored, not from KCP again.
        # So does a database that will not store the answer: the answer is given all the same.
        answer = idempotency.StoredAnswer(response.status_code, response.data, response["Location"])
        try:
            idempotency.fill(outcome, answer)
        except (OperationalError, InterfaceError) as exc:
            logger.warning("kcp_django.api: an answer was not kept for its Idempotency-Key (%s)", type(exc).__name__)
        return response

    @sensitive_variables()
    def _verify(self, request: Request, data: dict[str, Any], ordr_idxx: str) -> Response:
        """Take an attempt against the caps, verify through the service, answer the stored row."""
        api = self.api_settings
        normalized: NormalizedInput = data["normalized"]
        ip = client_ip(request._request, kcp_settings.TRUSTED_PROXIES)
        try:
            taken = limits.take_attempt(_caps(api, normalized, request, ip))
        except limits.CapReached as exc:
            logger.info("kcp_django.api: %s cap reached (user %s)", exc.scope, request.user.pk or "anonymous")
            raise errors.LimitExceeded(exc.retry_after) from None
        except (OperationalError, InterfaceError) as exc:
            # Before KCP is asked, so a refusal like any other: an Idempotency-Key is given back.
            raise errors.DatabaseUnavailable() from exc
        try:
            row = verify_normalized(
                dataclasses.replace(normalized, ordr_idxx=ordr_idxx),
                merchant=api.merchant,
                user=request.user,
                client_ip=ip,
            )
        except DuplicateOrderError:
            _give_back(taken)  # refused before KCP was asked
            raise errors.DuplicateOrder() from None
        except KcpConfigurationError as exc:
            # Refused before anything was stored or sent; the cause is for the operator, not the client.
            logger.error("kcp_django.api: verification refused, the gateway is misconfigured: %s", exc)
            _give_back(taken)
            raise errors.ConfigurationError() from None
        except AnswerNotStored as exc:
            # KCP was asked but the database would not take its answer: the row stays PENDING for
            # kcp_reconcile. Answer 202 from the row if the database reads again, else 503.
            row = _pending_row(exc.public_id, _location(request, exc.public_id))
        if not _asked_by(row, request, ip):
            # The service answered a row stored for this ordr_idxx by someone else: refuse it exactly as
            # an ordr_idxx reused for another account, so the answer tells nothing about that row.
            _give_back(taken)
            raise errors.DuplicateOrder()
        return Response(
            VerificationSerializer(row, context=_answer_context(request, api)).data,
            status=status.HTTP_201_CREATED if row.is_final else status.HTTP_202_ACCEPTED,
            headers={"Location": _location(request, row.public_id), "Cache-Control": NO_STORE},
        )


class VerificationDetailView(KcpApiView):
    throttle_classes = [ReadThrottle]

    @document("retrieve")
    def get(self, request: Request, public_id: str) -> Response:
        try:
            wanted = uuid.UUID(public_id)
        except ValueError:
            raise exceptions.NotFound() from None
        row = visible_verifications(request.user).filter(public_id=wanted).first()
        if row is None:
            raise exceptions.NotFound()
        answer = VerificationSerializer(row, context=_answer_context(request, self.api_settings)).data
        return Response(answer, headers={"Cache-Control": NO_STORE})


class BankListView(KcpApiView):
    """The bank table is public (KCP's guide), so anyone may read it and shared caches may keep it."""

    throttle_classes = [ReadThrottle]

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()]

    @document("banks")
    def get(self, request: Request) -> Any:
        table, etag = _bank_table()
        response = Response(table, headers={"ETag": etag, "Cache-Control": BANKS_CACHE_CONTROL})
        return get_conditional_response(request._request, etag=etag, response=response) or response


def _language_of(request: HttpRequest) -> str:
    if hasattr(request, "LANGUAGE_CODE"):  # LocaleMiddleware has chosen already
        return translation.get_language() or request.LANGUAGE_CODE
    return translation.get_language_from_request(request)


def _answer_context(request: Request, api: ApiSettings) -> dict[str, Any]:
    """Staff see KCP's own answer; anyone else what ``KCP_API["REJECTION_DETAIL"]`` allows."""
    return {
        SHOW_RESULT_CODE: bool(getattr(request.user, "is_staff", False)),
        REJECTION_DETAIL: api.rejection_detail,
    }


def _idempotency_key(request: Request) -> str | None:
    value = request.headers.get(IDEMPOTENCY_HEADER)
    if value is None:
        return None
    if not 1 <= len(value) <= IDEMPOTENCY_KEY_MAX_LENGTH or not all("!" <= char <= "~" for char in value):
        raise errors.InvalidIdempotencyKey()
    return value


def _check_reference_owner(api: ApiSettings, request: Request, reference: str) -> None:
    """``KCP_API["REFERENCE_OWNER_CHECK"]``, asked before anything is stored: a False answer is 403."""
    if api.reference_owner_check is not None and not import_string(api.reference_owner_check)(request, reference):
        raise errors.ReferenceNotAllowed()


def _give_back(taken: limits.Taken) -> None:
    """Nothing reached KCP: the attempt counts against no cap. A database that fails here keeps it
    counted (a refusal the customer sees all the same), never a 500."""
    try:
        limits.give_back(taken)
    except (OperationalError, InterfaceError) as exc:
        logger.warning("kcp_django.api: an attempt stays counted against the daily caps (%s)", type(exc).__name__)


def _caps(api: ApiSettings, normalized: NormalizedInput, request: Request, ip: str | None) -> list[limits.Cap]:
    return [
        limits.Cap(scope, _cap_key(scope, normalized, request, ip), limit)
        for scope, limit in api.limits.items()
        if limit is not None
    ]


def _cap_key(scope: str, normalized: NormalizedInput, request: Request, ip: str | None) -> str:
    caller = limits.caller_key(request.user.pk if request.user.is_authenticated else None, ip)
    if scope == "reference":
        return limits.reference_key(caller, normalized.reference)
    if scope == "user":
        return caller
    return blind_index(normalized.bank_code, normalized.account_no)


def _asked_by(row: AccountVerification, request: Request, ip: str | None) -> bool:
    if request.user.is_authenticated:
        return bool(row.requested_by_id == request.user.pk)
    return row.requested_by_id is None and row.client_ip == ip


def _location(request: Request, public_id: Any) -> str:
    match = request._request.resolver_match
    return reverse(DETAIL_VIEW, kwargs={"public_id": str(public_id)}, current_app=match.namespace if match else None)


def _pending_row(public_id: Any, location: str) -> AccountVerification:
    try:
        return AccountVerification.objects.get(public_id=public_id)
    except DatabaseError:
        raise errors.OutcomeNotStored(location) from None


def _replay(answer: idempotency.StoredAnswer) -> Response:
    headers = {"Idempotent-Replayed": "true", "Cache-Control": NO_STORE}
    if answer.location:
        headers["Location"] = answer.location
    return Response(answer.body, status=answer.status_code, headers=headers)


@cache
def _bank_table() -> tuple[list[dict[str, Any]], str]:
    table = [dict(BankSerializer(bank).data) for bank in BANKS.values()]
    digest = hashlib.sha256(json.dumps(table, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return table, f'"{digest[:32]}"'
