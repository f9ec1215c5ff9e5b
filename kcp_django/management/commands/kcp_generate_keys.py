"""Print fresh keys for ``KCP_ENCRYPTION_KEYS`` and ``KCP_INDEX_KEY``, to paste into the server's environment."""

from __future__ import annotations

import secrets
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kcp_django.conf import KEY_ID_PATTERN


def _new_key() -> str:
    return secrets.token_urlsafe(32)  # 32 random bytes, urlsafe base64 without padding


class Command(BaseCommand):
    help = "Print a new encryption key and blind-index key as environment lines (KEY=value)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--key-id", default="k1", help="Id stored with every value it encrypts (default: k1).")

    def handle(self, *args: Any, key_id: str, **options: Any) -> None:
        if not KEY_ID_PATTERN.fullmatch(key_id):
            raise CommandError("--key-id must be 1-16 letters, digits, '-' or '_'.")
        self.stdout.write(f"KCP_ENCRYPTION_KEYS={key_id}:{_new_key()}")
        self.stdout.write(f"KCP_INDEX_KEY={_new_key()}")
        self.stdout.write(
            "# To rotate, prepend a new key (KCP_ENCRYPTION_KEYS=k2:<new>,k1:<old>) and keep the old ones "
            "until every value is re-encrypted; after changing KCP_INDEX_KEY, run kcp_reindex (docs/security.md)."
        )
