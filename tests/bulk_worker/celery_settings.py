"""tests.bulk_worker.settings with Celery as the engine (``--ds tests.bulk_worker.celery_settings``).

Only settings change from the database backend: django-tasks-fennel's Celery backend takes the
bulk chunks, RabbitMQ carries them, and ``celery worker`` processes run them. The same settings
as docs/deployment.md recommends: acknowledged late, given back when a worker is lost, one chunk
reserved per worker at a time.

``KCP_CELERY_BROKER_URL`` (RabbitMQ on this host by default) and ``KCP_BULK_QUEUE_NAME`` (a queue
of one's own, so runs on a shared broker never take each other's chunks) shape it.
"""

import os

from tests.bulk_worker.settings import *  # noqa: F403
from tests.bulk_worker.settings import INSTALLED_APPS, KCP_MERCHANTS

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "django_tasks_db"] + ["django_tasks_fennel"]
KCP_BULK_QUEUE_NAME = os.environ.get("KCP_BULK_QUEUE_NAME", "kcp-bulk")
TASKS = {"default": {"BACKEND": "django_tasks_fennel.CeleryBackend", "QUEUES": ["default", KCP_BULK_QUEUE_NAME]}}

CELERY_BROKER_URL = os.environ.get("KCP_CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Calls are logged as they start too, so a call cut short by a killed worker still counts. 100 ms a
# call by default: 2,000 rows take about 12 s on two workers.
# A TIMEOUT and an in-flight margin of seconds, not minutes: rows whose call a killed worker had in
# flight are past them, and so UNKNOWN, by the time another worker runs their chunk again.
KCP_MERCHANTS["default"]["OPTIONS"].update(
    LOG_STARTS=True, SANDBOX_LATENCY=float(os.environ.get("KCP_SANDBOX_LATENCY", "0.1")), TIMEOUT=2
)
KCP_IN_FLIGHT_MARGIN = 1
KCP_BULK_CONCURRENCY = int(os.environ.get("KCP_BULK_CONCURRENCY", "8"))
