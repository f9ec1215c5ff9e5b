"""Bulk verification in the background, on Django's tasks framework.

``django.tasks`` from Django 6.0, the ``django-tasks`` backport before. Tasks carry item primary
keys only; a worker reads each source row when it runs the item. Which backend and queue take the
work is set by ``KCP_BULK_TASK_BACKEND`` and ``KCP_BULK_QUEUE_NAME`` (both ``"default"``): with
Django's immediate backend the work runs inside the request that enqueued it.

Any backend may run a chunk more than once (Celery redelivers the chunks of a worker that died,
and may deliver one twice): :func:`~kcp_django.admin.bulk.run_items` skips the items already
finished, and the service answers an order number it has stored from its row, so a row is sent to
KCP at most once whatever the engine does. docs/deployment.md sets up the engines.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import django

from kcp_django import conf
from kcp_django.admin.bulk import run_items, skip_items

if TYPE_CHECKING or django.VERSION >= (6, 0):
    from django.tasks import task
else:
    from django_tasks import task

if TYPE_CHECKING:
    from kcp_django.models import BulkVerification

logger = logging.getLogger("kcp_django")


@task()
def verify_bulk_items(item_ids: list[int]) -> dict[str, int]:
    """Verify one chunk of a bulk run's items; returns how they ended."""
    return run_items(item_ids, concurrency=conf.kcp_settings.BULK_CONCURRENCY).as_dict()


def enqueue_bulk(bulk: BulkVerification) -> int:
    """Queue the run's unfinished items as tasks of about ``KCP_BULK_CHUNK_SIZE`` ids (rounded up to
    a multiple of ``KCP_BULK_CONCURRENCY``); returns how many tasks.

    Items that could not be queued are marked skipped, so no run waits forever on work nobody holds.
    """
    item_ids = list(bulk.items.filter(finished_at__isnull=True).order_by("pk").values_list("pk", flat=True))
    # Whole rounds of concurrent calls, so no thread idles while a chunk's last calls finish.
    concurrency = conf.kcp_settings.BULK_CONCURRENCY
    size = -(-conf.kcp_settings.BULK_CHUNK_SIZE // concurrency) * concurrency
    queued = 0
    try:
        configured = verify_bulk_items.using(
            backend=conf.kcp_settings.BULK_TASK_BACKEND,
            queue_name=conf.kcp_settings.BULK_QUEUE_NAME,
        )
        for start in range(0, len(item_ids), size):
            configured.enqueue(item_ids[start : start + size])
            queued += 1
    except Exception as exc:
        logger.exception("kcp_django: could not queue bulk run %s", bulk.pk)
        skip_items(bulk, item_ids[queued * size :], reason=f"not queued: {type(exc).__name__}")
        raise
    return queued
