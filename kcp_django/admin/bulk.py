"""Verifying the refund accounts of many rows: the run's record, its items, and running items with a
bound on concurrent gateway calls.

Every item gets its ``ordr_idxx`` when the run is created. The service answers an ``ordr_idxx`` it
has seen from the stored row, so an item that runs twice (a retried task, two workers, a second
click) still makes at most one gateway call. The admin runs small selections here directly and
hands larger ones to :mod:`kcp_django.admin.tasks`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.utils import timezone

from kcp_django import conf
from kcp_django.admin.crew import run_together
from kcp_django.admin.sources import AccountInput, AccountSource
from kcp_django.exceptions import DuplicateOrderError, InvalidRequest
from kcp_django.models import AccountVerification, BulkVerification, BulkVerificationItem, VerificationState
from kcp_django.validation import NormalizedInput, generate_ordr_idxx, normalize
from kcp_django.verifications import Claim, claim_many, send_claimed, settle_lost_call

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

logger = logging.getLogger("kcp_django")

SKIPPED = "SKIPPED"
#: How long a finished run stays on the changelist's progress panel.
RECENTLY_FINISHED = dt.timedelta(hours=1)
#: Runs older than this are no longer shown, finished or not.
SHOWN_FOR = dt.timedelta(days=7)
#: Items created per INSERT when a run is recorded.
ITEM_BATCH_SIZE = 500
#: Source rows a worker reads per query.
SOURCE_BATCH_SIZE = 16
#: Finished items written per UPDATE: one statement for many rows, while the run's progress still
#: moves every few dozen rows.
RECORD_BATCH_SIZE = 32
#: Threads of a running chunk that read and claim batches while the others call. One keeps a batch
#: ahead of the calls; a second (measured at L = 5 ms) only added contention for the interpreter.
PREPARING_THREADS = 1


@dataclass
class BulkCounts:
    verified: int = 0
    rejected: int = 0
    unknown: int = 0
    skipped: int = 0

    @property
    def sent(self) -> int:
        """Rows sent to KCP (an answer or none); skipped rows never were."""
        return self.verified + self.rejected + self.unknown

    @property
    def total(self) -> int:
        """Every row of the run: the ones sent and the ones skipped."""
        return self.sent + self.skipped

    def as_dict(self) -> dict[str, int]:
        return {"verified": self.verified, "rejected": self.rejected, "unknown": self.unknown, "skipped": self.skipped}

    @classmethod
    def from_outcomes(cls, outcomes: Iterable[str]) -> BulkCounts:
        tally = Counter(outcomes)
        return cls(
            verified=tally[VerificationState.VERIFIED],
            rejected=tally[VerificationState.REJECTED],
            unknown=tally[VerificationState.UNKNOWN] + tally[VerificationState.PENDING],
            skipped=tally[SKIPPED],
        )


def start_bulk(
    *,
    model: type[models.Model],
    source: AccountSource,
    object_ids: Sequence[Any],
    confirmation_token: str,
    merchant: str,
    in_background: bool,
    user: AbstractBaseUser | None = None,
    client_ip: str | None = None,
) -> tuple[BulkVerification, bool]:
    """Record a run over ``object_ids`` of ``model``; ``(run, False)`` if ``confirmation_token``
    already started one."""
    existing = BulkVerification.objects.filter(confirmation_token=confirmation_token).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            bulk = BulkVerification.objects.create(
                source_model=model._meta.label_lower,
                source_fields=source.as_dict(),
                merchant=merchant,
                confirmation_token=confirmation_token,
                total=len(object_ids),
                in_background=in_background,
                requested_by_id=getattr(user, "pk", None),
                client_ip=client_ip or None,
            )
            # A batch of items at a time, so memory does not grow with the selection.
            for start in range(0, len(object_ids), ITEM_BATCH_SIZE):
                BulkVerificationItem.objects.bulk_create(
                    [
                        BulkVerificationItem(bulk=bulk, object_id=str(pk), ordr_idxx=generate_ordr_idxx())
                        for pk in object_ids[start : start + ITEM_BATCH_SIZE]
                    ]
                )
    except IntegrityError:
        # The same confirmation submitted twice at once: the other request made the run.
        return BulkVerification.objects.get(confirmation_token=confirmation_token), False
    return bulk, True


@dataclass(frozen=True)
class _Work:
    item: BulkVerificationItem
    account: AccountInput | None
    error: str = ""
    #: The item's PENDING row (or the row already there), once claimed.
    claim: Claim | None = None


def run_items(item_ids: Iterable[int], *, concurrency: int | None = None) -> BulkCounts:
    """Verify the unfinished items among ``item_ids``, at most ``concurrency`` calls at once."""
    items = list(
        BulkVerificationItem.objects.filter(pk__in=list(item_ids), finished_at__isnull=True)
        .only("pk", "bulk_id", "object_id", "ordr_idxx")
        .order_by("pk")
    )
    # A chunk's items belong to one run (rarely a few): each run read once, not joined to every item.
    runs = BulkVerification.objects.select_related("requested_by").in_bulk({item.bulk_id for item in items})
    for item in items:
        item.bulk = runs[item.bulk_id]
    recorder = _Recorder()
    bound = concurrency or conf.kcp_settings.BULK_CONCURRENCY
    try:
        outcomes = _run_bounded(
            partial(_run_one, recorder=recorder),
            # With calls in parallel, the first batch is one call per slot: the calls start sooner.
            _batches(items, first_size=bound if bound > 1 else SOURCE_BATCH_SIZE),
            len(items),
            bound,
        )
    finally:
        recorder.flush()
    for bulk_id in {item.bulk_id for item in items}:
        _finish_if_done(bulk_id)
    return BulkCounts.from_outcomes(outcomes)


def _batches(items: list[BulkVerificationItem], *, first_size: int) -> Iterator[Callable[[], list[_Work]]]:
    """The items, :data:`SOURCE_BATCH_SIZE` at a time, each batch as the step that reads its source
    rows and claims them (:func:`_prepared`): the runner takes these steps on a thread of their own,
    so one batch is read and claimed while the calls of the one before are made. The chunk's first
    batch has at most ``first_size`` items (one for each call in flight): the chunk's first calls
    wait for it alone."""
    size = max(1, min(first_size, SOURCE_BATCH_SIZE))
    by_bulk: dict[int, list[BulkVerificationItem]] = {}
    for item in items:
        by_bulk.setdefault(item.bulk_id, []).append(item)
    for bulk_items in by_bulk.values():
        bulk = bulk_items[0].bulk
        model = apps.get_model(bulk.source_model)
        source = AccountSource.from_dict(bulk.source_fields)
        rows_of = model._default_manager.all()
        if columns := _source_columns(model, source):
            rows_of = rows_of.only(*columns)
        start = 0
        while start < len(bulk_items):
            yield partial(_prepared, bulk_items[start : start + size], rows_of, source)
            start += size
            size = SOURCE_BATCH_SIZE


def _prepared(batch: list[BulkVerificationItem], rows_of: models.QuerySet[Any], source: AccountSource) -> list[_Work]:
    """Each item of ``batch`` (items of one run) with its account read from its source row among
    ``rows_of``, in one query, and its PENDING row claimed (:func:`_claimed`)."""
    bulk = batch[0].bulk
    rows = {str(pk): row for pk, row in rows_of.in_bulk([i.object_id for i in batch]).items()}
    return _claimed([_work_for(item, rows.get(item.object_id), source, bulk) for item in batch], bulk)


def _claimed(batch: list[_Work], bulk: BulkVerification) -> list[_Work]:
    """``batch`` with the PENDING rows of its valid items written, in one INSERT (the service's
    :func:`~kcp_django.verifications.claim_many`); an item that cannot be sent gets its reason."""
    works = list(batch)
    valid: list[tuple[int, NormalizedInput]] = []
    for n, work in enumerate(works):
        if work.account is None:
            continue
        try:
            valid.append((n, normalize(**work.account.input_kwargs(), ordr_idxx=work.item.ordr_idxx)))
        except InvalidRequest as exc:
            works[n] = replace(work, account=None, error="; ".join(f"{e.field}: {e.rule}" for e in exc.errors))
    if not valid:
        return works
    try:
        claims = claim_many(
            [data for _, data in valid], merchant=bulk.merchant, user=bulk.requested_by, client_ip=bulk.client_ip
        )
    except Exception as exc:
        logger.exception("kcp_django: bulk run %s: rows could not be claimed", bulk.pk)
        for n, _ in valid:
            works[n] = replace(works[n], account=None, error=f"error: {type(exc).__name__}")
        return works
    for (n, _), claim in zip(valid, claims, strict=True):
        if isinstance(claim, DuplicateOrderError):
            # The row changed since this item first ran: its order number belongs to the old account.
            works[n] = replace(works[n], account=None, error="ordr_idxx: used for a different account")
        else:
            works[n] = replace(works[n], claim=claim)
    return works


def _source_columns(model: type[models.Model], source: AccountSource) -> list[str] | None:
    """The columns the source reads, when every path names a plain column of ``model``; None (all
    columns) when one follows a relation or names a property or method, which may read any."""
    paths = [path for path in source.as_dict().values() if path]
    columns = []
    for path in paths:
        try:
            field = model._meta.get_field(path)
        except FieldDoesNotExist:
            return None
        if not getattr(field, "concrete", False) or field.is_relation:
            return None
        columns.append(path)
    return columns


def _work_for(
    item: BulkVerificationItem, row: models.Model | None, source: AccountSource, bulk: BulkVerification
) -> _Work:
    if row is None:
        return _Work(item, None, "source row no longer exists")
    try:
        return _Work(item, source.read(row, bulk.merchant))
    except Exception as exc:
        logger.exception("kcp_django: cannot read %s pk=%s", bulk.source_model, item.object_id)
        return _Work(item, None, f"cannot read the row: {type(exc).__name__}")


def _run_one(work: _Work, slot: AbstractContextManager[object] | None = None, *, recorder: _Recorder) -> str:
    item = work.item
    if work.claim is None:
        recorder.add(item, error=work.error)
        return SKIPPED
    try:
        verification = send_claimed(work.claim, gateway_slot=slot)
    except Exception as exc:
        logger.exception("kcp_django: bulk item %s failed", item.ordr_idxx)
        recorder.add(item, error=f"error: {type(exc).__name__}")
        return SKIPPED
    if verification.state == VerificationState.PENDING:
        # Another run of this item called KCP and has no answer stored: it is still in flight on
        # another worker, or its worker died during the call. Never sent again from here; once the
        # call cannot be running any more, the row is UNKNOWN for kcp_reconcile.
        if settle_lost_call(verification):
            logger.warning(
                "kcp_django: bulk item %s: its call was made by a worker that stopped before storing an "
                "answer; marked UNKNOWN for kcp_reconcile",
                item.ordr_idxx,
            )
        else:
            logger.warning(
                "kcp_django: bulk item %s: its call was made elsewhere and has no answer yet; "
                "it stays PENDING for kcp_reconcile",
                item.ordr_idxx,
            )
    recorder.add(item, verification=verification)
    return str(verification.state)


class _Recorder:
    """Marks items finished :data:`RECORD_BATCH_SIZE` at a time, in one UPDATE each time.

    Called from every thread of a chunk; the thread that fills a batch writes it, on its own
    connection. An item that has its verification is linked to it through its own ``ordr_idxx``
    (the verification's is unique), so the batch's UPDATE is the same statement whatever its rows.
    A skipped item (rare) is written at once, with its reason. An item not yet written when its
    worker dies is still unfinished: the chunk's next run asks the service again, which answers
    from the stored row without calling KCP.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[int] = []

    def add(
        self, item: BulkVerificationItem, *, verification: AccountVerification | None = None, error: str = ""
    ) -> None:
        if verification is None:
            BulkVerificationItem.objects.filter(pk=item.pk, finished_at__isnull=True).update(
                error=error[:200], finished_at=timezone.now()
            )
            return
        with self._lock:
            self._pending.append(item.pk)
            if len(self._pending) < RECORD_BATCH_SIZE:
                return
            batch, self._pending = self._pending, []
        _write_verified(batch)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            _write_verified(batch)


def _write_verified(item_pks: list[int]) -> None:
    verification = AccountVerification.objects.filter(ordr_idxx=OuterRef("ordr_idxx")).values("pk")[:1]
    BulkVerificationItem.objects.filter(pk__in=item_pks, finished_at__isnull=True).update(
        verification_id=Subquery(verification), finished_at=timezone.now()
    )


def _run_bounded(
    function: Callable[..., str], batches: Iterable[Callable[[], list[_Work]]], size: int, concurrency: int
) -> list[str]:
    """``function`` over the ``size`` pieces of work that ``batches`` prepare, with at most
    ``concurrency`` gateway calls in flight.

    Two stages, each on threads of its own (:mod:`~kcp_django.admin.crew`: each thread has its own
    connection and is kept from one chunk to the next). Preparing threads read and claim a batch
    (:data:`PREPARING_THREADS` at once); calling threads take the prepared pieces one by one. There
    are more calling threads than calls: while some wait on the gateway, others store the answers
    they got, so the gateway is kept busy instead of waiting on the database between calls. This
    thread prepares the first batch itself, on the connection it already holds and before any
    other thread competes for the interpreter, then hands the others over. An error while preparing
    a batch or running a piece stops the handing over and is raised here once every thread has
    finished what it holds.
    """
    if concurrency <= 1 or size <= 1 or connection.in_atomic_block:
        # Inside a transaction other connections cannot see the items yet: stay on this one.
        return [function(w) for prepare in batches for w in prepare()]
    # Bounded: rows are claimed (their PENDING row written) a batch or two ahead of the calls, not
    # the whole chunk ahead, so a row's call starts soon after the row is written.
    steps = iter(batches)
    first = next(steps, None)
    to_prepare: queue.Queue[Callable[[], list[_Work]] | None] = queue.Queue(maxsize=1)
    to_call: queue.Queue[_Work | None] = queue.Queue(maxsize=max(SOURCE_BATCH_SIZE, concurrency))
    for w in first() if first is not None else []:
        to_call.put(w)
    outcomes: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    slot = _CallSlots(concurrency)

    def prepare() -> None:
        while (step := to_prepare.get()) is not None:
            if failures:
                continue  # something before failed: take the rest off the queue, prepare nothing
            try:
                works = step()
            except BaseException as exc:
                failures.append(exc)
                continue
            for w in works:
                to_call.put(w)

    def call() -> None:
        # A piece already waiting is called at once; a thread with nothing to do yet connects while
        # it waits, so that an answer is stored without waiting for a new connection. If the
        # database cannot be reached now, each piece meets (and records) that on its own below.
        try:
            w = to_call.get_nowait()
        except queue.Empty:
            with contextlib.suppress(DatabaseError):
                connection.ensure_connection()
            w = to_call.get()
        while w is not None:
            try:
                outcome = function(w, slot)
            except BaseException as exc:
                # Go on with the next piece (its row is claimed: better called than left PENDING),
                # so that no preparing thread waits forever to hand over its pieces.
                failures.append(exc)
            else:
                with lock:
                    outcomes.append(outcome)
            w = to_call.get()

    threads = min(size, concurrency + _spare_threads(concurrency))
    preparing = run_together([prepare] * PREPARING_THREADS)
    calling = run_together([call] * threads)
    try:
        for step in steps:
            if failures:
                break
            to_prepare.put(step)
    finally:
        # Whatever happens, every thread finishes what it was handed, then is free again.
        for _ in range(PREPARING_THREADS):
            to_prepare.put(None)
        preparing()
        for _ in range(threads):
            to_call.put(None)
        calling()
    if failures:
        raise failures[0]
    return outcomes


class _CallSlots:
    """At most ``size`` gateway calls in flight.

    A call that ends gives the interpreter up at once (``time.sleep(0)``), so the thread waiting for
    its slot starts the next call now, not once this thread has stored its answer and waits on the
    database.
    """

    def __init__(self, size: int) -> None:
        self._free = threading.BoundedSemaphore(size)

    def __enter__(self) -> None:
        self._free.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._free.release()
        time.sleep(0)


def _spare_threads(concurrency: int) -> int:
    """Calling threads beyond the calls in flight: enough to store answers while every slot is busy,
    as long as that takes less than half as long as a gateway call."""
    return max(1, concurrency // 2)


def skip_items(bulk: BulkVerification, item_ids: Sequence[int], *, reason: str) -> None:
    """Mark unfinished items as skipped for ``reason`` (e.g. they could not be queued)."""
    bulk.items.filter(pk__in=item_ids, finished_at__isnull=True).update(error=reason[:200], finished_at=timezone.now())
    _finish_if_done(bulk.pk)


def _finish_if_done(bulk_id: int) -> None:
    unfinished = BulkVerificationItem.objects.filter(bulk=OuterRef("pk"), finished_at__isnull=True)
    BulkVerification.objects.filter(pk=bulk_id, finished_at__isnull=True).exclude(Exists(unfinished)).update(
        finished_at=timezone.now()
    )


@dataclass(frozen=True)
class BulkProgress:
    pk: int
    total: int
    done: int
    counts: BulkCounts
    in_background: bool
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def queued(self) -> int:
        return self.total - self.done

    @property
    def is_running(self) -> bool:
        return self.finished_at is None


def recent_progress(model: type[models.Model], *, limit: int = 5) -> list[BulkProgress]:
    """The latest runs over ``model`` that are unfinished or finished recently, in one query."""
    now = timezone.now()
    done = Q(items__finished_at__isnull=False)
    state = "items__verification__state"
    # Which of a run's items each of its BulkCounts counts.
    counted = {
        "verified": Q(**{state: VerificationState.VERIFIED}),
        "rejected": Q(**{state: VerificationState.REJECTED}),
        "unknown": Q(**{f"{state}__in": [VerificationState.UNKNOWN, VerificationState.PENDING]}),
        "skipped": done & Q(items__verification__isnull=True),
    }
    runs = (
        BulkVerification.objects.filter(source_model=model._meta.label_lower, created_at__gte=now - SHOWN_FOR)
        .filter(Q(finished_at__isnull=True) | Q(finished_at__gte=now - RECENTLY_FINISHED))
        .annotate(
            done=Count("items", filter=done),
            **{name: Count("items", filter=items) for name, items in counted.items()},
        )
        .order_by("-created_at", "-id")[:limit]
    )
    return [
        BulkProgress(
            pk=run.pk,
            total=run.total,
            done=run.done,
            counts=BulkCounts(**{name: getattr(run, name) for name in counted}),
            in_background=run.in_background,
            created_at=run.created_at,
            finished_at=run.finished_at,
        )
        for run in runs
    ]
