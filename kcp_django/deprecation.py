"""Old import paths kept for one release: each warns once per name and hands over the new object.

A module that moved becomes a few lines::

    from kcp_django.deprecation import moved_names

    __getattr__ = moved_names(__name__, "kcp_django.verifications.service")

``docs/upgrading.md`` lists every old path and its new one.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["moved_names"]

REMOVED_IN = "0.3"


def moved_names(old: str, new: str, names: Iterable[str] | None = None) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``old``: ``old.X`` warns and returns ``new.X`` (only the given
    ``names`` when listed; any public name of ``new`` otherwise)."""
    allowed = frozenset(names) if names is not None else None

    def __getattr__(name: str) -> Any:
        if name.startswith("__") or (allowed is not None and name not in allowed):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        target = importlib.import_module(new)
        try:
            value = getattr(target, name)
        except AttributeError:
            raise AttributeError(f"module {old!r} has no attribute {name!r}") from None
        warnings.warn(
            f"{old}.{name} moved to {new}.{name}; the old path goes in kcp-django {REMOVED_IN} (docs/upgrading.md).",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__
