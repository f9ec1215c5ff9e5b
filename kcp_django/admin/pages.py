"""kcp-django's own admin pages (a form, a confirmation, resolving a refund, the full number): one
way to render them inside the admin's frame (``admin/kcp_django/page.html``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.template.response import TemplateResponse

if TYPE_CHECKING:
    from django import forms
    from django.contrib import admin
    from django_stubs_ext import StrOrPromise

__all__ = ["kcp_page"]


def kcp_page(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    template: str,
    *,
    title: StrOrPromise,
    page_class: str,
    crumb: StrOrPromise | None = None,
    subtitle: str | None = None,
    form: forms.BaseForm | None = None,
    media: bool = True,
    **context: Any,
) -> TemplateResponse:
    """``template`` (which extends ``page.html``) with what the admin's own pages are given.

    ``page_class`` goes into the body's class; the last breadcrumb reads ``crumb`` (the title by
    default). ``media`` adds the admin's scripts and styles, with those of ``form``.
    """
    request.current_app = model_admin.admin_site.name
    page: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": subtitle,
        "opts": model_admin.opts,
        "kcp_page_class": page_class,
        "kcp_crumb": title if crumb is None else crumb,
    }
    if form is not None:
        page["form"] = form
    if media:
        page["media"] = model_admin.media if form is None else model_admin.media + form.media
    return TemplateResponse(request, template, {**page, **context})
