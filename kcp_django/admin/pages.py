"""kcp-django's own admin pages (a form, a confirmation, resolving a refund, the full number), each
declared once as a :class:`KcpPage` and rendered inside the admin's frame (``admin/kcp_django/page.html``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.template.response import TemplateResponse

if TYPE_CHECKING:
    from django import forms
    from django.contrib import admin
    from django_stubs_ext import StrOrPromise

__all__ = ["KcpPage"]


@dataclass(frozen=True)
class KcpPage:
    """A page: its ``template`` (which extends ``page.html``), ``title``, and ``page_class`` for the
    body's class. The last breadcrumb reads ``crumb`` (the title by default). ``media`` gives the
    page the admin's scripts and styles, with those of its form."""

    template: str
    title: StrOrPromise
    page_class: str
    crumb: StrOrPromise | None = None
    media: bool = True

    def render(
        self,
        model_admin: admin.ModelAdmin[Any],
        request: HttpRequest,
        *,
        form: forms.BaseForm | None = None,
        subtitle: str | None = None,
        **context: Any,
    ) -> TemplateResponse:
        """The page for ``model_admin``'s model, with ``form`` and the page's own ``context``."""
        request.current_app = model_admin.admin_site.name
        page: dict[str, Any] = {
            **model_admin.admin_site.each_context(request),
            "title": self.title,
            "subtitle": subtitle,
            "opts": model_admin.opts,
            "kcp_page_class": self.page_class,
            "kcp_crumb": self.crumb or self.title,
        }
        if form is not None:
            page["form"] = form
        if self.media:
            page["media"] = model_admin.media if form is None else model_admin.media + form.media
        return TemplateResponse(request, self.template, {**page, **context})
