"""Destroying personal data once a verification or a refund is old enough (파기, Korea's Personal Information
Protection Act).

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

A refund keeps its own copy of the account it paid into. A final refund (COMPLETED, or REJECTED:
nothing more will happen to it; ACCEPTED still waits for KCP's notice) created before the cutoff
loses the same things: its account number (NULL, which also marks it purged), blind index, holder
name, and its stored answer but the audit fields. It keeps its kind, payment (``tno``), amounts,
state, KCP's codes, ``reason``, ``reference``, who asked and resolved it, and ``account_last4``.
Refunds PENDING, ACCEPTED, UNKNOWN or for review are left, and counted, as verifications are.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from kcp_django.maintenance.batches import in_locked_batches
from kcp_django.models import FINAL_STATES, AccountVerification, Refund, RefundState

__all__ = [
    "AUDIT_FIELDS",
    "DEFAULT_BATCH_SIZE",
    "FINAL_REFUND_STATES",
    "PurgeReport",
    "audit_part",
    "purge_personal_data",
    "purgeable",
    "purgeable_refunds",
]

#: Answer fields kept in ``raw_response`` after a purge.
AUDIT_FIELDS = frozenset({"res_cd", "res_msg", "tno", "app_time", "ordr_idxx"})
DEFAULT_BATCH_SIZE = 500
#: Refund states after which nothing more happens to a refund (docs/refunds.md).
FINAL_REFUND_STATES = frozenset({RefundState.COMPLETED, RefundState.REJECTED})


@dataclass
class PurgeReport:
    """``purged`` is what was purged, or would be with ``dry_run``; ``left_open`` rows are older but not final.

    ``purged`` and ``left_open`` count verifications; ``refunds_purged`` and ``refunds_left_open`` refunds.
    """

    cutoff: dt.datetime
    dry_run: bool
    purged: int = 0
    left_open: int = 0
    refunds_purged: int = 0
    refunds_left_open: int = 0

    def summary(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        return (
            f"{verb} {self.purged} final rows created before {self.cutoff:%Y-%m-%d %H:%M %Z}; "
            f"left {self.left_open} older rows that are not final (PENDING/UNKNOWN/for review); "
            f"refunds: {verb} {self.refunds_purged} final (COMPLETED/REJECTED), "
            f"left {self.refunds_left_open} not final (PENDING/ACCEPTED/UNKNOWN/for review)"
        )


def purgeable(cutoff: dt.datetime, using: str = "default") -> QuerySet[AccountVerification]:
    return AccountVerification.objects.using(using).filter(
        state__in=FINAL_STATES, purged_at__isnull=True, created_at__lt=cutoff
    )


def purgeable_refunds(cutoff: dt.datetime, using: str = "default") -> QuerySet[Refund]:
    """Final refunds created before ``cutoff`` that still hold an account number (a purged one holds NULL)."""
    return Refund.objects.using(using).filter(
        state__in=FINAL_REFUND_STATES, needs_review=False, account_no__isnull=False, created_at__lt=cutoff
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
    """Remove account numbers and names from final verifications and refunds created more than ``older_than`` ago."""
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
    report.refunds_left_open = (
        Refund.objects.using(using)
        .filter(created_at__lt=cutoff, account_no__isnull=False)
        .exclude(state__in=FINAL_REFUND_STATES, needs_review=False)
        .count()
    )
    candidates = purgeable(cutoff, using)
    refunds = purgeable_refunds(cutoff, using)
    if dry_run:
        report.purged = candidates.count()
        report.refunds_purged = refunds.count()
        return report

    report.purged = _destroy(candidates, batch_size, stamp="purged_at")
    report.refunds_purged = _destroy(refunds, batch_size)
    return report


def _destroy(rows: QuerySet[Any], batch_size: int, *, stamp: str | None = None) -> int:
    """Purge ``rows`` (verifications or refunds) batch by batch; ``stamp`` names a column that records
    when. Returns how many were purged: a row another run purged meanwhile is not counted."""
    purged = 0

    def purge(batch: list[Any]) -> None:
        nonlocal purged
        now = timezone.now()
        stamps = {"updated_at": now, **({stamp: now} if stamp else {})}
        for row in batch:
            purged += rows.filter(pk=row.pk).update(
                account_no=None, account_index="", owner_nm="", raw_response=audit_part(row.raw_response), **stamps
            )

    in_locked_batches(rows.only("pk", "raw_response"), purge, batch_size=batch_size)
    return purged
