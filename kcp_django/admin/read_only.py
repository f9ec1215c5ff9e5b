"""The admin of rows that kcp_django alone writes (refunds, notices, payments): viewed, never added,
changed or deleted by hand."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

__all__ = ["ReadOnlyAdmin"]


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows written by kcp_django only: viewed, never added, changed or deleted here."""

    # A count of the whole table on every page grows with the table; the filtered count is enough.
    show_full_result_count = False

    @property
    def media(self) -> forms.Media:
        return super().media + forms.Media(css={"all": ["kcp_django/admin.css"]})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
