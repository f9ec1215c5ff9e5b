"""tests.settings plus the field test app, until tests/settings.py lists it (select with --ds)."""

import copy

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS

if "tests.fieldapp" not in INSTALLED_APPS:
    INSTALLED_APPS = [*INSTALLED_APPS, "tests.fieldapp"]

# Its own SQLite test database, so it never collides with another run of tests.settings.
DATABASES = copy.deepcopy(DATABASES)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"]["NAME"] = DATABASES["default"]["TEST"]["NAME"].replace("test-db", "test-db-fieldapp")
