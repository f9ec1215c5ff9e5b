"""Template tags of kcp-django's admin pages (``{% load kcp_django_admin %}``)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def kcp_column_heads(*labels: object) -> SafeString:
    """A table's header cells, one ``<th scope="col">`` per label, escaped:
    ``{% kcp_column_heads _("bank") _("account number") %}``."""
    return format_html_join("", '<th scope="col">{}</th>', ((label,) for label in labels))
