"""The example project's URLs plus the API row's baseline: a bare DRF endpoint that inserts one row.

The baseline is what a hand-written port of KCP's sample would be at best, with no gateway at all:
session authentication with its CSRF check, a JSON body through a plain serializer, one
``AccountVerification`` inserted (account number encrypted, blind index, last four digits), a small
JSON answer. A second bare endpoint does the same in the two writes the app makes (a PENDING row
committed, then the answer over it): the reference that separates what the app's design costs from
what its code costs. They live here, not in the example project, because only the benchmarks need
them.
"""

from __future__ import annotations

import itertools
import os
from typing import Any, ClassVar

from django.urls import URLPattern, URLResolver, path
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from example_project.urls import urlpatterns as example_urlpatterns
from kcp_django.crypto import blind_index, last_four
from kcp_django.models import AccountVerification

BARE_PATH = "bench/bare-insert/"
TWO_WRITES_PATH = "bench/bare-two-writes/"
_order_numbers = itertools.count()


class BareInput(serializers.Serializer[Any]):
    bank_code = serializers.CharField(max_length=2)
    account_no = serializers.CharField(max_length=20)
    owner_nm = serializers.CharField(max_length=20)
    reference = serializers.CharField(max_length=100)


class BareInsertView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    throttle_classes = []
    #: Written over the row once it is committed; empty for a single write.
    answer: ClassVar[dict[str, str]] = {}

    def post(self, request: Request) -> Response:
        given = BareInput(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        row = AccountVerification.objects.create(
            ordr_idxx=f"BARE{os.getpid()}-{next(_order_numbers)}",
            bank_code=data["bank_code"],
            account_no=data["account_no"],
            account_index=blind_index(data["bank_code"], data["account_no"]),
            account_last4=last_four(data["account_no"]),
            owner_nm=data["owner_nm"],
            reference=data["reference"],
            requested_by_id=request.user.pk,
            client_ip=request.META.get("REMOTE_ADDR"),
            state="PENDING" if self.answer else "VERIFIED",
            res_cd="" if self.answer else "0000",
        )
        if self.answer:
            AccountVerification.objects.filter(pk=row.pk, state="PENDING").update(**self.answer)
        return Response(
            {"id": str(row.public_id), "status": "verified", "reference": row.reference},
            status=status.HTTP_201_CREATED,
        )


class BareTwoWritesView(BareInsertView):
    answer: ClassVar[dict[str, str]] = {"state": "VERIFIED", "res_cd": "0000", "res_msg": "정상처리"}


urlpatterns: list[URLPattern | URLResolver] = [
    *example_urlpatterns,
    path(BARE_PATH, BareInsertView.as_view(), name="bench-bare-insert"),
    path(TWO_WRITES_PATH, BareTwoWritesView.as_view(), name="bench-bare-two-writes"),
]
