"""``manage.py kcp_rotate_keys``: re-encrypt every EncryptedTextField's values under the newest key.

Every installed model's encrypted fields (kcp_django's and the shop's own), each reported as
``app_label.Model.field: N rotated, M left``. Resumable: stop it at any time and run it again. Exit
status 1 when a value could not be decrypted (each is reported with its row id and left as it is).
"""

from __future__ import annotations

from typing import Any

from kcp_django.maintenance.rotate_keys import (
    DEFAULT_BATCH_SIZE,
    encrypted_fields,
    field_label,
    rotate_keys,
    rows_per_key,
)
from kcp_django.management.maintenance_command import MaintenanceCommand


class Command(MaintenanceCommand):
    help = (
        "Re-encrypt the values of every EncryptedTextField of every installed model stored under older "
        "KCP_ENCRYPTION_KEYS with the first (newest) key."
    )
    default_batch_size = DEFAULT_BATCH_SIZE
    limit_help = "re-encrypt at most this many rows in this run"
    dry_run_help = "only count the rows under each key"

    def run(self, options: dict[str, Any]) -> None:
        if options["dry_run"]:
            for model_field in encrypted_fields():
                counts = rows_per_key(options["database"], model_field)
                per_key = ", ".join(f"{k} {n}" for k, n in counts.items())
                self.stdout.write(f"kcp_rotate_keys (dry run): {field_label(model_field)} rows per key: {per_key}")
            return
        report = rotate_keys(batch_size=options["batch_size"], limit=options["limit"], using=options["database"])
        self.finish_fields(
            options,
            report,
            totals=report.summary(),
            failed="{count} row(s) could not be decrypted ({where}): restore the missing key to "
            "KCP_ENCRYPTION_KEYS, or have staff look at altered values; the other rows were re-encrypted.",
        )
