"""``Idempotency-Key``: the first answer given to a key is stored and replayed, never recomputed.

Claim, then fill:

1. the first request for a (user, key) inserts the row (a unique constraint lets exactly one
   insert win, on every database) and commits it at once, with the ``ordr_idxx`` it will use;
2. the winner does the work and stores its answer in the row (only while it still holds the claim);
3. a repeat with the same body replays the stored answer; while the winner is still working it
   polls for up to ``wait`` seconds, then gives up with :class:`KeyInProgress`; a repeat with
   another body gets :class:`KeyReused`.

A claim left unanswered for ``lease`` seconds (its worker died) may be taken over. The taker uses
the claim's ``ordr_idxx``, so the service answers it from the verification already stored rather
than calling KCP a second time. Rows expire after ``ttl``; :func:`prune` deletes them.

Only a fingerprint of the body is kept: an HMAC under ``KCP_INDEX_KEY``, because the body holds an
account number and a name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from kcp_django import conf
from kcp_django.models import IdempotencyKey

#: The request header, and the longest key the verification endpoint takes (printable ASCII, no spaces).
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255

POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class Claim:
    """This request owns the key: do the work with ``ordr_idxx``, then :func:`fill` or :func:`release`."""

    pk: int
    token: uuid.UUID
    ordr_idxx: str


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: Any
    location: str


class KeyReused(Exception):
    """The key was first used with a different request body."""


class KeyInProgress(Exception):
    """The first request with this key has not been answered yet."""


def fingerprint(payload: Mapping[str, Any]) -> str:
    """A keyed hash of ``payload`` (key order and JSON spacing do not matter)."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hmac.new(conf.kcp_settings.INDEX_KEY, b"idempotency\x00" + canonical.encode(), hashlib.sha256).hexdigest()


def claim(
    *,
    user_pk: Any,
    key: str,
    body_fingerprint: str,
    ordr_idxx: str,
    ttl: float,
    wait: float,
    lease: float,
    using: str = "default",
) -> Claim | StoredAnswer:
    """Claim ``key`` for ``user_pk``, or return the answer already stored for it.

    Raises :class:`KeyReused` or :class:`KeyInProgress`. Call it outside any transaction, so the
    claim is visible to other requests at once.
    """
    keys = IdempotencyKey.objects.using(using)
    deadline = time.monotonic() + wait
    while True:
        now = timezone.now()
        keys.filter(user_id=user_pk, key=key, expires_at__lte=now).delete()
        try:
            with transaction.atomic(using=using):
                row = keys.create(
                    user_id=user_pk,
                    key=key,
                    fingerprint=body_fingerprint,
                    ordr_idxx=ordr_idxx,
                    claimed_at=now,
                    expires_at=now + dt.timedelta(seconds=ttl),
                )
            return Claim(row.pk, row.claim_token, row.ordr_idxx)
        except IntegrityError:
            pass  # another request holds the key: look at its row
        existing = keys.filter(user_id=user_pk, key=key).first()
        if existing is not None:
            if not hmac.compare_digest(existing.fingerprint, body_fingerprint):
                raise KeyReused(key)
            if existing.status_code is not None:
                return StoredAnswer(existing.status_code, existing.response_body, existing.location)
            if existing.claimed_at <= now - dt.timedelta(seconds=lease):
                taken = _take_over(existing, now, using)
                if taken is not None:
                    return taken
        if time.monotonic() >= deadline:
            raise KeyInProgress(key)
        time.sleep(POLL_INTERVAL)


def _take_over(row: IdempotencyKey, now: dt.datetime, using: str) -> Claim | None:
    token = uuid.uuid4()
    moved = (
        IdempotencyKey.objects.using(using)
        .filter(pk=row.pk, claim_token=row.claim_token, status_code__isnull=True)
        .update(claim_token=token, claimed_at=now)
    )
    return Claim(row.pk, token, row.ordr_idxx) if moved else None


def fill(claim: Claim, answer: StoredAnswer, *, using: str = "default") -> bool:
    """Store the answer for the claimed key; False if the claim was lost (taken over) meanwhile."""
    return bool(
        IdempotencyKey.objects.using(using)
        .filter(pk=claim.pk, claim_token=claim.token, status_code__isnull=True)
        .update(status_code=answer.status_code, response_body=answer.body, location=answer.location)
    )


def release(claim: Claim, *, using: str = "default") -> None:
    """Give the key up unanswered (the request was refused before any work), so it can be sent again."""
    IdempotencyKey.objects.using(using).filter(pk=claim.pk, claim_token=claim.token, status_code__isnull=True).delete()


def prune(*, now: dt.datetime | None = None, using: str = "default") -> int:
    """Delete expired keys; returns how many rows went."""
    deleted, _ = IdempotencyKey.objects.using(using).filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
