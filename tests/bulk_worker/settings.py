"""tests.settings for the bulk worker proof (select with ``--ds tests.bulk_worker.settings``).

Both the pytest process and the ``db_worker`` processes it starts use these: django-tasks-db's
database backend, and the sandbox with a latency and a call log shared across processes. The
workers find the test database through ``KCP_WORKER_TEST_DATABASE``.
"""

import copy
import os
import tempfile

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS, KCP_MERCHANTS

INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks_db"]

DATABASES = copy.deepcopy(DATABASES)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"]["NAME"] = DATABASES["default"]["TEST"]["NAME"].replace("test-db", "test-db-worker")
else:
    # Named after the database in DATABASE_URL, so runs against different databases never share one.
    DATABASES["default"]["TEST"]["NAME"] = f"test_{DATABASES['default']['NAME']}_bulk_worker"
if os.environ.get("KCP_WORKER_TEST_DATABASE"):
    DATABASES["default"]["NAME"] = os.environ["KCP_WORKER_TEST_DATABASE"]

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

KCP_MERCHANTS = copy.deepcopy(KCP_MERCHANTS)
KCP_MERCHANTS["default"]["BACKEND"] = "tests.bulk_worker.gateways.CallLoggingSandbox"
KCP_MERCHANTS["default"]["OPTIONS"].update(
    SANDBOX_LATENCY=float(os.environ.get("KCP_SANDBOX_LATENCY", "0.5")),
    CALL_LOG=os.environ.get("KCP_CALL_LOG", os.path.join(tempfile.gettempdir(), "kcp-bulk-calls.log")),
)
KCP_BULK_CONCURRENCY = int(os.environ.get("KCP_BULK_CONCURRENCY", "4"))
KCP_BULK_CHUNK_SIZE = int(os.environ.get("KCP_BULK_CHUNK_SIZE", "100"))
