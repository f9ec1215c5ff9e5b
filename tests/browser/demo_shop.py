"""The example project served as the README's first command serves it (SQLite, the sandbox, the
demo data), on a free local port, for the browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def demo_shop(workdir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The running shop's base URL, and the environment that reaches its database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KCP_", "DJANGO_", "DATABASE_URL", "CACHE_URL"))}
    env.update(DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}", CACHE_URL=f"filecache://{workdir / 'cache'}")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    subprocess.run([*manage, "shop_demo"], cwd=ROOT, env=env, check=True, timeout=120, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/", timeout=1)  # noqa: S310 (our own local server)
                break
            except OSError:
                time.sleep(0.1)
        yield base, env
    finally:
        server.terminate()
        server.wait(timeout=10)
