"""Who may call the API (``KCP_API["PERMISSION_CLASSES"]``) and which verifications they may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.module_loading import import_string
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from kcp_django.models import AccountVerification

__all__ = [
    "VIEW_PERMISSION",
    "configured_authenticators",
    "configured_permissions",
    "visible_verifications",
]


def configured_permissions(paths: tuple[str, ...]) -> list[BasePermission]:
    return [import_string(path)() for path in paths]


def configured_authenticators(paths: tuple[str, ...]) -> list[BaseAuthentication]:
    return [import_string(path)() for path in paths]


#: What lets staff read other people's verifications (the admin's own view permission).
VIEW_PERMISSION = "kcp_django.view_accountverification"


def visible_verifications(user: Any) -> QuerySet[AccountVerification]:
    """Staff with ``kcp_django.view_accountverification`` see every verification, a signed-in user
    their own, anyone else none. ``is_staff`` alone opens the admin's door, not other people's rows.

    Filtering (rather than checking the row afterwards) makes "not yours" and "does not exist" the
    same answer, found by the same query: a 404 tells nothing about other people's rows.
    """
    rows = AccountVerification.objects.all()
    if user is None or not user.is_authenticated:
        return rows.none()
    if user.is_staff and user.has_perm(VIEW_PERMISSION):
        return rows
    return rows.filter(requested_by_id=user.pk)
