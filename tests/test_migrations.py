"""kcp_django's migrations stay one straight line: 0001_initial, then one step after another."""

from __future__ import annotations

import itertools
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import models
from django.db.migrations.loader import MigrationLoader

from kcp_django.models import Refund


def test_the_migrations_form_one_line_from_0001_initial() -> None:
    loader = MigrationLoader(None, ignore_no_migrations=True)  # the files on disk, no database
    names = sorted(name for app, name in loader.disk_migrations if app == "kcp_django")

    assert names[0] == "0001_initial"
    for earlier, later in itertools.pairwise(names):
        migration = loader.disk_migrations["kcp_django", later]
        inside = [dependency for dependency in migration.dependencies if dependency[0] == "kcp_django"]
        assert inside == [("kcp_django", earlier)], f"{later} must follow {earlier} alone"
        assert int(later[:4]) == int(earlier[:4]) + 1, "one migration per number: no branches to merge"


@pytest.mark.django_db
def test_the_models_need_no_migration_the_files_lack() -> None:
    # makemigrations --check exits (SystemExit) when a model differs from what the migrations build,
    # e.g. when a field declared through a helper deconstructs differently from the one it replaced.
    call_command("makemigrations", "kcp_django", check=True, dry_run=True, stdout=StringIO())


def test_an_optional_link_reads_as_the_plain_nullable_foreign_key_it_is() -> None:
    name, path, args, kwargs = Refund._meta.get_field("requested_by").deconstruct()

    assert (name, path, args) == ("requested_by", "django.db.models.ForeignKey", [])
    assert kwargs["null"] is True
    assert kwargs["blank"] is True
    assert kwargs["on_delete"] is models.SET_NULL
    assert kwargs["related_name"] == "kcp_refunds"
