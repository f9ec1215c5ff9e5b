"""What the API tests share: a client whose account numbers the leak guard watches, users, settings."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from tests.support.leak_guard import guard

VERIFICATIONS = "/kcp/verifications/"
BANKS = "/kcp/banks/"
#: Throttles off unless a test turns them on: most tests send more than a customer would.
NO_THROTTLES: dict[str, Any] = {"THROTTLE_RATES": {"kcp_verify": None, "kcp_read": None}}


class ScanningClient(APIClient):
    """An ``APIClient`` that tells the suite's leak guard (tests/support/leak_guard.py) each account number
    it sends, as typed: the guard then fails the test if any response, log line or page shows it."""

    def post(self, path: str, data: Any = None, format: str | None = "json", **extra: Any) -> Any:
        if isinstance(data, dict) and "account_no" in data:
            guard.add_account_text(data["account_no"])
        return super().post(path, data, format=format, **extra)


def make_user(username: str, *, staff: bool = False) -> Any:
    return get_user_model().objects.create_user(username, password="pw-" + username, is_staff=staff)


def client_for(user: Any = None, **defaults: Any) -> ScanningClient:
    client = ScanningClient(**defaults)
    if user is not None:
        client.force_authenticate(user)
    return client


def request_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "bank_code": "04",
        "account_no": "110-234-567890",
        "owner_nm": "홍길동",
        "reference": "refund-1",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


@contextmanager
def api_settings(**kcp_api: Any) -> Iterator[None]:
    """``KCP_API`` for a test, throttles off unless given, with an empty throttle cache."""
    with override_settings(KCP_API={**NO_THROTTLES, **kcp_api}):
        caches["default"].clear()
        try:
            yield
        finally:
            caches["default"].clear()


def run_concurrently(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together; results (or exceptions) in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as exc:  # reported to the test through the results
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results
