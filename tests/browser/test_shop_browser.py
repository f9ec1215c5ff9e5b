"""The example shop as a new user meets it: the README's server, demo data, a real Chromium.

Screenshots of each step are written to ``test-artifacts/shop/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.chromium import skip_without_a_browser
from tests.browser.demo_shop import ROOT, demo_shop

skip_without_a_browser()

SCREENSHOTS = ROOT / "test-artifacts" / "shop"
CUSTOMER = ("customer", "customer-demo-1234")
STAFF = ("staff", "staff-demo-1234")
ACCOUNT_DIGITS = "110987654321"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example project served as the README serves it (SQLite, sandbox), with its demo data."""
    with demo_shop(tmp_path_factory.mktemp("shop")) as (base, _env):
        yield base


def _sign_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def _assert_no_secrets(page: Any) -> None:
    html = page.content()
    assert ACCOUNT_DIGITS not in html
    assert "123456789012" not in html
    assert "3grptw1.zW0GSo4PQdaGvsF__" not in html


def test_a_customer_verifies_the_refund_account_and_staff_find_the_request(shop: str, page: Any) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _sign_in(page, shop, *CUSTOMER)
    assert page.locator("h1").inner_text() == "내 주문"  # Korean by default
    page.click("a[href='/orders/2026-0001/refund/']")
    page.wait_for_selector("#bank_code option[value='04']", state="attached")
    assert page.locator("#refund-button").is_disabled()
    page.screenshot(path=str(SCREENSHOTS / "1-form.png"), full_page=True)

    page.select_option("#bank_code", "04")
    page.fill("#account_no", "110-987-654321")
    page.fill("#owner_nm", "홍길동;")
    page.click("#verify-button")
    error = page.locator(".field-error[data-field='owner_nm']")
    error.wait_for()
    page.wait_for_function("document.querySelector(\".field-error[data-field='owner_nm']\").textContent.length > 0")
    # The customer reads the field's label, never the parameter's name (issue 18 item 13).
    assert error.inner_text() == "예금주명에 쓸 수 없는 문자가 있습니다: ';'"
    assert page.locator("#refund-button").is_disabled()
    page.screenshot(path=str(SCREENSHOTS / "2-field-error.png"), full_page=True)

    page.fill("#owner_nm", "홍불일치")
    page.click("#verify-button")
    page.wait_for_selector("#verify-result.rejected")
    assert "일치하지 않습니다" in page.locator("#verify-result").inner_text()
    assert page.locator("#refund-button").is_disabled()
    page.screenshot(path=str(SCREENSHOTS / "3-name-mismatch.png"), full_page=True)

    page.fill("#owner_nm", "홍길동")
    page.click("#verify-button")
    page.wait_for_selector("#verify-result.verified")
    assert "********4321" in page.locator("#verify-result").inner_text()
    assert page.locator("#refund-button").is_enabled()
    _assert_no_secrets(page)
    page.screenshot(path=str(SCREENSHOTS / "4-verified.png"), full_page=True)

    page.click("#refund-button")
    page.wait_for_selector("#refund-status")
    assert "환불 요청이 접수되었습니다" in page.content()
    _assert_no_secrets(page)
    page.screenshot(path=str(SCREENSHOTS / "5-refund-requested.png"), full_page=True)

    page.context.clear_cookies()
    _sign_in(page, shop, *STAFF)
    page.goto(shop + "/admin/shop/refundrequest/")
    row = page.locator("tr", has_text="refund-2026-0001")
    row.wait_for()
    assert "인증" in row.inner_text() or "Verified" in row.inner_text()
    _assert_no_secrets(page)
    page.screenshot(path=str(SCREENSHOTS / "6-admin.png"), full_page=True)


def test_the_shop_switches_to_english(shop: str, page: Any) -> None:
    page.goto(shop + "/")
    with page.expect_navigation():
        page.select_option("#language-form select", "en")
    assert page.locator("h1").inner_text() == "My orders"
