"""A real Chromium (Debian's) driven by Playwright against pytest-django's live server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser(django_db_setup: None) -> Iterator[Any]:
    """One Chromium per test module, started after the test database exists.

    Playwright's sync API keeps an event loop running on this thread while it is open, so Django's
    guard against ORM calls from async code is lifted meanwhile: the tests themselves are plain
    synchronous code.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="ko-KR")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
