"""Staff in a real browser: log in, select rows, run the action, confirm, see the new attempts."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kcp_django.admin.bulk import run_items
from kcp_django.gateways.sandbox import outbox
from kcp_django.models import AccountVerification, BulkVerificationItem
from tests.browser.chromium import skip_without_a_browser
from tests.support.admin import ACTION, PASSWORD, make_staff, make_verifications, verifier, without_random_digits

skip_without_a_browser()

pytestmark = pytest.mark.django_db(transaction=True)

LIST_PATH = "/admin/kcp_django/accountverification/"
MASKED = re.compile(r"^\*{8}\d{4}$")


def log_in(page: Any, live_server: Any, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={LIST_PATH}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"**{LIST_PATH}")


def assert_only_last_four(page: Any, rows: list[AccountVerification]) -> None:
    html = page.content()
    for row in rows:
        assert row.account_no not in html
        assert row.account_no[-5:] not in without_random_digits(html)
    cells = page.locator("td.field-account_no_masked").all_inner_texts()
    assert cells and all(MASKED.match(cell.strip()) for cell in cells), cells


def test_three_selected_rows_are_confirmed_and_verified_again(page: Any, live_server: Any) -> None:
    originals = make_verifications(5)
    chosen = originals[:3]
    verifier("staff")
    outbox.clear()

    log_in(page, live_server, "staff")
    assert_only_last_four(page, originals)
    for row in chosen:
        page.check(f'input.action-select[value="{row.pk}"]')
    page.select_option('select[name="action"]', ACTION)
    assert page.locator(f'select[name="action"] option[value="{ACTION}"]').inner_text() == "환불계좌 인증"
    page.click('button[name="index"]')

    page.wait_for_selector(".kcp-call-count")
    assert page.get_attribute(".kcp-call-count", "data-calls") == "3"
    assert len(outbox) == 0
    assert all(row.account_no not in page.content() for row in originals)
    page.click('form input[type="submit"]')

    page.wait_for_url(f"**{LIST_PATH}")
    page.wait_for_selector(".messagelist .success")
    assert len(outbox) == 3
    attempts = AccountVerification.objects.exclude(pk__in=[row.pk for row in originals])
    assert attempts.count() == 3
    assert sorted(attempts.values_list("reference", flat=True)) == sorted(row.reference for row in chosen)
    assert set(attempts.values_list("state", flat=True)) == {"VERIFIED"}
    assert page.locator("#result_list tbody tr").count() == 8
    for attempt in attempts:
        assert page.locator(f"text={attempt.ordr_idxx}").count() == 1
    assert_only_last_four(page, list(AccountVerification.objects.all()))


def test_staff_without_the_permission_see_no_action_and_no_full_number(page: Any, live_server: Any) -> None:
    rows = make_verifications(2)
    make_staff("viewer", "kcp_django.view_accountverification")

    log_in(page, live_server, "viewer")

    assert page.locator('select[name="action"]').count() == 0
    assert page.locator("input.action-select").count() == 0
    assert_only_last_four(page, rows)
    page.click(f"text={rows[0].ordr_idxx}")
    page.wait_for_selector(".field-account_no_masked")
    assert rows[0].account_no not in page.content()
    assert page.locator("text=전체 번호 보기").count() == 0


def test_a_background_run_shows_its_progress_until_done(page: Any, live_server: Any, settings: Any) -> None:
    from tests.admin.test_bulk import STORING_BACKEND

    settings.KCP_ADMIN_BULK_THRESHOLD = 2
    settings.TASKS = STORING_BACKEND  # queued, not run, until this test runs the items itself
    rows = make_verifications(3)
    verifier("staff")
    outbox.clear()

    log_in(page, live_server, "staff")
    page.check("#action-toggle")
    page.select_option('select[name="action"]', ACTION)
    page.click('button[name="index"]')
    page.click('form input[type="submit"]')

    panel = page.wait_for_selector('#kcp-bulk-progress[data-running="true"]')
    assert panel is not None
    assert page.get_attribute(".kcp-bulk-run", "data-queued") == "3"
    run_items(BulkVerificationItem.objects.values_list("pk", flat=True))
    page.wait_for_selector('#kcp-bulk-progress[data-running="false"]')  # the panel refreshes itself
    assert page.get_attribute(".kcp-bulk-run", "data-done") == "3"
    assert len(outbox) == 3
    assert_only_last_four(page, rows)
