"""Starting and stopping the processes the benchmarks measure: gunicorn, ``db_worker``."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scratch() -> Path:
    """This run's scratch folder (``benchmarks.settings`` makes it; ``python -m benchmarks`` deletes it)."""
    return Path(os.environ["KCP_BENCH_SCRATCH"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def child_environment(**extra: str) -> dict[str, str]:
    """This process's environment (which names the benchmark database) plus ``extra``."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.settings", "PYTHONUNBUFFERED": "1", **extra}


def start(command: list[str], *, log: Path, **extra_env: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            command, cwd=ROOT, env=child_environment(**extra_env), stdout=output, stderr=subprocess.STDOUT
        )


def wait_for_http(port: int, path: str, process: subprocess.Popen[bytes], *, timeout: float = 60) -> None:
    """Until ``GET path`` answers 200, or fail if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before answering")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    raise RuntimeError(f"no answer on port {port} within {timeout:g}s")


def stop(process: subprocess.Popen[bytes], *, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it does not exit within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def peak_rss(pid: int) -> int | None:
    """The peak resident set size of a running process, in bytes (Linux's ``VmHWM``); None elsewhere."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def stop_and_measure(process: subprocess.Popen[bytes], *, timeout: float = 15) -> int:
    """Stop ``process`` and return its peak resident set size in bytes.

    Read from ``/proc`` while it still runs where there is one, else from ``wait4``'s resource usage
    (which, on some systems, also counts the memory of the parent that started it).
    """
    measured = peak_rss(process.pid)
    if measured is not None:
        stop(process, timeout=timeout)
        return measured
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
            return usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
        if time.monotonic() > deadline:
            process.kill()
        time.sleep(0.05)
