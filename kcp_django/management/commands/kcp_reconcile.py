"""``manage.py kcp_reconcile``: move stuck PENDING/UNKNOWN verifications on (see kcp_django.maintenance.reconcile).

Safe to run from cron on several hosts at once. Exit status (kcp_django.management.exit_codes): 1 when
a person is needed (rows marked for review in this run, or outcomes that could not be stored), 2 for a
wrong option, 4 for a configuration error.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from kcp_django import conf
from kcp_django.maintenance.reconcile import longest_timeout, reconcile
from kcp_django.management.durations import describe
from kcp_django.management.exit_codes import needs_a_person, usage_error
from kcp_django.management.maintenance_command import MaintenanceCommand


class Command(MaintenanceCommand):
    help = (
        "Retry verifications left PENDING or UNKNOWN for longer than --older-than through their gateway (same "
        "ordr_idxx), at most KCP_RECONCILE_MAX_ATTEMPTS times each; then mark them for staff review."
    )
    older_than_help = "only rows without progress for this long (default 10m; e.g. 30s, 10m, 2h, 0)"
    older_than_default = "10m"
    limit_help = "claim at most this many rows in this run"

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-attempts", type=int, default=None, help="retries per row (default KCP_RECONCILE_MAX_ATTEMPTS, 3)"
        )

    def run(self, options: dict[str, Any]) -> None:
        older_than = options["older_than"]
        if options["max_attempts"] is not None and options["max_attempts"] < 1:
            raise usage_error("--max-attempts must be at least 1.")
        max_attempts = options["max_attempts"] or conf.kcp_settings.RECONCILE_MAX_ATTEMPTS
        longest_wait = longest_timeout()
        if older_than < longest_wait:
            self.stderr.write(
                f"note: --older-than {describe(older_than)} is shorter than the longest TIMEOUT "
                f"({describe(longest_wait)}): a request still waiting for KCP may be sent twice."
            )
        report = reconcile(
            older_than=older_than, max_attempts=max_attempts, limit=options["limit"], using=options["database"]
        )
        for problem in report.problems:
            self.stderr.write(problem)
        self.summarize(options, report.summary())
        needed = []
        if report.marked_for_review:
            needed.append(
                f"{report.marked_for_review} verification(s) marked for review: their outcome is unknown after every "
                "retry; check them in KCP's admin and settle them in the admin's review list."
            )
        if report.not_stored:
            needed.append(f"{report.not_stored} outcome(s) could not be stored; those rows stay open for the next run.")
        if needed:
            raise needs_a_person(" ".join(needed))
