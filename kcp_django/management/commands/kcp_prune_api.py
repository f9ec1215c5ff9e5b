"""``manage.py kcp_prune_api``: delete expired Idempotency-Keys and the attempt counters of past days.

Neither is needed once it has expired, but nothing deletes them otherwise: run it daily (cron, a
scheduled task).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from kcp_django.api import idempotency, limits


class Command(BaseCommand):
    help = "Delete expired Idempotency-Keys and the REST API's attempt counters of past days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--keep-days",
            type=int,
            default=1,
            help="attempt counters to keep, today included (default 1: today only)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        keep_days = max(1, options["keep_days"])
        before = timezone.localdate() - dt.timedelta(days=keep_days - 1)
        keys = idempotency.prune()
        counters = limits.prune(before=before)
        self.stdout.write(f"Deleted {keys} expired idempotency keys and {counters} attempt counters before {before}.")
