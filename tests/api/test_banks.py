"""GET banks/: the public, cacheable bank table."""

from __future__ import annotations

import pytest

from kcp_django.banks import BANKS
from tests.support.api import BANKS as BANKS_URL
from tests.support.api import client_for

pytestmark = pytest.mark.django_db


def test_anyone_gets_every_bank_in_korean_and_english() -> None:
    response = client_for().get(BANKS_URL)

    assert response.status_code == 200
    table = response.json()
    assert [row["code"] for row in table] == list(BANKS)
    assert {"code": "04", "name_ko": "국민은행", "name_en": "KB Kookmin Bank"} in table
    assert response["Cache-Control"] == "public, max-age=86400"
    assert response["ETag"].startswith('"') and response["ETag"].endswith('"')


def test_the_etag_is_the_same_in_every_language() -> None:
    korean = client_for().get(BANKS_URL)
    english = client_for().get(BANKS_URL, HTTP_ACCEPT_LANGUAGE="en")

    assert korean["ETag"] == english["ETag"]
    assert korean.content == english.content


@pytest.mark.parametrize("weak", [False, True])
def test_a_matching_if_none_match_is_304_without_a_body(weak: bool) -> None:
    etag = client_for().get(BANKS_URL)["ETag"]

    response = client_for().get(BANKS_URL, HTTP_IF_NONE_MATCH=("W/" if weak else "") + etag)

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert response["Cache-Control"] == "public, max-age=86400"


def test_another_etag_gets_the_table() -> None:
    response = client_for().get(BANKS_URL, HTTP_IF_NONE_MATCH='"something-else"')

    assert response.status_code == 200
    assert response.json()
