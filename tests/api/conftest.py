"""What every REST API test starts from: ``KCP_API`` with the throttles off and an empty throttle cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.api import api_settings


@pytest.fixture(autouse=True)
def _api_settings() -> Iterator[None]:
    with api_settings():
        yield
