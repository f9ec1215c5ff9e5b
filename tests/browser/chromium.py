"""Where Debian's Chromium is, how it is launched, and skipping where it (or Playwright) is missing.

Test modules call :func:`skip_without_a_browser` first, so the reason shows in pytest's summary.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("KCP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def skip_without_a_browser() -> None:
    """Skip the calling test module, saying why, where Chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
    pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright's Python package")
