"""``manage.py kcp_purge --older-than 180d``: destroy account numbers and names of old final verifications and
refunds.

See kcp_django.maintenance.purge for what is removed and what is kept for audits.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kcp_django.maintenance.purge import DEFAULT_BATCH_SIZE, purge_personal_data
from kcp_django.management.durations import describe, duration
from kcp_django.management.exit_codes import usage_error


class Command(BaseCommand):
    help = (
        "Remove account numbers and holder names from VERIFIED/REJECTED verifications and COMPLETED/REJECTED "
        "refunds older than --older-than, keeping state, res_cd, res_msg, tno and app_time for audits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=duration, required=True, help="retention period, e.g. 180d (required)")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"rows per transaction (default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument("--dry-run", action="store_true", help="only count what would be purged")
        parser.add_argument("--database", default="default", help="database alias (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise usage_error("--batch-size must be at least 1.")
        report = purge_personal_data(
            older_than=options["older_than"],
            batch_size=options["batch_size"],
            dry_run=options["dry_run"],
            using=options["database"],
        )
        if options["verbosity"] >= 1:
            self.stdout.write(f"kcp_purge (older than {describe(options['older_than'])}): {report.summary()}")
