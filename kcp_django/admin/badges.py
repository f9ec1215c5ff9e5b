"""The coloured state labels of the admin's lists (styles in ``kcp_django/admin.css``)."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString


def state_badge(state: str, label: object, title: object = "") -> SafeString:
    """A coloured label for a verification state, its ``title`` shown on hover."""
    return format_html(
        '<span class="kcp-badge kcp-badge-{}" title="{}">{}</span>', state.lower(), title or label, label
    )
