"""Settings for the benchmarks: the example project, plus what only the benchmarks need.

- the database: a throwaway SQLite file in a scratch folder, unless ``DATABASE_URL`` names a database
  server: then ``python -m benchmarks`` creates a throwaway database on it (``TEST["NAME"]``), and
  hands its name to the processes it starts in ``KCP_BENCH_DATABASE_NAME``;
- ``benchmarks.urls``: the example project's URLs plus the bare DRF endpoint of the API row;
- persistent database connections (``CONN_MAX_AGE``), as a production site has;
- the REST API with its daily caps and rate throttles off, as ``.ci/schemathesis`` does: every
  benchmark request is then served, not refused;
- django-tasks-db's database backend, for the ``db_worker`` processes of the bulk rows;
- ``KCP_BENCH_SANDBOX_LATENCY`` (seconds, default 0): the sandbox's delay in processes started with it;
- ``KCP_BENCH_CELERY_QUEUE``: Celery (django-tasks-fennel, RabbitMQ or ``KCP_CELERY_BROKER_URL``) instead
  of the database backend, on a queue of that name that goes away with its last worker (row 8).
"""

import copy
import os
import tempfile

# A scratch folder for the run's SQLite file and file cache, named in the environment so that every
# process the benchmarks start shares them; ``python -m benchmarks`` deletes it when done.
if not os.environ.get("KCP_BENCH_SCRATCH"):
    os.environ["KCP_BENCH_SCRATCH"] = tempfile.mkdtemp(prefix="kcp-bench-")
BENCH_SCRATCH = os.environ["KCP_BENCH_SCRATCH"]
os.environ.setdefault("DATABASE_URL", "sqlite://")
# DEBUG is off below, where a merchant's mode must be stated (kcp_django.E001): the sandbox, in test mode.
os.environ.setdefault("KCP_MODE", "test")
# Shared by the API row's gunicorn workers (kcp_django.W002 wants a cache every worker sees).
os.environ.setdefault("CACHE_URL", f"filecache://{BENCH_SCRATCH}/cache")

from example_project.settings import *  # noqa: E402, F403
from example_project.settings import DATABASES, INSTALLED_APPS, KCP_API  # noqa: E402

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "benchmarks.urls"
LOGGING = {"version": 1, "disable_existing_loggers": False}

DATABASES = copy.deepcopy(DATABASES)
# Persistent connections, as a production site runs: a new connection per request would add the same
# cost to both sides of the API row and hide the app's own.
DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Never a SQLite file of yours, even if DATABASE_URL names one.
    DATABASES["default"]["NAME"] = os.path.join(BENCH_SCRATCH, "bench.sqlite3")
else:
    DATABASES["default"]["TEST"] = {"NAME": f"kcp_bench_{os.getpid()}"}
    if os.environ.get("KCP_BENCH_DATABASE_NAME"):
        DATABASES["default"]["NAME"] = os.environ["KCP_BENCH_DATABASE_NAME"]
    if DATABASES["default"]["ENGINE"].endswith("mysql"):
        DATABASES["default"].setdefault("OPTIONS", {})["charset"] = "utf8mb4"

KCP_API = {
    **KCP_API,
    "LIMITS": {"reference": None, "user": None, "account": None},
    "THROTTLE_RATES": {"kcp_verify": None, "kcp_read": None},
    # The example shop's own rule (a customer's own orders only) is the shop's cost, not the app's,
    # and the benchmark's references name no order.
    "REFERENCE_OWNER_CHECK": None,
}

# Made by the example project from the environment (kcp_django.conf.settings_from_env).
KCP_MERCHANTS = copy.deepcopy(globals()["KCP_MERCHANTS"])
KCP_MERCHANTS["default"]["OPTIONS"]["SANDBOX_LATENCY"] = float(os.environ.get("KCP_BENCH_SANDBOX_LATENCY", "0"))

if "django_tasks_db" not in INSTALLED_APPS:
    INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks_db"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
if os.environ.get("KCP_BENCH_CELERY_QUEUE"):
    from kombu.entity import Queue

    KCP_BULK_QUEUE_NAME = os.environ["KCP_BENCH_CELERY_QUEUE"]
    INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks_fennel"]
    TASKS = {"default": {"BACKEND": "django_tasks_fennel.CeleryBackend"}}
    TASKS["default"]["QUEUES"] = ["default", KCP_BULK_QUEUE_NAME]  # type: ignore[assignment]
    CELERY_BROKER_URL = os.environ.get("KCP_CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    CELERY_TASK_QUEUES = [Queue(KCP_BULK_QUEUE_NAME, auto_delete=True)]  # type: ignore[no-untyped-call]
    CELERY_TASK_ACKS_LATE = True
    CELERY_TASK_REJECT_ON_WORKER_LOST = True
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if os.environ.get("KCP_BENCH_CALL_LOG"):
    # The bulk rows' workers: every gateway call logged, to count them.
    KCP_MERCHANTS["default"]["BACKEND"] = "tests.bulk_worker.gateways.CallLoggingSandbox"
    KCP_MERCHANTS["default"]["OPTIONS"]["CALL_LOG"] = os.environ["KCP_BENCH_CALL_LOG"]
