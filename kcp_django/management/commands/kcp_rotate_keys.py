"""``manage.py kcp_rotate_keys``: re-encrypt stored account numbers under the newest key.

Resumable: stop it at any time and run it again. Exit status 1 when a value could not be decrypted
(each is reported with its row id and left as it is).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kcp_django.maintenance.rotate_keys import DEFAULT_BATCH_SIZE, rotate_keys, rows_per_key


class Command(BaseCommand):
    help = "Re-encrypt account numbers stored under older KCP_ENCRYPTION_KEYS with the first (newest) key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"rows per transaction (default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument("--limit", type=int, default=None, help="re-encrypt at most this many rows in this run")
        parser.add_argument("--dry-run", action="store_true", help="only count the rows under each key")
        parser.add_argument("--database", default="default", help="database alias (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            if options["dry_run"]:
                counts = rows_per_key(options["database"])
                self.stdout.write(
                    "kcp_rotate_keys (dry run): rows per key: " + ", ".join(f"{k} {n}" for k, n in counts.items())
                )
                return
            report = rotate_keys(batch_size=options["batch_size"], limit=options["limit"], using=options["database"])
        except ImproperlyConfigured as exc:
            raise CommandError(f"configuration: {exc}", returncode=4) from None
        for pk, problem in report.failed:
            self.stderr.write(f"row {pk}: {problem}")
        if options["verbosity"] >= 1:
            self.stdout.write(f"kcp_rotate_keys: {report.summary()}")
        if report.failed:
            ids = ", ".join(str(pk) for pk, _ in report.failed)
            raise CommandError(
                f"{len(report.failed)} row(s) could not be decrypted (ids {ids}): restore the missing key to "
                "KCP_ENCRYPTION_KEYS, or have staff look at altered values; the other rows were re-encrypted."
            )
