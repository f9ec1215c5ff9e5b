"""``manage.py kcp_rotate_keys``: re-encrypt every EncryptedTextField's values under the newest key.

Every installed model's encrypted fields (kcp_django's and the shop's own), each reported as
``app_label.Model.field: N rotated, M left``. Resumable: stop it at any time and run it again. Exit
status 1 when a value could not be decrypted (each is reported with its row id and left as it is).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandParser

from kcp_django.maintenance.rotate_keys import (
    DEFAULT_BATCH_SIZE,
    encrypted_fields,
    field_label,
    rotate_keys,
    rows_per_key,
)
from kcp_django.management.exit_codes import configuration_error, needs_a_person, usage_error


class Command(BaseCommand):
    help = (
        "Re-encrypt the values of every EncryptedTextField of every installed model stored under older "
        "KCP_ENCRYPTION_KEYS with the first (newest) key."
    )

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
            raise usage_error("--batch-size must be at least 1.")
        try:
            if options["dry_run"]:
                for model_field in encrypted_fields():
                    counts = rows_per_key(options["database"], model_field)
                    per_key = ", ".join(f"{k} {n}" for k, n in counts.items())
                    self.stdout.write(f"kcp_rotate_keys (dry run): {field_label(model_field)} rows per key: {per_key}")
                return
            report = rotate_keys(batch_size=options["batch_size"], limit=options["limit"], using=options["database"])
        except ImproperlyConfigured as exc:
            raise configuration_error(exc) from None
        for one in report.fields:
            for pk, problem in one.failed:
                self.stderr.write(f"{one.label} row {pk}: {problem}")
        if options["verbosity"] >= 1:
            for one in report.fields:
                self.stdout.write(f"kcp_rotate_keys: {one.summary()}")
            self.stdout.write(f"kcp_rotate_keys: {report.summary()}")
        if report.failed:
            where = "; ".join(
                f"{one.label} ids {', '.join(str(pk) for pk, _ in one.failed)}" for one in report.fields if one.failed
            )
            raise needs_a_person(
                f"{len(report.failed)} row(s) could not be decrypted ({where}): restore the missing key to "
                "KCP_ENCRYPTION_KEYS, or have staff look at altered values; the other rows were re-encrypted."
            )
