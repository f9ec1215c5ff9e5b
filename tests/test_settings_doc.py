"""``docs/settings.md`` lists every setting of ``kcp_django.conf.SETTINGS``, in order, as the code says."""

from __future__ import annotations

import re
from pathlib import Path

from kcp_django import conf

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
HEADER = ["| Setting | Default | Description |", "| --- | --- | --- |"]


def rendered_table() -> list[str]:
    """The settings table as ``docs/settings.md`` must show it (paste this to update the file)."""
    rows = [f"| `{row.name}` | {row.shown_default} | {row.doc} |" for row in conf.SETTINGS]
    return [*HEADER, *rows]


def documented_table() -> list[str]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER[0])
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    return table


def test_the_settings_doc_is_the_code_table() -> None:
    assert documented_table() == rendered_table(), "docs/settings.md: paste tests/test_settings_doc.rendered_table()"


def test_every_kcp_setting_the_code_reads_is_in_the_table() -> None:
    package = Path(conf.__file__).parent
    read = set()
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        read |= set(re.findall(r"""conf\.(?:get|raw)\(\s*["'](KCP_[A-Z_]+)["']""", text))
        read |= {f"KCP_{name}" for name in re.findall(r"kcp_settings\.([A-Z][A-Z_]+)\b", text)}
    assert read, "the app reads its settings through conf.kcp_settings, conf.get or conf.raw"
    assert read <= {row.name for row in conf.SETTINGS}


def test_no_module_reads_a_kcp_setting_around_the_table() -> None:
    package = Path(conf.__file__).parent
    around = [
        f"{path.relative_to(package)}: {match}"
        for path in package.rglob("*.py")
        for match in re.findall(r"""(?:getattr\(settings,\s*|settings\.)["']?KCP_[A-Z_]+""", path.read_text("utf-8"))
    ]
    assert around == []
