"""Crash reports of the API's requests hide what ``sensitive_variables`` marks, even with ``DEBUG``.

Django's filter (``DEFAULT_EXCEPTION_REPORTER_FILTER``) cleanses sensitive variables and POST
parameters only when ``DEBUG`` is off: a debug page would show a customer's account number and name
among the local variables. The API's requests get the project's filter with that switch always on,
through the request's ``exception_reporter_filter`` attribute (Django's per-request hook).

Django finds ``sensitive_variables`` by following each frame's callers (``f_back``). Python does not
keep the caller of a generator's frame once it stops running, so a crash under one (the ORM builds
every row it reads in a generator: a failing ``post_init`` hook, a broken converter) would show the
row's decrypted values. A frame whose callers end at a generator is therefore cleansed entirely.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from functools import cache
from types import FrameType
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

        def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: FrameType) -> Iterable[Any]:
            if callers_unknown(tb_frame):
                return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]
            variables: Iterable[Any] = super().get_traceback_frame_variables(request, tb_frame)
            return variables

    return AlwaysActiveFilter()


#: Frames whose caller Python forgets while they are suspended or finished.
_CALLER_LOST = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def callers_unknown(frame: FrameType) -> bool:
    """Whether the callers of ``frame`` end at a generator (or coroutine) before any
    ``sensitive_variables`` wrapper: whether a wrapper above it could be missed."""
    current: FrameType | None = frame
    last = frame
    while current is not None:
        if current.f_code.co_name == "sensitive_variables_wrapper":
            return False
        last = current
        current = current.f_back
    return bool(last.f_code.co_flags & _CALLER_LOST)


@receiver(setting_changed)
def _forget_filter(*, setting: str, **kwargs: Any) -> None:
    if setting == "DEFAULT_EXCEPTION_REPORTER_FILTER":
        _always_active_filter.cache_clear()
