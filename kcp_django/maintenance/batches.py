"""The one loop every batch job uses: rows in primary-key order, one transaction per batch.

Each batch is read with ``SELECT ... FOR UPDATE`` (skipping rows another transaction holds, where the
database can), handed to the caller and committed before the next is read. A run that is stopped
loses at most its current batch, and the next run carries on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import connections, models, transaction

M = TypeVar("M", bound=models.Model)


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
