"""Time stamps in KST (+09:00), KCP's own time, as kcp_verify prints them, whatever TIME_ZONE is."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from kcp_django.gateways.sandbox import outbox
from tests.support.api import VERIFICATIONS, client_for, request_body

pytestmark = pytest.mark.django_db(transaction=True)


@override_settings(TIME_ZONE="UTC")
def test_the_api_and_kcp_verify_give_the_same_times_in_kst(customer: Any) -> None:
    client = client_for(customer)
    created = client.post(VERIFICATIONS, request_body(ordr_idxx="SAME-ROW-1")).json()
    out = StringIO()
    with pytest.raises(SystemExit) as exited:  # the same ordr_idxx: the command reads the stored row
        call_command(
            "kcp_verify",
            "--bank-code=04",
            "--account-no=110-234-567890",
            "--owner-nm=홍길동",
            "--ordr-idxx=SAME-ROW-1",
            "--json",
            stdout=out,
        )
    printed = json.loads(out.getvalue())
    read = client.get(f"{VERIFICATIONS}{created['id']}/").json()

    assert exited.value.code == 0
    assert printed["id"] == created["id"]
    assert created["app_time"] == read["app_time"] == printed["app_time"]
    assert created["created_at"] == read["created_at"] == printed["created_at"]
    assert created["app_time"].endswith("+09:00") and created["created_at"].endswith("+09:00")
    assert len(outbox) == 1
