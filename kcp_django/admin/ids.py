"""Finding rows in the admin: by the id the API, ``--json`` and the logs print (its UUID,
``public_id``), and by plain equality on the columns a list searches."""

from __future__ import annotations

import operator
import uuid
from functools import reduce
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib import admin

    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object


def public_id_match(term: str) -> Q:
    """``Q(public_id=...)`` when ``term`` is a UUID (matched through the column's unique index), else a
    condition that matches nothing, to be OR-ed with a list's other exact searches."""
    try:
        return Q(public_id=uuid.UUID(term))
    except ValueError:
        return Q(pk__in=[])


class ExactSearchAdmin(_ModelAdmin):
    """A list searched by plain equality on each of its ``search_fields`` (written ``"=name"``), the
    whole term as one value, and on the row's id when :attr:`kcp_search_public_id` is set.

    Django's own ``"="`` search is ``iexact``, which PostgreSQL cannot answer from an ordinary index.
    """

    kcp_search_public_id: bool = False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = [Q(**{name.removeprefix("="): term}) for name in self.search_fields]
        if self.kcp_search_public_id:
            matches.append(public_id_match(term))
        return queryset.filter(reduce(operator.or_, matches)), False
