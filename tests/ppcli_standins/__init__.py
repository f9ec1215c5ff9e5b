"""Stand-in ``pp_cli`` programs and helpers for the pp_cli tests: real processes, no mocks.

Each stand-in is a small script here, installed into a test's folder with a ``#!`` line of this
interpreter and mode 755.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from django.test import override_settings

from kcp_django import conf

HERE = Path(__file__).resolve().parent
SITE_KEY = "Xq7SiteKeyForPpCliTests9_"
FAKE_WRAPPER = "import sys\nfrom kcp_django.testing.fake_pp_cli import main\nsys.exit(main())\n"


def _install(text: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"#!{sys.executable}\n{text}", encoding="utf-8")
    target.chmod(0o755)
    return target


def install(standin: str, target: Path) -> Path:
    """Install ``tests/ppcli_standins/<standin>.py`` as the executable ``target``."""
    return _install((HERE / f"{standin}.py").read_text(encoding="utf-8"), target)


def install_fake(target: Path) -> Path:
    """A small wrapper running kcp_django's fake pp_cli, as ``target``."""
    return _install(FAKE_WRAPPER, target)


def ppcli_merchant(home: Path, alias: str = "default", **options: Any) -> conf.MerchantConfig:
    """A validated pp_cli merchant with HOME_DIR ``home`` (test mode, T0000, a 1 s timeout)."""
    merged = {
        "MODE": "test",
        "SITE_CD": "T0000",
        "SITE_KEY": SITE_KEY,
        "HOME_DIR": str(home),
        "TIMEOUT": 1,
        **options,
    }
    with override_settings(KCP_MERCHANTS={alias: {"BACKEND": "ppcli", "OPTIONS": merged}}):
        return conf.get_merchant(alias)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def gone_soon(pid: int, within: float = 2.0) -> bool:
    """True once ``pid`` is gone; SIGKILL is delivered asynchronously, so allow a moment."""
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
