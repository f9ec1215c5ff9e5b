"""Daily caps on verification attempts, enforced by the database so they hold across workers.

One :class:`~kcp_django.models.AttemptCounter` row per (scope, key, local day). Taking an attempt:

1. make sure each row exists, each with its own committed ``INSERT`` that ignores a duplicate
   (so no transaction ever waits on another's insert while holding a lock);
2. in one short transaction, ``UPDATE ... SET count = count + 1 WHERE count < limit`` on each row,
   always in the same scope order (so two requests can't deadlock); when one update matches no row
   that cap is reached and the transaction rolls back, leaving every counter as it was.

The conditional ``UPDATE`` re-reads the row under its lock on PostgreSQL and MariaDB/MySQL, and
SQLite runs one writer at a time, so no cap is ever passed, however many requests race.

Only attempts that reach KCP count: a request refused before anything was sent (the gateway is
misconfigured, its order number belongs to another account) gives its attempt back
(:func:`give_back`), so a broken server never uses up a customer's day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from kcp_django.models import AttemptCounter

KEY_MAX_LENGTH = 128


@dataclass(frozen=True)
class Cap:
    """At most ``limit`` attempts a day for ``key`` in ``scope``."""

    scope: str
    key: str
    limit: int


@dataclass(frozen=True)
class Taken:
    """One attempt counted against ``caps`` on ``day``: what :func:`give_back` returns."""

    caps: tuple[Cap, ...]
    day: dt.date


class CapReached(Exception):
    """A cap is used up for today. ``retry_after`` is the number of seconds until it resets."""

    def __init__(self, scope: str, retry_after: int) -> None:
        self.scope = scope
        self.retry_after = retry_after
        super().__init__(f"the {scope} cap is reached for today; it resets in {retry_after}s")


def caller_key(user_pk: object, client_ip: str | None) -> str:
    """Who asks: ``user:<pk>`` for a signed-in caller, ``ip:<address>`` (or ``ip:unknown``) for anyone else."""
    return f"user:{user_pk}" if user_pk is not None else f"ip:{client_ip or 'unknown'}"


def reference_key(caller: str, reference: str) -> str:
    """The ``reference`` cap's key: the reference as ``caller`` (:func:`caller_key`) uses it.

    A reference is scoped to whoever asks, so no one can spend another customer's attempts on a
    reference they guessed. Hashed, so every database compares it byte for byte (MySQL collations
    ignore case) and it fits :data:`KEY_MAX_LENGTH` whatever the reference's length.
    """
    return hashlib.sha256(f"{caller}|ref:{reference}".encode()).hexdigest()


def take_attempt(caps: Iterable[Cap], *, using: str = "default", now: dt.datetime | None = None) -> Taken:
    """Count one attempt against every cap, or none of them if any is reached (:class:`CapReached`).

    Call it outside any transaction: step 1 commits the counter rows at once.
    """
    ordered = sorted(caps, key=lambda cap: (cap.scope, cap.key))
    moment = now or timezone.now()
    if not ordered:
        return Taken((), timezone.localdate(moment))
    moment = now or timezone.now()
    day = timezone.localdate(moment)
    for cap in ordered:
        if len(cap.key) > KEY_MAX_LENGTH:
            raise ValueError(f"cap key for {cap.scope!r} is longer than {KEY_MAX_LENGTH} characters")
        AttemptCounter.objects.using(using).bulk_create(
            [AttemptCounter(scope=cap.scope, key=cap.key, day=day, count=0)], ignore_conflicts=True
        )
    with transaction.atomic(using=using):
        for cap in ordered:
            taken = (
                AttemptCounter.objects.using(using)
                .filter(scope=cap.scope, key=cap.key, day=day, count__lt=cap.limit)
                .update(count=F("count") + 1)
            )
            if not taken:
                raise CapReached(cap.scope, seconds_until_reset(moment))
    return Taken(tuple(ordered), day)


def give_back(taken: Taken, *, using: str = "default") -> None:
    """Uncount an attempt :func:`take_attempt` counted, when nothing was sent to KCP after all.

    Same order and one short transaction as taking it; a counter never goes below zero.
    """
    with transaction.atomic(using=using):
        for cap in taken.caps:
            AttemptCounter.objects.using(using).filter(scope=cap.scope, key=cap.key, day=taken.day, count__gt=0).update(
                count=F("count") - 1
            )


def attempts_today(scope: str, key: str, *, using: str = "default", now: dt.datetime | None = None) -> int:
    """How many attempts ``key`` has used in ``scope`` today."""
    day = timezone.localdate(now or timezone.now())
    row = AttemptCounter.objects.using(using).filter(scope=scope, key=key, day=day).first()
    return row.count if row else 0


def seconds_until_reset(now: dt.datetime) -> int:
    """Seconds from ``now`` to the next local midnight (``TIME_ZONE``), when the counters start over."""
    local = timezone.localtime(now)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=local.tzinfo)
    # In UTC: subtracting two times of one zone would ignore a daylight-saving change between them.
    return max(1, math.ceil((midnight.astimezone(dt.UTC) - now.astimezone(dt.UTC)).total_seconds()))


def prune(*, before: dt.date, using: str = "default") -> int:
    """Delete the counters of days before ``before``; returns how many rows went."""
    deleted, _ = AttemptCounter.objects.using(using).filter(day__lt=before).delete()
    return deleted
