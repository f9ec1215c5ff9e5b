from __future__ import annotations

from collections.abc import Iterator

import pytest

from kcp_django.gateways.sandbox import outbox
from tests import leak_guard


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
