"""``manage.py kcp_purge --older-than 180d``: destroy account numbers and names of old final verifications and
refunds.

See kcp_django.maintenance.purge for what is removed and what is kept for audits.
"""

from __future__ import annotations

from typing import Any

from kcp_django.maintenance.purge import DEFAULT_BATCH_SIZE, purge_personal_data
from kcp_django.management.maintenance_command import MaintenanceCommand


class Command(MaintenanceCommand):
    help = (
        "Remove account numbers and holder names from VERIFIED/REJECTED verifications and COMPLETED/REJECTED "
        "refunds older than --older-than, keeping state, res_cd, res_msg, tno and app_time for audits."
    )
    older_than_help = "retention period, e.g. 180d (required)"
    default_batch_size = DEFAULT_BATCH_SIZE
    dry_run_help = "only count what would be purged"

    def run(self, options: dict[str, Any]) -> None:
        report = purge_personal_data(
            older_than=options["older_than"],
            batch_size=options["batch_size"],
            dry_run=options["dry_run"],
            using=options["database"],
        )
        self.summarize(options, report.summary())
