"""Crash reports of the API's requests hide what ``sensitive_variables`` marks, even with ``DEBUG``.

Django's filter (``DEFAULT_EXCEPTION_REPORTER_FILTER``) cleanses sensitive variables and POST
parameters only when ``DEBUG`` is off: a debug page would show a customer's account number and name
among the local variables. The API's requests get the project's filter with that switch always on,
through the request's ``exception_reporter_filter`` attribute (Django's per-request hook).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.module_loading import import_string


def protect_error_reports(request: HttpRequest) -> None:
    """Let every error report about ``request`` (debug page, admin e-mail, log) cleanse sensitive data."""
    request.exception_reporter_filter = _always_active_filter()


@cache
def _always_active_filter() -> Any:
    base = import_string(settings.DEFAULT_EXCEPTION_REPORTER_FILTER)

    class AlwaysActiveFilter(base):  # type: ignore[misc, valid-type]
        def is_active(self, request: HttpRequest | None) -> bool:
            return True

    return AlwaysActiveFilter()


@receiver(setting_changed)
def _forget_filter(*, setting: str, **kwargs: Any) -> None:
    if setting == "DEFAULT_EXCEPTION_REPORTER_FILTER":
        _always_active_filter.cache_clear()
