"""The API answers in Django's active language: the project's LANGUAGE_CODE, unless the request
picks another of its LANGUAGES (Accept-Language, or the language cookie with LocaleMiddleware)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import override_settings

from kcp_django.gateways.sandbox import outbox
from tests.api_support import VERIFICATIONS, api_settings, client_for, make_user, request_body

pytestmark = pytest.mark.django_db(transaction=True)

KOREAN = "예금주명에 쓸 수 없는 문자가 있습니다: ';'"
ENGLISH = "owner_nm (account holder name) contains characters KCP does not accept: ';'"
WITHOUT_LOCALE_MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "django.middleware.locale.LocaleMiddleware"]


@pytest.fixture(autouse=True)
def _settings() -> Iterator[None]:
    with api_settings():
        yield


def owner_nm_error(**headers: str) -> tuple[str, str]:
    response = client_for(make_user("customer")).post(VERIFICATIONS, request_body(owner_nm="홍;길동"), **headers)
    assert response.status_code == 400
    return response["Content-Language"], response.json()["errors"]["owner_nm"][0]["message"]


@pytest.mark.parametrize("middleware", [settings.MIDDLEWARE, WITHOUT_LOCALE_MIDDLEWARE], ids=["locale", "plain"])
@pytest.mark.parametrize(
    ("language_code", "expected"), [("ko", ("ko", KOREAN)), ("en", ("en", ENGLISH)), ("en-us", ("en", ENGLISH))]
)
def test_errors_are_in_the_projects_language_code(
    middleware: list[str], language_code: str, expected: tuple[str, str]
) -> None:
    with override_settings(
        LANGUAGE_CODE=language_code, LANGUAGES=[("ko", "한국어"), ("en", "English")], MIDDLEWARE=middleware
    ):
        assert owner_nm_error() == expected
    assert len(outbox) == 0


@pytest.mark.parametrize("middleware", [settings.MIDDLEWARE, WITHOUT_LOCALE_MIDDLEWARE], ids=["locale", "plain"])
@pytest.mark.parametrize(("language_code", "asked", "message"), [("en-us", "ko", KOREAN), ("ko", "en", ENGLISH)])
def test_a_request_may_ask_for_another_of_the_projects_languages(
    middleware: list[str], language_code: str, asked: str, message: str
) -> None:
    with override_settings(LANGUAGE_CODE=language_code, MIDDLEWARE=middleware):
        assert owner_nm_error(HTTP_ACCEPT_LANGUAGE=asked) == (asked, message)
