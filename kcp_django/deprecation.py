"""Old import paths kept for one release: each warns once per name and hands over the new object.

A module that moved becomes a few lines::

    from kcp_django.deprecation import moved_names

    __getattr__ = moved_names(__name__, "kcp_django.verifications.service")

``docs/upgrading.md`` lists every old path and its new one.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["moved_names", "renamed_names", "replaced_names"]

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


def renamed_names(module: str, renames: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for names that changed within ``module``: ``module.old`` warns and
    returns ``module.new`` (``renames`` maps old -> new)."""

    def __getattr__(name: str) -> Any:
        if name not in renames:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(
            f"{module}.{name} is now {module}.{renames[name]}; the old name goes in kcp-django {REMOVED_IN} "
            "(docs/upgrading.md).",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), renames[name])

    return __getattr__


def replaced_names(
    module: str, replaced: Mapping[str, tuple[str, Any]], fallback: Callable[[str], Any] | None = None
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for names whose replacement is not the same object under the same name:
    ``replaced`` maps each old name to (what to use now, the object handed over meanwhile); any other
    name goes to ``fallback`` (e.g. :func:`moved_names`)."""

    def __getattr__(name: str) -> Any:
        if name not in replaced:
            if fallback is None:
                raise AttributeError(f"module {module!r} has no attribute {name!r}")
            return fallback(name)
        replacement, value = replaced[name]
        warnings.warn(
            f"{module}.{name} is deprecated: use {replacement}; the old name goes in kcp-django {REMOVED_IN} "
            "(docs/upgrading.md).",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__
