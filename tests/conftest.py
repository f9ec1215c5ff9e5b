from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kcp_django.gateways.sandbox import outbox
from tests import leak_guard
from tests.api_support import make_user

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
    outbox.clear()
    yield
    outbox.clear()


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
    """The core's pauses between tries to store an outcome, shortened: the outage tests keep their
    shape (a brief outage ends before the tries do, a lasting one outlives them) without sleeping
    for the shipped 1.5 s."""
    from kcp_django import core

    monkeypatch.setattr(core, "STORE_RETRY_DELAYS", (0.05, 0.1, 0.25))
