"""The suite-wide leak guard (tests/support/leak_guard.py) does catch a leak where one happens."""

from __future__ import annotations

import logging

from django.template import Context, Template

from kcp_django.validation import normalize
from tests.support.leak_guard import guard


def test_the_guard_sees_a_full_account_number_in_a_log_line_and_a_page() -> None:
    normalize(bank_code="04", account_no="555-444-333222", owner_nm="홍길동")

    logging.getLogger("a_shop").warning("refund to %s", "555444333222")
    Template("<p>{{ number }}</p>").render(Context({"number": "555444333222"}))
    findings = guard.take_findings()  # taken here, so this test itself passes

    assert any("log record" in f and "...3222" in f for f in findings), findings
    assert any("template" in f and "...3222" in f for f in findings), findings


def test_the_guard_sees_a_site_key() -> None:
    from django.conf import settings

    logging.getLogger("a_shop").error("key=%s", settings.TEST_SITE_KEY)

    assert any("a site key" in f for f in guard.take_findings())


def test_an_account_number_the_api_client_sends_is_watched_as_typed_in_bodies_and_headers(customer: object) -> None:
    from tests.support.api import VERIFICATIONS, client_for, request_body

    client_for(customer).post(VERIFICATIONS, request_body(account_no="110-999-888777"))
    assert guard.take_findings() == []  # the API's own answer showed only the masked number

    guard.scan("to a page", "responses", "<p>110-999-888777</p>")
    guard.scan("to a page", "responses", "X-Debug: 110999888777")
    findings = guard.take_findings()
    assert len(findings) == 2 and all("...8777" in f for f in findings), findings
