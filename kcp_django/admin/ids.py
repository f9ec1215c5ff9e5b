"""Find a row in the admin by the id the API, ``--json`` and the logs print (its UUID, ``public_id``)."""

from __future__ import annotations

import uuid

from django.db.models import Q


def public_id_match(term: str) -> Q:
    """``Q(public_id=...)`` when ``term`` is a UUID (matched through the column's unique index), else a
    condition that matches nothing, to be OR-ed with a list's other exact searches."""
    try:
        return Q(public_id=uuid.UUID(term))
    except ValueError:
        return Q(pk__in=[])
