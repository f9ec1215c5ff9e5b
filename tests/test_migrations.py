"""kcp_django's migrations stay one straight line: 0001_initial, then one step after another."""

from __future__ import annotations

import itertools

from django.db.migrations.loader import MigrationLoader


def test_the_migrations_form_one_line_from_0001_initial() -> None:
    loader = MigrationLoader(None, ignore_no_migrations=True)  # the files on disk, no database
    names = sorted(name for app, name in loader.disk_migrations if app == "kcp_django")

    assert names[0] == "0001_initial"
    for earlier, later in itertools.pairwise(names):
        migration = loader.disk_migrations["kcp_django", later]
        inside = [dependency for dependency in migration.dependencies if dependency[0] == "kcp_django"]
        assert inside == [("kcp_django", earlier)], f"{later} must follow {earlier} alone"
        assert int(later[:4]) == int(earlier[:4]) + 1, "one migration per number: no branches to merge"
