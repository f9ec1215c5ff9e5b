"""Bulk-run progress above the change list, refreshed by ``kcp_django/bulk_progress.js``.

The mixin's change list template adds the panel to Django's own change list. An admin that sets
its own ``change_list_template`` keeps it, and shows the panel by including
``admin/kcp_django/bulk_progress.html`` in its ``object-tools`` block.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from kcp_django.admin.base import AccountSourceAdmin
from kcp_django.admin.bulk import recent_progress


class BulkProgressAdmin(AccountSourceAdmin):
    change_list_template = "admin/kcp_django/change_list_with_bulk_progress.html"

    def get_urls(self) -> list[URLPattern]:
        progress = path(
            "kcp-bulk-progress/", self.admin_site.admin_view(self.kcp_bulk_progress_view), name=self._kcp_progress_name
        )
        return [progress, *super().get_urls()]

    @property
    def _kcp_progress_name(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_kcp_bulk_progress"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**self.kcp_progress_context(), **(extra_context or {})})

    def kcp_bulk_progress_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return TemplateResponse(request, "admin/kcp_django/bulk_progress.html", self.kcp_progress_context())

    def kcp_progress_context(self) -> dict[str, Any]:
        runs = recent_progress(self.model)
        url = reverse(f"admin:{self._kcp_progress_name}", current_app=self.admin_site.name)
        return {
            "kcp_bulk_runs": runs,
            "kcp_bulk_running": any(run.is_running for run in runs),
            "kcp_bulk_progress_url": url,
        }
