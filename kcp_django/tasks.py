"""kcp_django's background tasks, where task runners look for an app's tasks.

Celery's workers import ``<app>.tasks`` of every installed app when they start
(``autodiscover_tasks``): importing the bulk task here registers it before the first chunk
arrives, so no message meets a worker that does not know its task.
"""

from kcp_django.admin.tasks import verify_bulk_items

__all__ = ["verify_bulk_items"]
