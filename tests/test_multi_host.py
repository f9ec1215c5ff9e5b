"""The example shop as two hosts: two gunicorn processes sharing one database and one Redis cache.

Throttles counted in a per-process cache would let each process allow its own quota; with
``CACHE_URL`` pointing at Redis the quota holds across both, and the database caps hold anyway.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("KCP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
GUNICORN = Path(sys.executable).with_name("gunicorn")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.skipif(not GUNICORN.exists(), reason="needs gunicorn (the dev extra installs it)"),
    pytest.mark.skipif(not _reachable("127.0.0.1", 6379), reason="needs Redis on 127.0.0.1:6379"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], str, str]]:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    workdir = tmp_path_factory.mktemp("hosts")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KCP_", "DJANGO_", "DATABASE_URL", "CACHE_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="example_project.settings",
        DATABASE_URL=f"sqlite:///{workdir / 'shop.sqlite3'}",
        CACHE_URL=REDIS_URL,
        DEBUG="False",
        KCP_MODE="test",  # production settings name their mode; these hosts run the sandbox on purpose
        ALLOWED_HOSTS="127.0.0.1",
        KCP_API=json.dumps(
            {"THROTTLE_RATES": {"kcp_verify": "4/min"}, "LIMITS": {"reference": None}, "REFERENCE_OWNER_CHECK": None}
        ),
    )
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    login = subprocess.run(
        [python, "-c", SIGN_IN],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    session, csrf = login.stdout.split()
    hosts, servers = [], []
    for _ in range(2):
        port = _free_port()
        servers.append(
            subprocess.Popen(
                [str(GUNICORN), "-w", "1", "-b", f"127.0.0.1:{port}", "example_project.wsgi"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        hosts.append(f"http://127.0.0.1:{port}")
    try:
        for host in hosts:
            for _ in range(100):
                try:
                    urllib.request.urlopen(host + "/kcp/banks/", timeout=1)  # noqa: S310 (our local server)
                    break
                except OSError:
                    time.sleep(0.1)
        yield hosts, session, csrf
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


SIGN_IN = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils.crypto import get_random_string
client = Client()
client.force_login(get_user_model().objects.create_user("two-hosts"))
print(client.cookies["sessionid"].value, get_random_string(32))
"""


def _post(host: str, session: str, csrf: str, reference: str) -> int:
    body = json.dumps(
        {"bank_code": "04", "account_no": f"110-{reference[-3:]}-000111", "owner_nm": "홍길동", "reference": reference}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (our local server)
        host + "/kcp/verifications/",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Cookie": f"sessionid={session}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
            "Referer": host + "/",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_the_throttle_holds_across_two_processes(two_hosts: tuple[list[str], str, str]) -> None:
    hosts, session, csrf = two_hosts

    statuses = [_post(hosts[n % 2], session, csrf, f"refund-{n:03d}") for n in range(6)]

    # 4 per minute for this user, whichever process answers.
    assert sorted(statuses) == [201, 201, 201, 201, 429, 429], statuses
