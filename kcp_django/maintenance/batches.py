"""The one loop every batch job uses: rows in primary-key order, one transaction per batch; and what
the jobs over every field of a kind share (one run's row budget, and each field's report).

Each batch is read with ``SELECT ... FOR UPDATE`` (skipping rows another transaction holds, where the
database can), handed to the caller and committed before the next is read. A run that is stopped
loses at most its current batch, and the next run carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from django.db import connections, models, transaction

M = TypeVar("M", bound=models.Model)

logger = logging.getLogger("kcp_django")


def in_locked_batches(
    queryset: models.QuerySet[M],
    process: Callable[[list[M]], Any],
    *,
    batch_size: int,
    limit: int | None = None,
) -> int:
    """Call ``process(rows)`` for each batch of ``queryset`` inside that batch's transaction.

    ``queryset`` should select the rows still to do (and ``.only()`` the columns ``process`` needs),
    so that a run started again skips what an earlier run committed. At most ``limit`` rows are read
    (all by default). Returns how many rows were handed to ``process``.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    using = queryset.db
    features = connections[using].features
    seen = 0
    after_pk: Any = None
    while limit is None or seen < limit:
        size = batch_size if limit is None else min(batch_size, limit - seen)
        with transaction.atomic(using=using):
            batch = queryset if after_pk is None else queryset.filter(pk__gt=after_pk)
            batch = batch.order_by("pk")
            if features.has_select_for_update:
                batch = batch.select_for_update(skip_locked=features.has_select_for_update_skip_locked)
            rows = list(batch[:size])
            if not rows:
                break
            process(rows)
        seen += len(rows)
        after_pk = rows[-1].pk
    return seen


class RowBudget:
    """How many rows a run may still read, shared by the batch loops of one run (e.g. one per field):
    ``limit`` rows in all, or every row with ``None``."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.seen = 0

    def in_locked_batches(
        self, queryset: models.QuerySet[M], process: Callable[[list[M]], Any], *, batch_size: int
    ) -> int:
        """:func:`in_locked_batches` over what is left of the budget; returns how many rows it read."""
        if self.limit is not None and self.seen >= self.limit:
            return 0
        left = None if self.limit is None else self.limit - self.seen
        reached = in_locked_batches(queryset, process, batch_size=batch_size, limit=left)
        self.seen += reached
        return reached


@dataclass
class FieldRun:
    """One column's part of a run over every field of a kind (re-encryption, re-indexing): its label
    (``app_label.Model.field``) and the rows left as they were, as ``(row id, why)``."""

    label: str
    failed: list[tuple[Any, str]] = field(default_factory=list)
    #: What a failed row could not be, as the summary says it.
    failure: ClassVar[str] = "could not be done"

    def summary(self) -> str:
        """``label: counts``, and how many rows failed."""
        line = f"{self.label}: {self.counts()}"
        if self.failed:
            line += f" ({len(self.failed)} {self.failure})"
        return line

    def counts(self) -> str:
        """What the run did to the field's rows, e.g. ``3 rotated, 0 left``."""
        raise NotImplementedError

    def fail(self, pk: Any, problem: str, job: str) -> None:
        """Leave row ``pk`` as it is: kept for the report and logged. ``problem`` never holds a value."""
        self.failed.append((pk, problem))
        logger.error("kcp_django: %s left %s row %s as it is: %s", job, self.label, pk, problem)


F = TypeVar("F", bound=FieldRun)


@dataclass(kw_only=True)
class FieldsReport(Generic[F]):
    """Every field's :class:`FieldRun` of one run."""

    fields: list[F] = field(default_factory=list)

    @property
    def failed(self) -> list[tuple[Any, str]]:
        """``(row id, message)``; each message names the model, the row and the field."""
        return [failure for one in self.fields for failure in one.failed]

    def failed_where(self) -> str:
        """Where the failures are, for a message: ``label ids 1, 2; label ids 7``."""
        return "; ".join(
            f"{one.label} ids {', '.join(str(pk) for pk, _ in one.failed)}" for one in self.fields if one.failed
        )

    def total(self, count: str) -> int:
        """The sum of each field's ``count`` (an int attribute, e.g. ``"rotated"``)."""
        return sum(getattr(one, count) for one in self.fields)
