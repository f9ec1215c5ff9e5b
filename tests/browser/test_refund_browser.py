"""A refund from the example shop's admin to a paid refund the customer sees, in a real Chromium.

The README's server and demo data; staff run "Refund to this verified account" on the demo refund
request, KCP's notice completes the refund, and the customer sees it paid. Screenshots of each step
are written to ``test-artifacts/refund/``. The pages are checked in Korean as a Korean shop's staff
and customers read them (issue 18 item 13): no parameter names or upper-case states in the messages.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.chromium import skip_without_a_browser
from tests.browser.demo_shop import ROOT, demo_shop

skip_without_a_browser()

SCREENSHOTS = ROOT / "test-artifacts" / "refund"
CUSTOMER = ("customer", "customer-demo-1234")
STAFF = ("staff", "staff-demo-1234")
#: The demo's verified account (shop_demo's DEMO-VERIFIED) and its refund request.
ACCOUNT_DIGITS = "123456789012"
REFERENCE = "refund-2026-0004"
TNO = "20261127000004"
#: What KCP's notice does to the refund, until a notice can be sent to the server itself: the same
#: service call the notice view makes, run in the server's database by a separate process.
COMPLETE_BY_NOTICE = f"""
from kcp_django.models import KcpNotice, Refund
from kcp_django.refunds import complete_refund
refund = Refund.objects.get(reference={REFERENCE!r})
notice = KcpNotice.objects.create(merchant=refund.merchant, site_cd="T0000", tx_cd="TX05", tno=refund.tno,
                                  order_no=refund.ordr_idxx, digest="browser-test-notice", refund=refund, matched=True)
assert complete_refund(refund, notice)
print(Refund.objects.get(pk=refund.pk).state)
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """The example project served as the README serves it (SQLite, sandbox), with its demo data;
    the base URL and the environment that reaches the same database."""
    with demo_shop(tmp_path_factory.mktemp("refund-shop")) as served:
        yield served


def _sign_in(page: Any, base: str, username: str, password: str, *, admin: bool = False) -> None:
    page.goto(base + ("/admin/login/" if admin else "/accounts/login/"))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]" if admin else "main button[type=submit]")
    page.wait_for_load_state()


def _assert_only_the_masked_account(page: Any) -> None:
    html = page.content()
    assert ACCOUNT_DIGITS not in html
    assert "123-456-789012" not in html


def test_staff_refund_the_demo_order_and_the_customer_sees_it_paid(shop: tuple[str, dict[str, str]], page: Any) -> None:
    base, env = shop
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    _sign_in(page, base, *STAFF, admin=True)
    page.goto(base + "/admin/shop/refundrequest/")
    row = page.locator("#result_list tr", has_text=REFERENCE)
    row.locator("input.action-select").check()
    page.select_option('select[name="action"]', "kcp_refund_to_verified_account")
    assert page.locator('select[name="action"] option:checked').inner_text() == "이 인증된 계좌로 환불"
    page.screenshot(path=str(SCREENSHOTS / "1-list.png"), full_page=True)
    page.click('button[name="index"]')

    page.wait_for_selector("#kcp-refund-form")
    assert page.input_value("#id_kcp_refund-tno") == TNO
    assert page.input_value("#id_kcp_refund-kind") == "escrow-cancel"
    assert "********9012" in page.locator(".kcp-refund-account").inner_text()
    _assert_only_the_masked_account(page)
    page.fill("#id_kcp_refund-reason", "단순 변심")
    page.screenshot(path=str(SCREENSHOTS / "2-refund-form.png"), full_page=True)
    page.click('#kcp-refund-form input[type="submit"]')

    page.wait_for_selector(".kcp-refund-confirmation")
    assert page.locator(".kcp-refund-tno").inner_text() == TNO
    assert "전액" in page.locator(".kcp-refund-amount").inner_text()
    assert "내용을 꼼꼼히 확인해 주세요" in page.locator("#content-main").inner_text()
    assert page.locator(".kcp-refund-holder").inner_text() == "홍길동"
    _assert_only_the_masked_account(page)
    page.screenshot(path=str(SCREENSHOTS / "3-confirmation.png"), full_page=True)
    page.click('input[type="submit"][value="네, 환불을 보냅니다"]')

    page.wait_for_selector(".messagelist .success")
    accepted = page.locator(".messagelist").inner_text()
    assert "결제 20261127000004의 환불을 KCP가 접수했습니다" in accepted
    assert not re.search(r"ACCEPTED|PENDING|ordr_idxx|tno", accepted)
    assert "KCP에 요청됨" in page.locator("#result_list tr", has_text=REFERENCE).inner_text()
    _assert_only_the_masked_account(page)
    page.screenshot(path=str(SCREENSHOTS / "4-accepted.png"), full_page=True)

    page.goto(base + "/admin/kcp_django/refund/")
    assert "KCP 접수 완료" in page.locator("#result_list").inner_text()
    _assert_only_the_masked_account(page)
    page.screenshot(path=str(SCREENSHOTS / "5-refunds-list.png"), full_page=True)
    page.locator("#result_list a", has_text=TNO).first.click()
    page.wait_for_selector("#content h1")
    assert page.locator("#content h1").inner_text() == "환불 보기", "the model's name is Korean"
    assert "refund" not in page.title()
    _assert_only_the_masked_account(page)
    page.screenshot(path=str(SCREENSHOTS / "5b-refund-detail.png"), full_page=True)

    completed = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", COMPLETE_BY_NOTICE],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    assert completed.stdout.strip().splitlines()[-1] == "COMPLETED"

    page.context.clear_cookies()
    _sign_in(page, base, *CUSTOMER)
    assert "환불 완료" in page.locator("table.orders").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "6-customer-orders.png"), full_page=True)
    page.goto(base + "/orders/2026-0004/refund/")
    assert "환불 완료" in page.locator("#refund-status").inner_text()
    assert "********9012" in page.locator("#refund-status").inner_text()
    _assert_only_the_masked_account(page)
    page.screenshot(path=str(SCREENSHOTS / "7-customer-refund-paid.png"), full_page=True)
