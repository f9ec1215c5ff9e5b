"""Who may call the API (``KCP_API["PERMISSION_CLASSES"]``) and which verifications they may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.module_loading import import_string
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from kcp_django.models import AccountVerification


def configured_permissions(paths: tuple[str, ...]) -> list[BasePermission]:
    return [import_string(path)() for path in paths]


def configured_authenticators(paths: tuple[str, ...]) -> list[BaseAuthentication]:
    return [import_string(path)() for path in paths]


def visible_verifications(user: Any) -> QuerySet[AccountVerification]:
    """Staff see every verification, a signed-in user only their own, anyone else none.

    Filtering (rather than checking the row afterwards) makes "not yours" and "does not exist" the
    same answer, found by the same query: a 404 tells nothing about other people's rows.
    """
    rows = AccountVerification.objects.all()
    if user is None or not user.is_authenticated:
        return rows.none()
    if user.is_staff:
        return rows
    return rows.filter(requested_by_id=user.pk)
