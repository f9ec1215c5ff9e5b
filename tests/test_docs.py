"""The documentation stays true: a short README that starts with the two commands CI runs, links that
lead somewhere, no references to files the repository does not have, and the fake pp_cli's crash
mode described as the code behaves."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kcp_django.testing import fake_pp_cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
SANDBOX_DOC = DOCS / "sandbox.md"
README_MAX_LINES = 250

#: The first two ```sh blocks of the README, in order: CI runs the second one.
RUN_THE_EXAMPLE_SHOP = (
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/python manage.py migrate"
    " && .venv/bin/python manage.py shop_demo && .venv/bin/python manage.py runserver 127.0.0.1:8000"
)
RUN_THE_TEST_SUITE = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest"

FENCED_BLOCK = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
#: [text](target) or [text](target "title"); images (![alt](target)) match too.
LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = ("http://", "https://", "mailto:")


def documentation_files() -> list[Path]:
    return [README, ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]


def sh_blocks(markdown: str) -> list[str]:
    """The contents of every ```sh block, in order."""
    return [match.group(1) for match in re.finditer(r"^```sh\n(.*?)^```[ \t]*$", markdown, re.DOTALL | re.MULTILINE)]


def relative_links(markdown: str) -> list[str]:
    """Link targets that are neither external nor inside code, without their #anchor."""
    prose = INLINE_CODE.sub("", FENCED_BLOCK.sub("", markdown))
    targets = []
    for target in LINK.findall(prose):
        if target.lower().startswith(EXTERNAL):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def test_the_readme_is_a_short_landing_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()

    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move reference material to docs/"


def test_the_readme_starts_with_the_two_commands_for_a_fresh_machine() -> None:
    blocks = sh_blocks(README.read_text(encoding="utf-8"))

    assert len(blocks) >= 2
    assert blocks[0] == RUN_THE_EXAMPLE_SHOP + "\n"
    assert blocks[1] == RUN_THE_TEST_SUITE + "\n"


@pytest.mark.parametrize("document", documentation_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file(document: Path) -> None:
    targets = relative_links(document.read_text(encoding="utf-8"))

    missing = [target for target in targets if target and not (document.parent / target).exists()]
    assert not missing, f"{document.relative_to(ROOT)} links to files that do not exist: {missing}"


def test_the_link_parser_finds_links() -> None:
    targets = relative_links("[a](docs/api.md#errors) `[b](no.md)` [c](https://example.com) [d](#here)\n")

    assert targets == ["docs/api.md", ""]
    assert "docs/README.md" in relative_links(README.read_text(encoding="utf-8"))


def test_the_docs_index_links_every_page() -> None:
    linked = set(relative_links((DOCS / "README.md").read_text(encoding="utf-8")))
    pages = {page.name for page in DOCS.glob("*.md")} - {"README.md"}

    assert pages <= linked, f"docs/README.md does not link {sorted(pages - linked)}"


@pytest.mark.parametrize("document", documentation_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_document_points_at_a_contract_file_the_repository_does_not_have(document: Path) -> None:
    assert "CONTRACT.md" not in document.read_text(encoding="utf-8")


def fake_mode_rows() -> dict[str, str]:
    """``KCP_FAKE_MODE`` table of docs/sandbox.md: mode -> the row's description."""
    rows = {}
    for line in SANDBOX_DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`([a-z]+)`(?:\s*\(default\))?\s*\|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    return rows


def test_the_crash_mode_is_described_by_the_signal_the_fake_dies_of() -> None:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("KCP_FAKE_")}
    environment["KCP_FAKE_MODE"] = "crash"
    finished = subprocess.run(
        [sys.executable, "-m", fake_pp_cli.__name__, "-h", "site_cd=T0000"],
        env=environment,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode < 0, f"the fake's crash mode exited with status {finished.returncode}"
    died_of = signal.Signals(-finished.returncode).name

    description = fake_mode_rows()["crash"]
    assert died_of in description, f"docs/sandbox.md says crash {description!r}, the fake dies of {died_of}"
    assert "abort" not in description.lower()


def test_the_fake_modes_are_all_described() -> None:
    modes = getattr(fake_pp_cli, "MODES", None)
    if modes is None:
        pytest.skip("the fake pp_cli no longer lists its modes in MODES")

    assert set(fake_mode_rows()) == set(modes)
