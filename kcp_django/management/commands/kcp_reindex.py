"""``manage.py kcp_reindex --old-key-env NAME``: rebuild blind indexes under a new ``KCP_INDEX_KEY``.

The new key is the configured ``KCP_INDEX_KEY``; the old one is read from the environment variable
named by ``--old-key-env``, so it appears in no shell history or process list. Resumable: stop it
at any time and run it again. Exit status 1 when an index could not be rebuilt (each is reported
with its row id and left as it is).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import CommandParser

from kcp_django.crypto import decode_key
from kcp_django.maintenance.reindex import rebuild_blind_indexes
from kcp_django.maintenance.rotate_keys import DEFAULT_BATCH_SIZE
from kcp_django.management.exit_codes import configuration_error, usage_error
from kcp_django.management.maintenance_command import MaintenanceCommand


class Command(MaintenanceCommand):
    help = (
        "Recompute the blind index (e.g. account_index) of every row under the configured KCP_INDEX_KEY, "
        "after the key changed."
    )
    default_batch_size = DEFAULT_BATCH_SIZE
    limit_help = "read at most this many rows in this run"

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--old-key-env",
            required=True,
            metavar="NAME",
            help="name of the environment variable that holds the previous KCP_INDEX_KEY (never the key itself)",
        )

    def run(self, options: dict[str, Any]) -> None:
        name = options["old_key_env"]
        encoded = os.environ.get(name)
        if not encoded:
            raise usage_error(
                f"--old-key-env: the environment variable {name} is not set; export the previous "
                f"KCP_INDEX_KEY as {name} (the option takes the variable's name, not the key)."
            )
        try:
            old_key = decode_key(encoded, name=f"--old-key-env ({name})")
            report = rebuild_blind_indexes(
                old_key, batch_size=options["batch_size"], limit=options["limit"], using=options["database"]
            )
        except ValueError as exc:
            raise configuration_error(exc) from None
        self.finish_fields(
            options,
            report,
            totals=None,
            failed="{count} index(es) could not be rebuilt ({where}); the other rows were rebuilt.",
        )
