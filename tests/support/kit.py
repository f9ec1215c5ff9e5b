"""A KCP kit folder whose ``bin/pp_cli`` is kcp-django's fake client, and settings that point at it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.conf import settings


def make_fake_kit(home: Path) -> Path:
    """``home/bin/pp_cli`` -> the installed ``kcp-fake-pp-cli`` script, and an empty ``home/log``."""
    fake = Path(sys.executable).with_name("kcp-fake-pp-cli")
    assert fake.exists(), "the kcp-fake-pp-cli console script is installed with the package"
    (home / "bin").mkdir(parents=True, exist_ok=True)
    (home / "log").mkdir(exist_ok=True)
    (home / "bin" / "pp_cli").symlink_to(fake)
    return home


def ppcli_merchants(home: Path, timeout: float = 1) -> dict[str, Any]:
    """``KCP_MERCHANTS`` with the default alias on pp_cli in ``home`` (test mode)."""
    return {
        "default": {
            "BACKEND": "ppcli",
            "OPTIONS": {
                "MODE": "test",
                "SITE_CD": "T0000",
                "SITE_KEY": settings.TEST_SITE_KEY,
                "HOME_DIR": str(home),
                "TIMEOUT": timeout,
            },
        }
    }


def merchants_with(backend: str | None = None, **options: Any) -> dict[str, Any]:
    """The test settings' merchants, the default alias on ``backend`` and with ``options`` added."""
    merchants = dict(settings.KCP_MERCHANTS)
    default = dict(merchants["default"])
    if backend is not None:
        default["BACKEND"] = backend
    default["OPTIONS"] = {**default["OPTIONS"], **options}
    merchants["default"] = default
    return merchants
