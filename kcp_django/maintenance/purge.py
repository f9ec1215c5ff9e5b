"""Destroying personal data once a verification is old enough (파기, Korea's Personal Information Protection Act).

A final row (VERIFIED or REJECTED) created before the cutoff loses:

* the encrypted account number (set to NULL) and its blind index (an HMAC of the number: with the
  index key, a guess could be confirmed against it);
* the holder's name;
* every field of the stored answer except the audit ones (:data:`AUDIT_FIELDS`): masked names and
  numbers included, and pp_cli's stderr.

It keeps what an audit of a refund check needs: ``state``, ``res_cd``, ``res_msg``, ``tno``,
``app_time``, ``ordr_idxx``, the bank code, the shop's ``reference``, who asked and when, and
``account_last4``: four digits, already the masked form shown everywhere, which let staff match a
refund to a statement. ``purged_at`` records when.

Rows still open (PENDING, UNKNOWN, or marked for staff review) are not purged: they are unfinished
business for ``kcp_reconcile`` or staff; the report counts them so they do not pile up unseen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from kcp_django.maintenance.batches import in_locked_batches
from kcp_django.models import FINAL_STATES, AccountVerification

#: Answer fields kept in ``raw_response`` after a purge.
AUDIT_FIELDS = frozenset({"res_cd", "res_msg", "tno", "app_time", "ordr_idxx"})
DEFAULT_BATCH_SIZE = 500


@dataclass
class PurgeReport:
    """``purged`` is what was purged, or would be with ``dry_run``; ``left_open`` rows are older but not final."""

    cutoff: dt.datetime
    dry_run: bool
    purged: int = 0
    left_open: int = 0

    def summary(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        return (
            f"{verb} {self.purged} final rows created before {self.cutoff:%Y-%m-%d %H:%M %Z}; "
            f"left {self.left_open} older rows that are not final (PENDING/UNKNOWN/for review)"
        )


def purgeable(cutoff: dt.datetime, using: str = "default") -> QuerySet[AccountVerification]:
    return AccountVerification.objects.using(using).filter(
        state__in=FINAL_STATES, purged_at__isnull=True, created_at__lt=cutoff
    )


def audit_part(raw_response: Any) -> dict[str, Any]:
    """What of a stored answer survives a purge."""
    if not isinstance(raw_response, dict):
        return {}
    return {key: value for key, value in raw_response.items() if key in AUDIT_FIELDS}


def purge_personal_data(
    *,
    older_than: dt.timedelta,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    using: str = "default",
) -> PurgeReport:
    """Remove account numbers and names from final rows created more than ``older_than`` ago."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    cutoff = timezone.now() - older_than
    report = PurgeReport(cutoff=cutoff, dry_run=dry_run)
    report.left_open = (
        AccountVerification.objects.using(using)
        .filter(created_at__lt=cutoff, purged_at__isnull=True)
        .exclude(state__in=FINAL_STATES)
        .count()
    )
    candidates = purgeable(cutoff, using)
    if dry_run:
        report.purged = candidates.count()
        return report

    def purge(rows: list[AccountVerification]) -> None:
        now = timezone.now()
        for row in rows:
            report.purged += candidates.filter(pk=row.pk).update(
                account_no=None,
                account_index="",
                owner_nm="",
                raw_response=audit_part(row.raw_response),
                purged_at=now,
                updated_at=now,
            )

    in_locked_batches(candidates.only("pk", "raw_response"), purge, batch_size=batch_size)
    return report
