from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kcp_django.gateways.sandbox import outbox, refund_outbox
from tests.support import leak_guard, shop
from tests.support.api import make_user

#: Test modules that are slow by nature, marked here so `pytest -m "not slow"` leaves them out.
SLOW_MODULES = {
    "test_fuzz.py",
    "test_benchmarks.py",
    "test_multi_host.py",
    "test_bulk_worker.py",
    "test_bulk_celery.py",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path
        if "browser" in path.parts:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
        if path.name == "test_benchmarks.py":
            item.add_marker(pytest.mark.benchmark)
        if path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _watch_for_leaked_secrets() -> Iterator[None]:
    uninstall = leak_guard.install()
    yield
    uninstall()
    print(f"\nleak guard: scanned {leak_guard.guard.scanned}")


@pytest.fixture(autouse=True)
def _no_secret_leaked_by_this_test() -> Iterator[None]:
    leak_guard.guard.take_findings()
    yield
    findings = leak_guard.guard.take_findings()
    if findings:
        pytest.fail(leak_guard.describe(findings), pytrace=False)


@pytest.fixture(autouse=True)
def _empty_sandbox_outbox() -> Iterator[None]:
    """The sandbox's records of verifications and refunds sent, empty for every test."""
    outbox.clear()
    refund_outbox.clear()
    yield
    outbox.clear()
    refund_outbox.clear()


@pytest.fixture(scope="session")
def migrated_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example shop's SQLite database, migrated once a session by a real ``manage.py migrate``:
    tests that run the shop as a process work on a copy (:func:`tests.support.shop.copy_of`)."""
    return shop.migrate(tmp_path_factory.mktemp("migrated-shop") / "shop.sqlite3")


@pytest.fixture
def verified(db: None) -> Any:
    """A VERIFIED account (04, 123-456-789012, 홍길동) verified for the test payments' order."""
    from kcp_django.verifications import verify_refund_account
    from tests.support.payments import ORDER

    leak_guard.guard.add_account_text("123-456-789012")
    row = verify_refund_account(bank_code="04", account_no="123-456-789012", owner_nm="홍길동", reference=ORDER)
    assert row.state == "VERIFIED"
    return row


@pytest.fixture
def customer(db: None) -> Any:
    """A signed-up customer (username ``customer``), for tests that act as one."""
    return make_user("customer")


@pytest.fixture
def paid(db: None) -> list[Any]:
    """The test payments registered (tests.support.payments.TNOS), each 10,000 won for ORDER-1."""
    from tests.support.payments import pay_all

    return pay_all()


@pytest.fixture(autouse=True)
def _quick_store_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pause between the core's tries to store an outcome (the shipped ones add up to 1.5 s). The
    outage tests keep their shape all the same: on SQLite each try waits out the lock for 150 ms, so
    the four tries span 0.6 s, and a brief outage (0.2 s) ends before they do while a lasting one
    outlives them; on PostgreSQL and MariaDB a brief outage is a dropped connection the next try
    replaces."""
    from kcp_django import core

    monkeypatch.setattr(core, "STORE_RETRY_DELAYS", (0, 0, 0))
