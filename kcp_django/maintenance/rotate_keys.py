"""Re-encrypting stored account numbers under the newest key of ``KCP_ENCRYPTION_KEYS``.

Rotation is: prepend a new key, run :func:`rotate_keys` until nothing is left on older keys, then
drop the old key. Only rows whose token names another key than the first are read, in primary-key
order, one transaction per batch (rows another transaction holds are skipped where the database
can skip locked rows), so a run that is stopped loses at most its current batch and the next run
carries on where it left off. A value that cannot be decrypted (altered, or its key is gone) is
reported with its row id and left as it is; it is never re-encrypted as garbage.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import connections, models, transaction
from django.db.models.functions import Left
from django.db.models.lookups import Exact

from kcp_django.crypto import FORMAT_VERSION, KeyRing
from kcp_django.exceptions import DecryptionError
from kcp_django.fields import reencrypt
from kcp_django.models import AccountVerification

logger = logging.getLogger("kcp_django")

DEFAULT_BATCH_SIZE = 500


@dataclass
class RotationReport:
    """``remaining`` counts rows still under an older key after the run (failures included)."""

    newest_key: str
    rotated: int = 0
    remaining: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"newest key {self.newest_key}: re-encrypted {self.rotated}, could not decrypt {len(self.failed)}, "
            f"left on older keys {self.remaining}"
        )


def _token_prefix(key_id: str) -> str:
    return f"{FORMAT_VERSION}${key_id}$"


def _encrypted_with(key_id: str) -> Exact:
    # The column holds "kcp1$<key id>$...": comparing its head needs no decryption.
    prefix = _token_prefix(key_id)
    return Exact(Left("account_no", len(prefix), output_field=models.TextField()), prefix)


def _stored(using: str) -> models.QuerySet[AccountVerification]:
    return AccountVerification.objects.using(using).filter(account_no__isnull=False)


def on_older_keys(using: str = "default") -> models.QuerySet[AccountVerification]:
    """Rows whose account number was not encrypted with the newest key."""
    return _stored(using).exclude(_encrypted_with(KeyRing.from_settings().primary_key_id))


def rows_per_key(using: str = "default") -> dict[str, int]:
    """How many stored account numbers each configured key encrypted, plus ``"(other)"`` for the rest."""
    counts = {
        key_id: _stored(using).filter(_encrypted_with(key_id)).count() for key_id in KeyRing.from_settings().key_ids
    }
    counts["(other)"] = _stored(using).count() - sum(counts.values())
    return counts


def rotate_keys(
    *, batch_size: int = DEFAULT_BATCH_SIZE, limit: int | None = None, using: str = "default"
) -> RotationReport:
    """Re-encrypt up to ``limit`` rows (all by default) under the newest key, ``batch_size`` per transaction."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    report = RotationReport(newest_key=KeyRing.from_settings().primary_key_id)
    stale = on_older_keys(using)
    features = connections[using].features
    after_pk = 0
    while limit is None or report.rotated < limit:
        size = batch_size if limit is None else min(batch_size, limit - report.rotated)
        with transaction.atomic(using=using):
            batch = stale.filter(pk__gt=after_pk).order_by("pk").only("pk", "account_no")
            if features.has_select_for_update:
                batch = batch.select_for_update(skip_locked=features.has_select_for_update_skip_locked)
            rows = list(batch[:size])
            if not rows:
                break
            for row in rows:
                report.rotated += _rotate_row(row, report)
            after_pk = rows[-1].pk
    report.remaining = stale.count()
    return report


def _rotate_row(row: AccountVerification, report: RotationReport) -> int:
    try:
        changed = reencrypt(row, "account_no")
    except DecryptionError as exc:
        # The message names the row and the field, never the value.
        report.failed.append((row.pk, str(exc)))
        logger.error("kcp_django: kcp_rotate_keys left row %s as it is: %s", row.pk, exc)
        return 0
    if changed:
        row.save(update_fields=["account_no"])
    return int(changed)
