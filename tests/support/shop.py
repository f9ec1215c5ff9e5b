"""The example shop as an operator runs it: real ``manage.py`` processes on a SQLite file of their own.

Migrating the shop's database takes a process and over a second; the session migrates one
(:func:`tests.conftest.migrated_shop`) and each test or module works on a copy of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def operator_environment() -> dict[str, str]:
    """This process's environment without any ``KCP_`` or ``DJANGO_`` variable: the shop's defaults apply."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("KCP_", "DJANGO_"))}


def migrate(database: Path) -> Path:
    """``manage.py migrate`` on a new SQLite file ``database``, as a real process."""
    env = {**operator_environment(), "DATABASE_URL": f"sqlite:///{database}"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    return database


def copy_of(migrated: Path, database: Path) -> str:
    """A copy of the ``migrated`` database file at ``database``, as the ``DATABASE_URL`` that names it."""
    shutil.copyfile(migrated, database)
    return f"sqlite:///{database}"
