"""Moving stuck verifications on: a PENDING or UNKNOWN row is retried through its gateway, or handed to staff.

A row is stuck when it has made no progress (``updated_at``) for longer than a threshold: its
process died between the PENDING commit and KCP's answer, the database would not take the answer,
or KCP gave no trustworthy one. Retrying one row:

1. claim it in a short transaction (``SELECT ... FOR UPDATE SKIP LOCKED`` where the database has
   it) by writing a lease (``claimed_by``, ``claimed_until``) and counting the attempt. The claim
   itself is an UPDATE guarded by the same conditions, so two reconcilers never hold one row, even
   on SQLite where the SELECT locks nothing;
2. call the gateway with no lock held, through :func:`~kcp_django.verifications.ask_gateway` and
   :func:`~kcp_django.verifications.record_outcome` (the core's call and store), with the row's own
   ``ordr_idxx``: it is the same logical request, and if the first call did reach KCP, KCP's record
   and ours keep one order number for one refund check;
3. store the outcome only while the row is still open and the lease still ours, then send
   :data:`~kcp_django.signals.verification_finished`.

A row that has used its ``KCP_RECONCILE_MAX_ATTEMPTS`` retries, or cannot be retried at all (its
encryption key is gone, its merchant alias no longer exists), is marked ``needs_review``; its
``failure_reason`` is kept. Claiming sets ``updated_at``, so one row is retried at most once per
threshold, by one host, however many reconcilers run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from kcp_django import conf, core
from kcp_django.exceptions import AnswerNotStored, KcpError
from kcp_django.gateways.base import Gateway, VerificationRequest, refuse_test_double
from kcp_django.models import AccountVerification, VerificationState
from kcp_django.signals import verification_finished
from kcp_django.verifications.service import ask_gateway, record_outcome

__all__ = [
    "BUSY_LOOKS",
    "BUSY_PAUSE",
    "LEASE_MARGIN",
    "OPEN_STATES",
    "ReconcileReport",
    "lease_length",
    "longest_timeout",
    "reconcile",
    "retry_verification",
]

logger = logging.getLogger("kcp_django")

OPEN_STATES = (VerificationState.PENDING, VerificationState.UNKNOWN)
#: Added to the longest merchant TIMEOUT: how long a claimed row stays out of other reconcilers' reach.
LEASE_MARGIN = dt.timedelta(seconds=60)
#: How often, and how long apart, to look again when every free row is locked by other claims.
BUSY_LOOKS = 50
BUSY_PAUSE = 0.02


@dataclass
class ReconcileReport:
    """What one run did. ``retried`` counts gateway calls, split into the next five counts.

    ``superseded``: the outcome was not written because the row was settled meanwhile (the original
    request answered after all) or another reconciler took it over after our lease ran out.
    ``not_stored``: the database would not take the outcome; the row stays open for the next run.
    """

    retried: int = 0
    verified: int = 0
    rejected: int = 0
    still_unknown: int = 0
    not_stored: int = 0
    superseded: int = 0
    marked_for_review: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"retried {self.retried} (verified {self.verified}, rejected {self.rejected}, "
            f"still unknown {self.still_unknown}, superseded {self.superseded}, "
            f"not stored {self.not_stored}); marked for review {self.marked_for_review}"
        )


def reconcile(
    *,
    older_than: dt.timedelta,
    max_attempts: int | None = None,
    limit: int | None = None,
    using: str = "default",
) -> ReconcileReport:
    """Retry every PENDING/UNKNOWN row without progress for ``older_than``, or mark it for staff.

    ``max_attempts`` defaults to ``KCP_RECONCILE_MAX_ATTEMPTS``; ``limit`` caps the rows claimed in
    this run. Safe to run on several hosts at once.
    """
    max_attempts = conf.reconcile_max_attempts() if max_attempts is None else max_attempts
    lease = lease_length()
    owner = _owner_name()
    cutoff = timezone.now() - older_than
    report = ReconcileReport()
    db = using
    stuck = AccountVerification.objects.using(db).filter(
        state__in=OPEN_STATES, needs_review=False, updated_at__lte=cutoff
    )
    report.marked_for_review += _mark_exhausted(stuck.filter(reconcile_attempts__gte=max_attempts), max_attempts)
    retryable = stuck.filter(reconcile_attempts__lt=max_attempts)
    claimed = 0
    while limit is None or claimed < limit:
        pk = _claim(db, retryable, owner, lease)
        if pk is None:
            break
        claimed += 1
        _retry_claimed(db, pk, owner, max_attempts, report)
    return report


def retry_verification(pk: int, *, using: str = "default") -> ReconcileReport:
    """Retry one open row now, whatever its age or attempts: for staff who reviewed it.

    The row leaves ``needs_review`` while it is retried; it is marked again if the answer is still
    unknown and its attempts are used up. A row that is final, or claimed by a reconciler, is left
    alone (the report then shows no retry).
    """
    max_attempts = conf.reconcile_max_attempts()
    owner = _owner_name()
    report = ReconcileReport()
    candidates = AccountVerification.objects.using(using).filter(pk=pk, state__in=OPEN_STATES)
    if _claim(using, candidates, owner, lease_length(), needs_review=False) is not None:
        _retry_claimed(using, pk, owner, max_attempts, report)
    return report


def longest_timeout() -> dt.timedelta:
    """The longest ``TIMEOUT`` of the configured merchants: how long one gateway call may take."""
    return dt.timedelta(seconds=max(merchant.timeout for merchant in conf.all_merchants()))


def lease_length() -> dt.timedelta:
    """The longest TIMEOUT plus a margin: a live retry always finishes inside its lease."""
    return longest_timeout() + LEASE_MARGIN


def _owner_name() -> str:
    return f"{socket.gethostname()[:48]}:{os.getpid()}:{secrets.token_hex(4)}"


def _lease_free(now: dt.datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def _claim(
    db: str, candidates: QuerySet[AccountVerification], owner: str, lease: dt.timedelta, **also: object
) -> int | None:
    """Lease the oldest of ``candidates`` to ``owner`` and count the attempt; its pk, or None when none is left."""
    features = connections[db].features
    busy_looks = 0
    while True:
        now = timezone.now()
        free = candidates.filter(_lease_free(now))
        # SQLite has no row locks and serialises writers anyway: the guarded UPDATE is the claim there.
        lock = transaction.atomic(using=db) if features.has_select_for_update else contextlib.nullcontext()
        with lock:
            pick = free
            if features.has_select_for_update:
                pick = pick.select_for_update(skip_locked=features.has_select_for_update_skip_locked)
            pk = pick.order_by("updated_at", "pk").values_list("pk", flat=True).first()
            claimed = 0
            if pk is not None:
                claimed = free.filter(pk=pk).update(
                    claimed_by=owner,
                    claimed_until=now + lease,
                    updated_at=now,
                    reconcile_attempts=F("reconcile_attempts") + 1,
                    **also,
                )
            # InnoDB locks every row its sort reads, not only the one returned: while another
            # reconciler's claim is open, SKIP LOCKED can find nothing though rows are free.
            busy = pk is None and features.has_select_for_update_skip_locked and free.exists()
        if claimed:
            return pk
        if pk is None and not (busy and busy_looks < BUSY_LOOKS):
            return None
        if busy:
            busy_looks += 1
            time.sleep(BUSY_PAUSE)
        # Otherwise another reconciler took this row between our SELECT and UPDATE: look for the next one.


def _retry_claimed(db: str, pk: int, owner: str, max_attempts: int, report: ReconcileReport) -> None:
    row = AccountVerification.objects.using(db).get(pk=pk)
    try:
        gateway, request = _rebuild(row)
    except (ImproperlyConfigured, ImportError, KcpError) as exc:
        problem = str(exc) or type(exc).__name__
        _hand_to_staff(db, row, owner, f"kcp_reconcile cannot retry it: {problem}")
        report.marked_for_review += 1
        report.problems.append(f"row {row.pk} ({row.ordr_idxx}) marked for review: {problem}")
        return
    before = row.state
    report.retried += 1
    try:
        stored = record_outcome(
            row,
            ask_gateway(gateway, request),
            only_if={"state": OPEN_STATES, "claimed_by": owner},
            also={"claimed_by": "", "claimed_until": None},
            using=db,
        )
    except AnswerNotStored as exc:
        # The lease is left to expire: the next run retries the row after the threshold.
        report.not_stored += 1
        report.problems.append(str(exc))
        return
    if not stored:
        report.superseded += 1
        AccountVerification.objects.using(db).filter(pk=pk, claimed_by=owner).update(claimed_by="", claimed_until=None)
        return
    if row.state == VerificationState.VERIFIED:
        report.verified += 1
    elif row.state == VerificationState.REJECTED:
        report.rejected += 1
    else:
        report.still_unknown += 1
        if row.reconcile_attempts >= max_attempts:
            report.marked_for_review += _mark_exhausted(
                AccountVerification.objects.using(db).filter(pk=pk, state__in=OPEN_STATES, needs_review=False),
                max_attempts,
            )
    logger.info(
        "kcp_django: kcp_reconcile retried %s (row %s, attempt %s): %s -> %s res_cd=%s",
        row.ordr_idxx,
        row.pk,
        row.reconcile_attempts,
        before,
        row.state,
        row.res_cd or "-",
    )
    core.send_after_commit(verification_finished, sender=AccountVerification, using=db, verification=row)


def _rebuild(row: AccountVerification) -> tuple[Gateway, VerificationRequest]:
    """The row's gateway and the request it stands for (decrypting the account number)."""
    merchant = conf.get_merchant(row.merchant)
    gateway_class = import_string(merchant.backend)
    refuse_test_double(gateway_class, merchant)  # never "verified" by the sandbox in real mode
    gateway: Gateway = gateway_class(merchant)
    account_no = row.account_no
    if not account_no:
        raise KcpError(f"row {row.pk} has no account number stored")
    request = VerificationRequest(
        ordr_idxx=row.ordr_idxx,
        bank_code=row.bank_code,
        account_no=account_no,
        owner_nm=row.owner_nm,
        cust_ip=row.client_ip or "",
    )
    return gateway, request


def _mark_exhausted(rows: QuerySet[AccountVerification], max_attempts: int) -> int:
    """Hand rows whose retries are used up to staff; a PENDING row gets a reason, others keep theirs."""
    now = timezone.now()
    rows = rows.filter(_lease_free(now))
    silent = rows.filter(failure_reason="").update(
        needs_review=True,
        updated_at=now,
        failure_reason=f"kcp_reconcile: still no stored outcome after {max_attempts} retries",
    )
    return silent + rows.update(needs_review=True, updated_at=now)


def _hand_to_staff(db: str, row: AccountVerification, owner: str, reason: str) -> None:
    failure_reason = f"{row.failure_reason}; {reason}" if row.failure_reason else reason
    AccountVerification.objects.using(db).filter(pk=row.pk, claimed_by=owner).update(
        needs_review=True, failure_reason=failure_reason, claimed_by="", claimed_until=None, updated_at=timezone.now()
    )
    logger.warning("kcp_django: %s (row %s) needs staff review: %s", row.ordr_idxx, row.pk, reason)
