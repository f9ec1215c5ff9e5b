"""The Korean catalogues cover every message a user or staff member sees, and ship compiled."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.translation import gettext

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = {
    "kcp_django": ROOT / "kcp_django",
    "example shop": ROOT / "example_project",
}
ENTRY = re.compile(r'^msgid ((?:"(?:[^"\\]|\\.)*"\s*)+)msgstr ((?:"(?:[^"\\]|\\.)*"\s*)+)', re.MULTILINE)
PLURAL_ENTRY = re.compile(
    r'^msgid ((?:"(?:[^"\\]|\\.)*"\s*)+)msgid_plural .*?\nmsgstr\[0\] ((?:"(?:[^"\\]|\\.)*"\s*)+)',
    re.MULTILINE | re.DOTALL,
)


def _text(quoted: str) -> str:
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', quoted))


def translations(po: Path) -> dict[str, str]:
    source = po.read_text(encoding="utf-8")
    entries = {_text(m.group(1)): _text(m.group(2)) for m in ENTRY.finditer(source)}
    entries.update({_text(m.group(1)): _text(m.group(2)) for m in PLURAL_ENTRY.finditer(source)})
    entries.pop("", None)
    return entries


@pytest.mark.parametrize("folder", CATALOGUES.values(), ids=CATALOGUES.keys())
def test_the_shipped_catalogue_is_complete_and_compiled(folder: Path) -> None:
    po = folder / "locale" / "ko" / "LC_MESSAGES" / "django.po"
    entries = translations(po)

    assert entries, po
    assert [msgid for msgid, msgstr in entries.items() if not msgstr] == []
    assert "#, fuzzy" not in po.read_text(encoding="utf-8")
    assert po.with_suffix(".mo").stat().st_mtime >= po.stat().st_mtime - 1


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext's xgettext to extract messages")
@pytest.mark.parametrize("folder", CATALOGUES.values(), ids=CATALOGUES.keys())
def test_every_message_in_the_code_is_in_the_catalogue(folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "ko", "--no-obsolete", "-i", "migrations/*"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    extracted = translations(copy / "locale" / "ko" / "LC_MESSAGES" / "django.po")
    shipped = translations(folder / "locale" / "ko" / "LC_MESSAGES" / "django.po")

    # Strings that Django's own catalogues translate (the admin's "Home", ...) are covered too.
    with translation.override("ko"):
        missing = sorted(msgid for msgid in extracted if not shipped.get(msgid) and gettext(msgid) == msgid)
    assert missing == []
