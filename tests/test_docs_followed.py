"""The quick start and the integration page, followed to the letter as a new user would: real processes,
the installed package, a fresh ``django-admin startproject`` for the integration page and the example
shop for the quick start, each reaching a verified account, a refund and the notice that completes it.

Guards issue 18 item 12 (and item 11: the notice URL and ``KCP_NOTICE_IPS`` are on the integration
path, and a customer has a login page). A block the docs show is run as shown; only what names a
machine (the venv's ``python``, the port) and the ids a previous command printed are filled in.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
FENCED = re.compile(r"^```(\w+)\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
#: A python block whose first line names one of these files is added to the end of that file.
APPENDED_FILES = ("settings.py", "urls.py")

pytestmark = pytest.mark.slow


def blocks(page: Path) -> list[tuple[str, str]]:
    """``(language, text)`` of every fenced block of ``page``, in order."""
    return [(m.group(1), m.group(2)) for m in FENCED.finditer(page.read_text(encoding="utf-8"))]


def commands(page: Path) -> list[str]:
    """Every ``python manage.py ...`` line of the page's sh blocks, in order."""
    return [
        line.strip()
        for language, text in blocks(page)
        if language == "sh"
        for line in text.splitlines()
        if line.strip().startswith("python manage.py ")
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KCP_", "DJANGO_", "DATABASE_URL"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def get(url: str) -> tuple[int, str]:
    assert url.startswith("http://127.0.0.1:")
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (a loopback http URL, checked above)
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


@contextmanager
def serving(argv: list[str], cwd: Path, env: dict[str, str], port: int) -> Iterator[None]:
    server = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


class Follower:
    """Runs a page's ``python manage.py`` lines in ``cwd``, filling in the ids earlier lines printed."""

    def __init__(self, cwd: Path, env: dict[str, str], port: int) -> None:
        self.cwd, self.env, self.port = cwd, env, port
        self.ids: dict[str, str] = {}
        self.answers: list[dict[str, object]] = []

    def argv(self, line: str) -> list[str]:
        for name, value in self.ids.items():
            line = line.replace(name, value)
        line = line.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
        assert "_ID" not in line, f"no earlier command printed the id {line!r} needs"
        return [sys.executable, *shlex.split(line)[1:]]

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self.argv(line), cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        if "--json" in line:
            answer = json.loads(done.stdout)
            self.answers.append(answer)
            if " kcp_verify " in f" {line} ":
                self.ids["VERIFICATION_ID"] = str(answer["id"])
            elif " kcp_refund " in f" {line} " and "--show" not in line:
                self.ids["REFUND_ID"] = str(answer["id"])
        return done


def test_the_integration_page_followed_in_a_fresh_project(tmp_path: Path) -> None:
    page = DOCS / "integration.md"
    subprocess.run([BIN / "django-admin", "startproject", "mysite", str(tmp_path)], check=True, timeout=60)
    package = tmp_path / "mysite"
    for language, text in blocks(page):
        first = text.splitlines()[0] if text else ""
        if language == "python" and first.startswith("# ") and first[2:] in APPENDED_FILES:
            target = package / first[2:]
            target.write_text(target.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
    port = free_port()
    follower = Follower(tmp_path, clean_env(), port)
    lines = commands(page)
    assert any("runserver" in line for line in lines) and any("kcp_send_notice" in line for line in lines)

    before_server = lines[: next(i for i, line in enumerate(lines) if "runserver" in line)]
    for line in before_server:
        follower.run(line)
    server_line = next(line for line in lines if "runserver" in line)
    with serving([*follower.argv(server_line), "--noreload"], tmp_path, follower.env, port):
        for line in lines[len(before_server) + 1 :]:
            follower.run(line)
        login_page, login_html = get(f"http://127.0.0.1:{port}/accounts/login/")

    statuses = [answer.get("status") for answer in follower.answers if "status" in answer]
    assert statuses == ["verified", "accepted", "completed"], follower.answers
    assert login_page == 200 and 'name="password"' in login_html, "a customer has somewhere to sign in"


def test_the_quick_start_followed_on_the_example_shop(tmp_path: Path) -> None:
    """The quick start's commands on the example shop (a copy of its database in ``tmp_path``): the
    demo data, the staff's refund of order 2026-0004 (the admin's action, here through the same
    service as the command line does it) and the notice the quick start sends."""
    page = DOCS / "quickstart.md"
    port = free_port()
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    follower = Follower(ROOT, env, port)
    first_block = next(text for language, text in blocks(page) if language == "sh")
    steps = [step.strip().replace(".venv/bin/python", "python") for step in first_block.split("&&")]
    assert steps[:2] == ["python3 -m venv .venv", ".venv/bin/pip install -e ."] or steps[0].startswith(
        "python3 -m venv"
    )
    setup = [step for step in steps if step.startswith("python manage.py") and "runserver" not in step]
    for line in setup:
        follower.run(line)
    server_line = next(step for step in steps if "runserver" in step)
    with serving([*follower.argv(server_line), "--noreload"], ROOT, env, port):
        refund = subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", STAFF_REFUND],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refund.returncode == 0, refund.stderr
        follower.ids["ID"] = refund.stdout.split()[-1]
        for line in commands(page):
            if line.startswith("python manage.py kcp_send_notice"):
                follower.run(line.replace("--refund ID", f"--refund {follower.ids['ID']}"))
            elif line.startswith("python manage.py kcp_verify"):
                follower.run(line)
    shown = subprocess.run(
        [sys.executable, "manage.py", "kcp_refund", "--show", follower.ids["ID"], "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(shown.stdout)["status"] == "completed", shown.stdout + shown.stderr
    assert follower.answers[-1]["status"] == "verified"


#: What *이 인증된 계좌로 환불* does for `refund-2026-0004`, printed as the number its page shows.
STAFF_REFUND = """
from example_project.shop.models import RefundRequest
from kcp_django.refunds.service import request_refund
row = RefundRequest.objects.get(reference="refund-2026-0004")
refund = request_refund(kind=row.order.refund_kind, tno=row.order.kcp_tno, verification=row.verification,
                        reference=row.reference)
print(refund.pk)
"""
