from __future__ import annotations

from collections.abc import Iterator

import pytest

from kcp_django.gateways.sandbox import outbox


@pytest.fixture(autouse=True)
def _empty_sandbox_outbox() -> Iterator[None]:
    outbox.clear()
    yield
    outbox.clear()
